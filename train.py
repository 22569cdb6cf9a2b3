"""Train and evaluate a tree ensemble.

With no flags: a small HNE (hne_resnet_mini, 16 leaves) trained for two
epochs on Fashion-MNIST from the offline IDX files, evaluated for every
ensemble size. Rerunning the same command resumes from --model_dir.

  python train.py --model=hne_resnet_small --loss=hierarchical_distillation \
      --dataset=fashion_mnist --epochs=1 --steps_per_epoch=20 --model_dir=/tmp/r
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from hne_tf import losses as losses_lib  # noqa: E402  (the loss registry: --loss and its flags)

FLAGS = flags.FLAGS

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


def _show(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _define_loss_flags():
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


_define_loss_flags()


def main(argv):
    if len(argv) > 1:
        sys.exit(f"train.py: error: unexpected arguments {argv[1:]}; flags look like --name=value")
    import keras

    from hne_tf import data as data_lib
    from hne_tf.training import TrainConfig, TrainingError, run

    if os.environ.get("HNE_TF_TRACEBACK"):  # debugging aid: full tracebacks
        keras.config.disable_traceback_filtering()

    try:
        options = json.loads(FLAGS.model_options)
        if not isinstance(options, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        sys.exit(f"train.py: error: --model_options must be a JSON object: {e}")
    config = TrainConfig(
        model=FLAGS.model, loss=FLAGS.loss, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
        model_dir=FLAGS.model_dir, epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch,
        batch_size=FLAGS.batch_size, eval_batch_size=FLAGS.eval_batch_size, eval_examples=FLAGS.eval_examples,
        lr=FLAGS.lr, momentum=FLAGS.momentum, nesterov=FLAGS.nesterov, schedule=FLAGS.schedule,
        weight_decay=FLAGS.weight_decay, rampup_epochs=FLAGS.rampup_epochs, strategy=FLAGS.strategy,
        loss_options={name: FLAGS[name].value for name in losses_lib.hyperparameters()
                      if FLAGS[name].value is not None},
        tpu=FLAGS.tpu, mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed, model_options=options,
        eval_only=FLAGS.eval_only)
    try:
        run(config)
    except (TrainingError, data_lib.DataError, ValueError) as e:
        if os.environ.get("HNE_TF_TRACEBACK"):
            raise
        sys.exit(f"train.py: error: {e}")


if __name__ == "__main__":
    app.run(main)
