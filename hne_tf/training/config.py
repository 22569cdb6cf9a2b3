"""What a run is: :class:`TrainConfig` (the ``train.py`` flags), the checks of its values
before anything is written (:func:`validate`), and the check that a resumed run is the same run."""

from __future__ import annotations

import dataclasses
import json
import os

from hne_tf import checks, datasets
from hne_tf import losses as losses_lib
from hne_tf import precision as precision_lib
from hne_tf.osutil import os_reason
from hne_tf.presets import list_models
from hne_tf.training.distribute import STRATEGIES
from hne_tf.training.errors import TrainingError
from hne_tf.training.schedules import SCHEDULES


@dataclasses.dataclass
class TrainConfig:
    model: str = "hne_resnet_mini"
    loss: str = "hierarchical_distillation"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    model_dir: str = "runs/hne_fashion_mnist"
    epochs: int = 3
    steps_per_epoch: int | None = None
    batch_size: int = 128
    # The defaults are the main job's (README): 3 epochs at lr 0.2 without augmentation reached
    # 90.6-90.9% at k = 16 and 89.2-89.4% at k = 1 (2 seeds); the paper recipes set their own.
    augmentation: str = "none"
    eval_batch_size: int = 256
    eval_examples: int | None = None
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "cosine"
    weight_decay: float = 5e-4
    # Loss hyperparameters given on the command line (alpha, temperature, label_smoothing, ...);
    # the others take the loss's defaults (hne_tf.losses.LOSSES[loss].hparams).
    loss_options: dict[str, object] = dataclasses.field(default_factory=dict)
    rampup_epochs: float = 0.0
    strategy: str = "default"
    tpu: str = ""
    mixed_precision: str = "off"
    seed: int = 0
    model_options: dict[str, object] = dataclasses.field(default_factory=dict)
    eval_only: bool = False
    # Held out of the training split (its last N examples) and evaluated after every epoch.
    validation_examples: int = 0
    # Data set options (hne_tf.datasets.OPTIONS; folder:PATH and tfds:NAME take them all); None: not given.
    image_size: int | None = None
    channels: int | None = None
    resize: str | None = None
    validation_split: float | None = None
    cache: str | None = None

    # Changing these in an existing --model_dir would not resume the same run.
    IDENTITY = ("model", "loss", "dataset", "model_options")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def dataset_options(self) -> dict[str, object]:
        """The data set options given (:data:`hne_tf.datasets.OPTIONS`), for :func:`hne_tf.datasets.get`."""
        return {k: getattr(self, k) for k in datasets.OPTIONS if getattr(self, k) is not None}


def _check_range(flag: str, value, low=None, high=None, *, low_open=False, high_open=False,
                 integer=False) -> None:
    """Raises TrainingError unless ``value`` is a finite number in the range, naming ``--flag`` and the range."""
    rule = (checks.integer(low, high) if integer
            else checks.number(low, high, low_open=low_open, high_open=high_open))
    try:
        rule.check(f"--{flag}", value)
    except ValueError as e:
        raise TrainingError(str(e)) from None


def validate(config: TrainConfig, dataset: bool = True) -> None:
    """Flag checks that need no data and no model: fail before writing anything.

    ``dataset=False`` skips the check of ``--dataset`` (a task of one's own brings its data).

    Every count is >= 1 (a count of 0 never means "all": leave the flag unset
    for that), every rate or coefficient finite and in its range.
    """
    def choice(flag, value, valid) -> None:
        if value not in valid:
            raise TrainingError(f"unknown --{flag}={value!r}; valid choices: {', '.join(valid)}")
    choice("model", config.model, list_models())
    choice("loss", config.loss, list(losses_lib.LOSSES))
    if dataset:  # the name, its argument and options; no data is read
        try:
            datasets.get(config.dataset, data_dir=config.data_dir, **config.dataset_options())
        except ValueError as e:
            raise TrainingError(str(e).replace("unknown dataset", "unknown --dataset", 1)) from None
    choice("augmentation", config.augmentation, list(datasets.AUGMENTATIONS))
    choice("mixed_precision", config.mixed_precision, list(precision_lib.MODES))
    choice("schedule", config.schedule, list(SCHEDULES))
    choice("strategy", config.strategy, list(STRATEGIES))
    for flag in ("epochs", "batch_size", "eval_batch_size"):
        _check_range(flag, getattr(config, flag), 1, integer=True)
    for flag in ("steps_per_epoch", "eval_examples"):  # unset means "one pass" / "all"
        if getattr(config, flag) is not None:
            _check_range(flag, getattr(config, flag), 1, integer=True)
    _check_range("lr", config.lr, 0, low_open=True)
    _check_range("momentum", config.momentum, 0, 1, high_open=True)
    _check_range("weight_decay", config.weight_decay, 0)
    try:  # the loss's hyperparameters: known names, in range
        losses_lib.check_hparams(config.loss, config.loss_options)
    except losses_lib.UnknownHParam as e:
        raise TrainingError(f"--{e.name} does not apply to --loss={config.loss}; its hyperparameters: "
                            f"{', '.join(losses_lib.LOSSES[config.loss].defaults)}") from None
    except ValueError as e:
        bad = next((h for h in losses_lib.LOSSES[config.loss].defaults if f"hyperparameter {h} " in str(e)), None)
        raise TrainingError(f"--{bad}: {e}" if bad else str(e)) from None
    _check_range("rampup_epochs", config.rampup_epochs, 0)
    _check_range("seed", config.seed, 0, 2 ** 32 - 1, integer=True)
    _check_range("validation_examples", config.validation_examples, 0, integer=True)
    if not config.model_dir:
        raise TrainingError("--model_dir must not be empty")
    _check_model_dir(config.model_dir)


