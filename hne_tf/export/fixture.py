"""The decision fixture: what the Python anytime engine decided, for other engines to replay.

  python3 -m hne_tf.export.fixture --manifest=runs/hne_fashion_mnist_tflite/manifest.json --num_images=32

(in a checkout, also python3 -m export.fixture.)

The Android (Java) and browser (JS) engines implement the same stopping rules
as :mod:`hne_tf.export.anytime`. This command records, for the first ``num_images``
test images, every anytime step's leaf logits and measured latency, the
predicted step latencies the deadline rule uses, and for a set of rules the
number of steps the Python engine ran and the class it predicted. Another
engine replays the recorded logits and times and must take the same decisions.

The file (``decision_fixture.json`` beside the manifest by default)::

  {"format": "hne-tf-decision-fixture", "version": 1,
   "manifest": "<sha256 of the manifest.json traced>", "precision": "float32",
   "num_images": n, "num_steps": N, "num_classes": C,
   "labels": [n],                        # ground truth, for reference
   "sample_indices": [n],                # positions in the test split
   "predicted_ms": [N],                  # the deadline rule's per-step predictions
   "leaf_logits": [n][N][C],             # step s's leaf logits for image i
   "step_ms": [n][N],                    # measured latency of step s on image i
   "combine": "mean_logits" | "mean_probs",  # the manifest's ensemble.combine
   "running_mean": [n][N][C],            # the ensemble logits of the first k leaves (k = s + 1)
   "cases": [{"rule": "leaves" | "confidence" | "deadline", "value": v,
              "steps": [n], "prediction": [n], "elapsed_ms": [n]}, ...]}

Semantics an engine must follow to reproduce ``cases`` (those of
``hne_tf.export.anytime.StoppingRule.run_next`` and ``replay``):

* step 1 always runs; no step past ``N`` runs;
* the ensemble logits after ``k`` steps follow ``combine``: with
  ``"mean_logits"`` the sum of the first ``k`` leaf logits divided by ``k``;
  with ``"mean_probs"`` the log of the mean of their softmax probabilities
  (``log((exp(l_1) + ... + exp(l_k)) / k)``, ``l_i`` a leaf's log-softmax,
  summed as a running logsumexp); the probabilities are their softmax
  (``hne_tf.ensemble.RunningMean``). ``running_mean`` records them;
* ``leaves v``: run step ``k + 1`` while ``k < v``;
* ``confidence v``: run step ``k + 1`` while the max probability after ``k``
  steps is below ``v``;
* ``deadline v`` (ms): elapsed time after ``k`` steps is
  ``step_ms[0] + ... + step_ms[k - 1]``, summed in that order; run step
  ``k + 1`` while ``elapsed + predicted_ms[k] <= v``;
* ``prediction`` is the argmax of the ensemble after the last step run,
  ``elapsed_ms`` the elapsed time then.

The deadlines are chosen between the predicted cumulative costs, so that no
case sits on a tie.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hne_tf import osutil
from hne_tf.cli import run_app
from hne_tf.export import manifest as mf

FORMAT = "hne-tf-decision-fixture"
VERSION = 1
FIXTURE_FILE = "decision_fixture.json"


def default_rules(num_steps: int, predicted_ms: Sequence[float]) -> list[tuple]:
    """Leaves 1, 4 and N; confidence 0.5 and 0.9; three deadlines half-way
    between the predicted cumulative costs of 1|2, N/4|N/4+1 and N-1|N steps."""
    leaves = sorted({1, min(4, num_steps), num_steps})
    cum = np.cumsum(np.asarray(predicted_ms, np.float64))
    marks = sorted({1, max(1, num_steps // 4), max(1, num_steps - 1)})
    deadlines = []
    for k in marks:
        upper = cum[k] if k < num_steps else cum[-1] * 1.5
        deadlines.append(round(float((cum[k - 1] + upper) / 2), 6))
    rules = [("leaves", float(k)) for k in leaves] + [("confidence", 0.5), ("confidence", 0.9)]
    return rules + [("deadline", d) for d in sorted(set(deadlines)) if d > 0]


def build(manifest_path: str, num_images: int = 32, precision: str = "float32", threads: int = 1,
          data_dir: str | None = None) -> dict:
    """Traces the anytime file on the first ``num_images`` raw test images and replays the default rules."""
    from hne_tf.ensemble import prefix_ensembles
    from hne_tf.export.anytime import AnytimeEngine, StoppingRule, replay
    from hne_tf.export.samples import manifest_test_images

    engine = AnytimeEngine(manifest_path, precision, threads)
    pixels, labels = manifest_test_images(engine.manifest, num_images, data_dir)
    images = engine.preprocess(pixels)
    predicted = engine.calibrate(images[: min(len(images), 32)])
    trace = engine.trace(images)
    running = prefix_ensembles(trace["logits"], engine.rule)
    cases = []
    for kind, value in default_rules(engine.num_steps, predicted):
        rule = StoppingRule(kind, value)
        outcome = replay(trace, rule, predicted, engine.rule)
        cases.append({"rule": kind, "value": value, "steps": outcome["steps"].tolist(),
                      "prediction": outcome["prediction"].tolist(),
                      "elapsed_ms": [float(v) for v in outcome["elapsed_ms"]]})
    return {"format": FORMAT, "version": VERSION, "manifest": engine.manifest_sha256,
            "precision": precision, "num_images": int(len(images)), "num_steps": engine.num_steps,
            "num_classes": int(trace["logits"].shape[-1]), "combine": engine.rule,
            "labels": [int(v) for v in labels],
            "sample_indices": list(range(len(images))), "predicted_ms": [float(v) for v in predicted],
            "leaf_logits": trace["logits"].astype(float).tolist(),
            "step_ms": trace["step_ms"].astype(float).tolist(),
            "running_mean": running.astype(float).tolist(), "cases": cases}


def write(fixture: dict, path: str) -> None:
    osutil.write_json(path, fixture, indent=None)


def main(argv) -> None:
    from absl import flags

    from hne_tf.data import DataError
    from hne_tf.export.litert_adapter import UnsupportedLiteRT

    FLAGS = flags.FLAGS
    if FLAGS.num_images < 1:
        sys.exit(f"export.fixture: error: --num_images must be at least 1, got {FLAGS.num_images}")
    out = FLAGS.out or os.path.join(os.path.dirname(os.path.abspath(FLAGS.manifest)), FIXTURE_FILE)
    try:
        fixture = build(FLAGS.manifest, FLAGS.num_images, FLAGS.precision, FLAGS.threads, FLAGS.data_dir)
        write(fixture, out)
    except (mf.ManifestError, ValueError, DataError, OSError, UnsupportedLiteRT) as e:
        sys.exit(f"export.fixture: error: {e}")
    print(f"wrote {out}: {fixture['num_images']} images x {fixture['num_steps']} steps, "
          f"{len(fixture['cases'])} rules")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("manifest", "runs/hne_fashion_mnist_tflite/manifest.json", "An export's manifest.json.")
    flags.DEFINE_string("out", None, f"Output file (default: {FIXTURE_FILE} beside the manifest).")
    flags.DEFINE_integer("num_images", 32, "First N test images.")
    flags.DEFINE_string("precision", "float32", "Which anytime file: float32 | float16 | dynamic | int8.")
    flags.DEFINE_integer("threads", 1, "Interpreter threads.")
    flags.DEFINE_string("data_dir", None, "Data location (default: the data set's default).")


def cli() -> None:
    """The ``python3 -m hne_tf.export.fixture`` command."""
    run_app(main, _define_flags, __doc__, "export.fixture")


if __name__ == "__main__":
    cli()
