"""Export a trained run to TFLite: one model per prefix, the anytime file, a manifest.

  hne-export --model_dir=runs/hne_fashion_mnist --out_dir=runs/hne_fashion_mnist_tflite

(or python3 -m hne_tf.export; in a checkout, python3 -m export.)

Writes, for every precision in --precisions:
  prefix_kNN_<precision>.tflite   the first NN leaves; output "logits" [batch, NN, classes]
  member_NN_<precision>.tflite    leaf NN alone (--members; default: every OEMC student)
  anytime_<precision>.tflite      one signature per leaf step (step01..stepN)
  teacher_<precision>.tflite      the family's own teacher, where the model has one (ONE's gated
                                  teacher, "ONE-E": every leaf and the gate); output "logits" [batch, classes]
  batched_kNN_bB_<precision>.tflite  with --batch_sizes: the full ensemble (k = N) at a static batch of B,
                                  for hosts that score many images; the apps run the batch-1 files
and manifest.json (README, "The manifest"). Every float32 graph is checked
against Keras; the export exits non-zero, writing nothing to --out_dir, when a
check fails, when --out_dir changed under it in a way it may not replace, or
(without --allow_training) while a train.py is still training the run.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging

from hne_tf.cli import run_app
from hne_tf.export import precisions as precision_registry

FLAGS = flags.FLAGS


def _int_list(flag: str, value: str, special: dict) -> list[int] | str | None:
    if value in special:
        return special[value]
    try:
        values = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:  # an empty list is not "the default"
        sys.exit(f"export: error: --{flag} must be a comma list of integers or one of "
                 f"{', '.join(special)}, got {value!r}")
    return values


def _define_flags() -> None:
    flags.DEFINE_string("model_dir", "runs/hne_fashion_mnist", "A train.py --model_dir (config.json + checkpoints/).")
    flags.DEFINE_string("out_dir", None, "Where to write the .tflite files and manifest.json "
                        "(default: <model_dir>_tflite).")
    flags.DEFINE_string("prefixes", "default", "Ensemble sizes k to export as standalone models, e.g. 1,2,4,16; "
                        "'default' = 1, 2, 4, ..., N; 'all' = 1..N.")
    flags.DEFINE_string("precisions", ",".join(precision_registry.REGISTRY), precision_registry.cli_help())
    flags.DEFINE_string("members", "default", "Leaves (0-based) to export alone, e.g. 0,3; 'default' = every OEMC "
                        "student, none for other families (prefix k=1 already is leaf 0 alone); 'none'.")
    flags.DEFINE_string("batch_sizes", "none", "Also write the full ensemble (k = N) at these static batch sizes, "
                        "e.g. 16,64, in every precision, as batched_kNN_bB_<precision>.tflite (kind 'batched'), for "
                        "hosts that score many images at once; 'none' (default): only the batch-1 files, which "
                        "are what the apps run. Each is checked against Keras and timed per image against batch 1.")
    flags.DEFINE_bool("anytime", True, "Export the anytime file (one signature per leaf step).")
    flags.DEFINE_bool("teacher", True, "Export the family's own teacher (ONE's gated teacher: every leaf and the gate) "
                      "as teacher_<precision>.tflite, for models that have one; no effect on others.")
    flags.DEFINE_integer("eval_examples", None, "Measure accuracy on the first N test examples (default: all).")
    flags.DEFINE_integer("calibration_images", 256, "Training images (at most; all of a smaller training split) for "
                         "the calibrated precisions ("
                         + ", ".join(p.name for p in precision_registry.REGISTRY.values() if p.calibrated) + ").")
    flags.DEFINE_integer("parity_examples", 256, "Test images on which float32 TFLite is compared with Keras.")
    flags.DEFINE_float("parity_tolerance", 1e-5, "Largest allowed |TFLite - Keras| logit difference (float32), "
                       "relative to the logits' scale: tolerance x max(1, max |Keras logit|).")
    flags.DEFINE_float("max_anytime_size_ratio", 1.05, "Bound on anytime file size / full float32 model size.")
    flags.DEFINE_integer("latency_threads", 2, "Threads for the latency recorded in the manifest.")
    flags.DEFINE_integer("latency_runs", 50, "Timed rounds for the latencies (every file once per round, "
                         "interleaved; median and IQR, after 5 warm-up rounds).")
    flags.DEFINE_string("data_dir", None, "Data location (default: the run's --data_dir).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --out_dir (only an export, and only once the new "
                      "export passed its checks; checked again when it is published).")
    flags.DEFINE_bool("allow_training", False, "Export even while a train.py is training --model_dir (its "
                      "lock is held): the newest checkpoint that restores at that moment is exported, and the "
                      "manifest names it. Without this flag such an export is refused.")


def main(argv: list[str]) -> None:
    out_dir = FLAGS.out_dir or FLAGS.model_dir.rstrip("/") + "_tflite"
    prefixes = _int_list("prefixes", FLAGS.prefixes, {"default": None, "all": "all"})
    members = _int_list("members", FLAGS.members, {"default": None, "none": []})
    batch_sizes = _int_list("batch_sizes", FLAGS.batch_sizes, {"none": []})
    if any(b < 2 for b in batch_sizes):
        sys.exit("export: error: --batch_sizes must be at least 2 (batch 1 is always written), "
                 f"got {FLAGS.batch_sizes}")
    precisions = [p.strip() for p in FLAGS.precisions.split(",") if p.strip()]

    from hne_tf.export import publish

    try:  # before TensorFlow starts: a dangerous --out_dir or an unknown precision is refused at once
        publish.recover(out_dir, print)
        publish.check_out_dir(out_dir, FLAGS.model_dir, FLAGS.overwrite)
        precision_registry.check_names(precisions)
    except (publish.PublishError, ValueError) as e:
        sys.exit(f"export: error: {e}")
    from hne_tf.quiet import quiet_native_stderr

    with quiet_native_stderr():  # TensorFlow's start-up lines on a machine without a GPU
        import tensorflow as tf

        tf.config.list_logical_devices()
    from hne_tf.export.exporter import ExportConfig, ExportError, run_export

    # The converter saves a temporary SavedModel per file and absl would log
    # every step of it at INFO.
    logging.set_verbosity(logging.WARNING)
    config = ExportConfig(
        model_dir=FLAGS.model_dir, out_dir=out_dir, prefixes=prefixes, precisions=precisions, members=members,
        batch_sizes=batch_sizes, anytime=FLAGS.anytime, teacher=FLAGS.teacher, eval_examples=FLAGS.eval_examples,
        calibration_images=FLAGS.calibration_images,
        parity_examples=FLAGS.parity_examples, parity_tolerance=FLAGS.parity_tolerance,
        max_anytime_size_ratio=FLAGS.max_anytime_size_ratio, latency_threads=FLAGS.latency_threads,
        latency_runs=FLAGS.latency_runs, data_dir=FLAGS.data_dir, overwrite=FLAGS.overwrite,
        allow_training=FLAGS.allow_training)
    try:
        run_export(config)
    except ExportError as e:
        if os.environ.get("HNE_TF_TRACEBACK"):
            raise
        sys.exit(f"export: error: {e}")


def cli() -> None:
    """The ``hne-export`` command (also ``python -m hne_tf.export``; ``python3 -m export`` in a checkout)."""
    run_app(main, _define_flags, __doc__, "export")


if __name__ == "__main__":
    cli()
