"""Train and evaluate a tree ensemble.

With no flags: a small HNE (hne_resnet_mini, 16 leaves) trained for two
epochs on Fashion-MNIST from the offline IDX files, evaluated for every
ensemble size. Rerunning the same command resumes from --model_dir.

  python train.py --model=hne_resnet_small --loss=hierarchical_distillation \
      --dataset=fashion_mnist --epochs=1 --steps_per_epoch=20 --model_dir=/tmp/r
"""

import json
import os
import re
import sys
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

# What TensorFlow's C++ side prints that looks like a failure but is not one (issue 8 item 9):
# absl's notice before its logging is set up, CUDA probes on a machine without a GPU, graph
# attributes newer than the runtime's op registry, and build notes. TF_CPP_MIN_LOG_LEVEL cannot
# silence them: they are written before TensorFlow reads it, or as errors.
_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\)"
    r"|failed call to cuInit|cuda_diagnostics|Could not find cuda drivers|CUDA_ERROR_NO_DEVICE"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|NodeDef mentions attribute"
    r"|oneDNN custom operations are on|cpu_feature_guard|To enable the following instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags")
# A C++ INFO or WARNING line written before absl's logging is set up, which TF_CPP_MIN_LOG_LEVEL
# would have dropped ("I0000 00:00:1795364019.37 11889 port.cc:153] ..."; its date is zero, unlike
# the Python warnings absl prints, which stay).
_CPP_INFO = re.compile(r"^[IW]0000 00:00:[\d.]+\s+\d+ \S+:\d+\] ")


class _StderrFilter:
    """Drops TensorFlow's known noise from file descriptor 2; every other line passes unchanged.

    C++ code writes to the descriptor directly, so the filter sits below
    Python: fd 2 becomes a pipe, and a thread copies its lines to the real
    stderr. Off with TF_CPP_MIN_LOG_LEVEL=0 (show everything) or
    HNE_TF_TRACEBACK (debugging).
    """

    def __init__(self) -> None:
        self.saved = None

    def start(self) -> "_StderrFilter":
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0" or os.environ.get("HNE_TF_TRACEBACK"):
            return self
        sys.stderr.flush()
        self.saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.thread = threading.Thread(target=self._copy, args=(read,), daemon=True)
        self.thread.start()
        return self

    def _keep(self, line: bytes) -> bool:
        text = line.decode(errors="replace")
        drop_info = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") >= "1"
        return not (_NOISE.search(text) or (drop_info and _CPP_INFO.match(text)))

    def _copy(self, read) -> None:
        pending = b""
        while True:
            chunk = os.read(read, 65536)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            out = b"".join(line + b"\n" for line in lines if self._keep(line))
            if pending and not _NOISE.search(pending.decode(errors="replace")) and pending[:1] not in b"IWE":
                out, pending = out + pending, b""  # a prompt or a progress bar: pass it on now
            if out:
                os.write(self.saved, out)
        if pending and self._keep(pending):
            os.write(self.saved, pending)
        os.close(read)

    def stop(self) -> None:
        if self.saved is None:
            return
        sys.stderr.flush()
        os.dup2(self.saved, 2)  # closes the pipe's last write end: the thread reads EOF
        self.thread.join(timeout=5)
        os.close(self.saved)
        self.saved = None



FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defines every flag; the loss flags come from the loss registry, which imports TensorFlow."""
    from hne_tf import losses as losses_lib

    flags.DEFINE_string("model", "hne_resnet_mini", "Preset name; see the README's table or hne_tf.list_models().")
    flags.DEFINE_string("loss", "hierarchical_distillation", "Training objective, one of:\n" + losses_lib.describe())
    flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist | cifar10 | cifar100 | imagenet2012 | synthetic")
    flags.DEFINE_string("data_dir", None, "Fashion-MNIST IDX folder, or TFDS data dir (ImageNet: its manual dir).")
    flags.DEFINE_string("model_dir", "runs/hne_fashion_mnist", "Checkpoints, TensorBoard logs, config.json, eval.json.")
    flags.DEFINE_integer("epochs", 2, "Training epochs.")
    flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the training split).")
    flags.DEFINE_integer("batch_size", 128, "Global training batch size (split across replicas).")
    flags.DEFINE_integer("eval_batch_size", 256, "Evaluation batch size.")
    flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test examples only (default: all).")
    flags.DEFINE_float("lr", 0.1, "Initial learning rate (SGD).")
    flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
    flags.DEFINE_bool("nesterov", False, "Nesterov momentum (ONE used it).")
    flags.DEFINE_string("schedule", "cosine", "cosine | step | imagenet_halving | constant")
    flags.DEFINE_float("weight_decay", 5e-4, "L2 coefficient (PyTorch-style, added to the gradient).")
    flags.DEFINE_float("rampup_epochs", 0.0, "Sigmoid ramp-up of the distillation weight over N epochs (ONE: 80).")
    flags.DEFINE_string("strategy", "default", "default | mirrored | multi_worker | tpu")
    flags.DEFINE_string("tpu", "", "TPU address for --strategy=tpu.")
    flags.DEFINE_bool("mixed_precision", False, "Train with the mixed_float16 policy.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_string("model_options", "{}", 'Preset options as JSON, e.g. \'{"branching": [1, 1, 1, 16, 1]}\'.')
    flags.DEFINE_bool("eval_only", False, "Evaluate the latest checkpoint in --model_dir without training.")
    from hne_tf import recipes as recipes_lib  # named paper-scale settings

    flags.DEFINE_string("recipe", None, "A paper's setting by name: every flag it sets applies unless given "
                        "explicitly (default --model_dir: runs/NAME); 'list' prints each recipe with the paper's "
                        "figure. Recipes:\n"
                        + "\n".join(f"{r.name}: {r.summary}" for r in recipes_lib.RECIPES.values()))
    _define_loss_flags(losses_lib)


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _define_loss_flags(losses_lib) -> None:
    """One flag per loss hyperparameter of the registry; unset, each loss uses its own default."""
    for name, users in losses_lib.hyperparameters().items():
        first = next(iter(users.values()))
        if set(users) == set(losses_lib.LOSSES) and len({h.default for h in users.values()}) == 1:
            used = f"every loss ({_show(first.default)})"
        else:
            used = ", ".join(f"{loss} ({_show(h.default)})" for loss, h in users.items())
        text = f"Loss hyperparameter: {first.help}; {first.range_text()}. Used by (default): {used}."
        if first.choices:
            flags.DEFINE_enum(name, None, list(first.choices), text)
        else:
            flags.DEFINE_float(name, None, text)



def main(argv) -> None:
    if len(argv) > 1:
        sys.exit(f"train.py: error: unexpected arguments {argv[1:]}; flags look like --name=value")
    from hne_tf import recipes as recipes_lib

    if FLAGS.recipe == "list":
        print(recipes_lib.describe())
        return
    if FLAGS.recipe is not None and FLAGS.recipe not in recipes_lib.RECIPES:
        sys.exit(f"train.py: error: --recipe: unknown recipe {FLAGS.recipe!r}; valid: "
                 f"{', '.join(recipes_lib.RECIPES)}, or 'list'")
    from absl import logging

    if not FLAGS["verbosity"].present:  # TensorFlow's INFO lines ("Sharding callback duration") are noise
        logging.set_verbosity(logging.WARNING)
    import keras

    from hne_tf import data as data_lib
    from hne_tf import losses as losses_lib
    from hne_tf.training import Interrupted, TrainConfig, TrainingError, run

    if os.environ.get("HNE_TF_TRACEBACK"):  # debugging aid: full tracebacks
        keras.config.disable_traceback_filtering()

    try:
        options = json.loads(FLAGS.model_options)
        if not isinstance(options, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        sys.exit(f"train.py: error: --model_options must be a JSON object: {e}")
    fields = dict(
        model=FLAGS.model, loss=FLAGS.loss, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
        model_dir=FLAGS.model_dir, epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch,
        batch_size=FLAGS.batch_size, eval_batch_size=FLAGS.eval_batch_size, eval_examples=FLAGS.eval_examples,
        lr=FLAGS.lr, momentum=FLAGS.momentum, nesterov=FLAGS.nesterov, schedule=FLAGS.schedule,
        weight_decay=FLAGS.weight_decay, rampup_epochs=FLAGS.rampup_epochs, strategy=FLAGS.strategy,
        loss_options={name: FLAGS[name].value for name in losses_lib.hyperparameters()
                      if FLAGS[name].value is not None},
        tpu=FLAGS.tpu, mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed, model_options=options,
        eval_only=FLAGS.eval_only)
    if FLAGS.recipe:
        # The recipe's settings, then every flag given on the command line over them.
        explicit = {name: value for name, value in fields.items()
                    if name != "loss_options" and FLAGS[name].present}
        fields.update(recipes_lib.config_fields(FLAGS.recipe, **explicit, loss_options=fields["loss_options"]))
    config = TrainConfig(**fields)
    try:
        run(config, log=lambda text: print(text, flush=True))
    except Interrupted as e:
        print(f"train.py: {e}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print(f"train.py: interrupted (Ctrl-C); the checkpoints in {FLAGS.model_dir} are intact. Rerun the same "
              "command to resume", file=sys.stderr)
        sys.exit(130)
    except (TrainingError, data_lib.DataError, ValueError) as e:
        if os.environ.get("HNE_TF_TRACEBACK"):
            raise
        sys.exit(f"train.py: error: {e}")


if __name__ == "__main__":
    # TensorFlow prints its start-up noise while it is imported (the loss registry imports it):
    # filter stderr before that.
    _noise_filter = _StderrFilter().start()
    try:
        _define_flags()
        app.run(main)
    finally:
        _noise_filter.stop()