def _check_model_dir(model_dir: str) -> None:
    """A --model_dir that cannot hold a run fails here, before anything is written."""
    path = os.path.abspath(model_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise TrainingError(f"--model_dir {model_dir} is a file, not a folder; pass a folder path")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise TrainingError(f"--model_dir {model_dir}: {existing} is a file, not a folder")
    # access() also reports a read-only file system and (for root) an immutable folder.
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "--model_dir" if existing == path else f"--model_dir {model_dir}: its parent"
        raise TrainingError(f"{what} {existing} is not writable; pass a folder you can write to")


# Flags that a resumed run must keep, with what to do about a change.
RESUME_FLAGS = {"mixed_precision": "its optimizer state (loss scaling) differs",
                "validation_examples": "the examples it trained on would change",
                "validation_split": "the examples it trained on would change"}
# Values that runs written by earlier versions saved, as today's: --mixed_precision was a boolean.
_LEGACY_VALUES = {"mixed_precision": {True: "float16", False: "off"}}


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)


def check_resume(config: TrainConfig, path: str) -> dict:
    """Raises TrainingError unless ``config`` may resume the run whose config.json is ``path``; returns
    that config.json as parsed."""
    try:
        with open(path) as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TrainingError(f"{path} is not valid JSON ({e}); restore it (it holds the run's flags), "
                            "or use a new --model_dir") from None
    except OSError as e:
        raise TrainingError(f"cannot read {path}: {os_reason(e)}") from None
    if not isinstance(saved, dict) or not all(k in saved for k in TrainConfig.IDENTITY):
        raise TrainingError(f"{path} is not a train.py config (a JSON object with "
                            f"{', '.join(TrainConfig.IDENTITY)}); restore it, or use a new --model_dir")
    for key in TrainConfig.IDENTITY:
        if saved[key] != json.loads(json.dumps(getattr(config, key))):
            raise TrainingError(
                f"--model_dir holds a run with {key}={saved[key]!r}, but this command asks for "
                f"{getattr(config, key)!r}; use a new --model_dir or the same flags to resume")
    for key, why in RESUME_FLAGS.items():
        if key in saved and isinstance(saved[key], bool):
            saved[key] = _LEGACY_VALUES.get(key, {}).get(saved[key], saved[key])
        if key in saved and saved[key] != getattr(config, key):
            raise TrainingError(
                f"--model_dir holds a run trained with --{key}={_flag_value(saved[key])}, but this command "
                f"has --{key}={_flag_value(getattr(config, key))} ({why}). Rerun with "
                f"--{key}={_flag_value(saved[key])} to resume it, or use a new --model_dir")
    return saved


# Settings whose change on resume says nothing about the run's training (where it reads and writes, how
# much it evaluates, how it runs), so changed_settings does not report them.
_NOT_TRAINING = ("model_dir", "eval_only", "eval_batch_size", "eval_examples", "strategy", "tpu", "cache")


def changed_settings(saved: dict, config: TrainConfig) -> list[str]:
    """The training settings ``config`` changes against a run's saved config.json, as ``--flag old -> new``
    (``epochs`` too: a resume may extend a run). Flags the saved file lacks (older versions) are skipped."""
    now = json.loads(json.dumps(config.to_json()))
    return [f"--{key} {_flag_value(saved[key])} -> {_flag_value(value)}" for key, value in now.items()
            if key in saved and key not in _NOT_TRAINING and saved[key] != value]
