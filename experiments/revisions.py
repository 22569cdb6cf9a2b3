"""The code the studies train with.

Every run of a study trains at its pinned revision, :data:`STUDY_REVISION` (the
``oemc`` study: :data:`OEMC_REVISION`); the harness makes a git worktree of it
under ``.study/``, so that later changes to the library cannot mix into a study
half-way. A run trained at any other revision is refused,
unless :data:`TRAINING_EQUIVALENT` lists that revision with the reason it trains
exactly like the study's (for example: a commit that only touched the export).
"""

# train.py with --validation_examples, provenance.json and history.json, the scale-free diversity
# measures and the mean-of-probabilities ensemble in eval.json, and oneDNN asked for on every x86 CPU.
STUDY_REVISION = "098a58107c398998b9ae9e009be60b907b4a1f36"

TRAINING_EQUIVALENT: dict[str, str] = {
    STUDY_REVISION: "the converged study's revision",
}

# The OEMC study's code: STUDY_REVISION plus oemc_resnet's option student=s (a student trained truly alone),
# which the study's baselines need and STUDY_REVISION lacks. Only this study trains at it.
OEMC_REVISION = "9d358d82a21d1314eca393c21866448000f33786"
