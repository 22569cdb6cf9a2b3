"""The code the studies train with.

Every run of a study trains at :data:`STUDY_REVISION` (the harness makes a git
worktree of it under ``.study/``), so that later changes to the library cannot
mix into a study half-way. A run trained at any other revision is refused,
unless :data:`TRAINING_EQUIVALENT` lists that revision with the reason it trains
exactly like the study's (for example: a commit that only touched the export).
"""

# train.py with --validation_examples, provenance.json and history.json, the scale-free diversity
# measures and the mean-of-probabilities ensemble in eval.json, and oneDNN asked for on every x86 CPU.
STUDY_REVISION = "098a58107c398998b9ae9e009be60b907b4a1f36"

TRAINING_EQUIVALENT: dict[str, str] = {
    STUDY_REVISION: "the converged study's revision",
}
