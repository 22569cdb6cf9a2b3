"""Train and evaluate a tree ensemble.

With no flags: a small HNE (hne_resnet_mini, 16 leaves) trained for three
epochs (lr 0.2, no augmentation) on Fashion-MNIST from the offline IDX files, evaluated for every
ensemble size. Rerunning the same command resumes from --model_dir.

  hne-train --model=hne_resnet_small --loss=hierarchical_distillation \
      --dataset=fashion_mnist --epochs=1 --steps_per_epoch=20 --model_dir=/tmp/r

(or python3 -m hne_tf.cli.train; in a checkout, python3 train.py.)
"""

import dataclasses
import json
import os
import sys
import types
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags

from hne_tf.cli import run_app
from hne_tf.quiet import StderrFilter

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defines every flag; the loss flags come from the loss registry, which imports TensorFlow."""
    from hne_tf import datasets
    from hne_tf import losses as losses_lib
    from hne_tf.training import SCHEDULES, STRATEGIES, TrainConfig

    _define_config_flags(TrainConfig, {"loss": losses_lib.describe(), "dataset": datasets.describe(),
                                       "schedule": " | ".join(SCHEDULES), "strategy": " | ".join(STRATEGIES)})
    from hne_tf import recipes as recipes_lib  # named paper-scale settings

    flags.DEFINE_string("recipe", None, "A paper's setting by name: every flag it sets applies unless given "
                        "explicitly (default --model_dir: runs/NAME); 'list' prints each recipe with the paper's "
                        "figure. Recipes:\n"
                        + "\n".join(f"{r.name}: {r.summary}" for r in recipes_lib.RECIPES.values()))
    _define_loss_flags(losses_lib)


# The help of each flag that sets the TrainConfig field of its name; the field gives its type and default.
# loss_options has no flag of its own: one flag per loss hyperparameter (_define_loss_flags) fills it.
_CONFIG_HELP = {
    "model": "Preset name; see the README's table or hne_tf.list_models().",
    "loss": "Training objective, one of:\n",  # + the loss registry's list
    "dataset": "Data set, one of:\n",  # + the data set registry's list
    "data_dir": "Where the data is: the Fashion-MNIST IDX folder, a TFDS data dir (cifar10, cifar100, imagenet2012 "
                "and its manual dir, tfds:NAME), or the folder of --dataset=folder.",
    "model_dir": "Checkpoints, TensorBoard logs, config.json, eval.json.",
    "epochs": "Training epochs.",
    "steps_per_epoch": "Steps per epoch (default: one pass over the training split).",
    "batch_size": "Global training batch size (split across replicas).",
    "augmentation": "standard (the data set's crop + flip) | flip (horizontal flip only) | none.",
    "eval_batch_size": "Evaluation batch size.",
    "eval_examples": "Evaluate on the first N test examples only (default: all).",
    "lr": "Initial learning rate (SGD).",
    "momentum": "SGD momentum.",
    "nesterov": "Nesterov momentum (ONE used it).",
    "schedule": "Learning-rate schedule: ",  # + the schedules' names
    "weight_decay": "L2 coefficient (PyTorch-style, added to the gradient).",
    "rampup_epochs": "Sigmoid ramp-up of the distillation weight over N epochs (ONE: 80).",
    "strategy": "tf.distribute strategy: ",  # + the strategies' names
    "tpu": "TPU address for --strategy=tpu.",
    "mixed_precision": "off | float16 (mixed_float16, with loss scaling) | bfloat16 (mixed_bfloat16); variables, "
                       "batch-norm statistics, logits and the loss stay float32.",
    "seed": "Random seed.",
    "model_options": 'Preset options as JSON, e.g. \'{"branching": [1, 1, 1, 16, 1]}\'.',
    "eval_only": "Evaluate the latest checkpoint in --model_dir without training.",
    "validation_examples": "Hold out the last N training examples as a validation split, evaluated after every "
                           "epoch (history.json; eval.json's validation_curve) and at the end; 0: none.",
    "image_size": "Input height and width in pixels; every image is resized to it (folder, tfds:NAME, npz: "
                  "default 32, or the data's own size where every image has it; synthetic; imagenet2012's crop).",
    "channels": "folder, tfds:NAME, npz: 1 (grayscale) or 3 (RGB); default: the data's own, else 1 when every "
                "training image is grayscale (R = G = B) and 3 otherwise.",
    "resize": "folder, tfds:NAME, npz: how an image becomes --image_size: stretch (each side scaled, the default) "
              "| center_crop (the shorter side scaled, the centre kept: the aspect ratio is preserved).",
    "validation_split": "folder, tfds:NAME: hold out this fraction of each class as the evaluation (test) split, "
                        "where the data has no val/ or test/ split of its own.",
    "cache": "folder, tfds:NAME, npz: keep the decoded, resized images: auto (in memory when a split's pixels fit "
             "in 1 GiB, the default) | memory | none (read the files every epoch) | a folder for cache files.",
}
_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}


def _define_config_flags(config_class, registry_help: dict[str, str]) -> None:
    """One flag per field of ``config_class`` (TrainConfig) but loss_options, with the field's type and default.

    A dict field is a JSON flag. A field without help in _CONFIG_HELP fails here (KeyError), so a new
    TrainConfig field cannot go without its flag. ``registry_help`` adds a registry's list to a
    flag's help (the losses to --loss, the data sets to --dataset).
    """
    hints = typing.get_type_hints(config_class)
    default = config_class()
    for field in dataclasses.fields(config_class):
        if field.name == "loss_options":
            continue
        kind = hints[field.name]
        if isinstance(kind, types.UnionType):  # "int | None": an optional flag of that type
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        kind = typing.get_origin(kind) or kind  # dict[str, object] -> dict
        value, text = getattr(default, field.name), _CONFIG_HELP[field.name] + registry_help.get(field.name, "")
        if kind is dict:
            flags.DEFINE_string(field.name, json.dumps(value), text)
        else:
            _DEFINE[kind](field.name, value, text)


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
    # One TrainConfig field per flag of the same name; the loss hyperparameters (one flag each) go
    # into loss_options, and --model_options is JSON.
    given = {"loss_options": {name: FLAGS[name].value for name in losses_lib.hyperparameters()
                              if FLAGS[name].value is not None},
             "model_options": options}
    fields = {f.name: given[f.name] if f.name in given else FLAGS[f.name].value
              for f in dataclasses.fields(TrainConfig)}
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


def cli() -> None:
    """The ``hne-train`` command (and ``python3 train.py`` in a checkout)."""
    # TensorFlow prints its start-up noise while it is imported (the loss registry imports it):
    # filter stderr before that.
    noise_filter = StderrFilter().start()
    try:
        run_app(main, _define_flags, __doc__, "train.py")
    finally:
        noise_filter.stop()


if __name__ == "__main__":
    cli()
