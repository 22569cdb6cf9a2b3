"""Training and evaluation of tree ensembles with ``model.fit``.

:class:`EnsembleTrainer` wraps a :class:`hne_tf.TreeEnsemble` with a custom
``train_step`` / ``test_step`` for any loss of :mod:`hne_tf.losses`.
:func:`run` is the whole job behind ``train.py``: data, model, optimizer and
schedule, distribution strategy, checkpoints with resume, TensorBoard,
evaluation (``eval.json``) and plots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import inspect
import json
import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from hne_tf import data as data_lib
from hne_tf import losses as losses_lib
from hne_tf.cost import cost_table
from hne_tf.ensemble import ensemble_logits
from hne_tf.metrics import EnsembleEvaluator
from hne_tf.models import Outputs, TreeEnsemble, build_model
from hne_tf.presets import list_models
from hne_tf.tree import default_prefixes

SCHEDULES = ("cosine", "step", "imagenet_halving", "constant")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


class Interrupted(TrainingError):
    """Ctrl-C (SIGINT) stopped the run; the checkpoints are intact."""


# --------------------------------------------------------------- schedules

@keras.saving.register_keras_serializable(package="hne_tf")
class PaperSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning-rate schedules of the seed papers, per optimizer step.

    - ``cosine``: half cosine from ``lr`` to 0 (HNE, CIFAR).
    - ``step``: x0.1 at 50% and 75% of training (ONE).
    - ``imagenet_halving``: halve at epochs 60, 90, 110, 125, 135 and 145 of
      150 (the HNE preprint's ImageNet schedule), scaled to the run's length.
    - ``constant``.
    """

    HALVING = (60 / 150, 90 / 150, 110 / 150, 125 / 150, 135 / 150, 145 / 150)

    def __init__(self, kind, lr, total_steps) -> None:
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
        self.kind, self.lr, self.total_steps = kind, float(lr), max(1, int(total_steps))

    def __call__(self, step) -> tf.Tensor:
        t = tf.minimum(tf.cast(step, tf.float32) / self.total_steps, 1.0)
        if self.kind == "cosine":
            return self.lr * 0.5 * (1.0 + tf.cos(math.pi * t))
        if self.kind == "step":
            return self.lr * tf.pow(0.1, tf.cast(t >= 0.5, tf.float32) + tf.cast(t >= 0.75, tf.float32))
        if self.kind == "imagenet_halving":
            drops = tf.add_n([tf.cast(t >= m, tf.float32) for m in self.HALVING])
            return self.lr * tf.pow(0.5, drops)
        return tf.constant(self.lr, tf.float32)

    def get_config(self) -> dict:
        return {"kind": self.kind, "lr": self.lr, "total_steps": self.total_steps}


# ----------------------------------------------------------------- trainer

class EnsembleTrainer(keras.Model):
    """Custom train/test steps around a tree ensemble.

    Args:
      ensemble: the :class:`TreeEnsemble`.
      loss_fn: from :func:`hne_tf.losses.get_loss`; returns per-example
        ``{"loss": [batch], component: [batch], ...}``. If it takes a
        ``no_trunk_grad`` argument, training asks it for the part of the loss
        that must not train the trunk (see :meth:`compute_gradients`).
      weight_decay: L2 coefficient added to the loss as
        ``weight_decay / 2 * sum(w^2)`` over all trainable weights, i.e. the
        gradient gets ``weight_decay * w`` like PyTorch's SGD, which the
        papers used (Keras' own ``weight_decay`` is decoupled, a different
        regulariser).
      rampup_epochs: sigmoid ramp-up of the distillation weight (ONE).

    Logged metrics: every loss component, ``l2``, and ``acc_k{k}`` (accuracy
    of the ensemble of the first ``k`` leaves) for k = 1, 2, 4, ..., N.
    """

    def __init__(self, ensemble: TreeEnsemble, loss_fn, weight_decay: float = 0.0,
                 rampup_epochs: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ensemble = ensemble
        self.loss_fn = loss_fn
        self.weight_decay = float(weight_decay)
        self.rampup_epochs = float(rampup_epochs)
        self.epoch = keras.Variable(0.0, trainable=False, name="epoch", dtype="float32")
        self.prefixes = default_prefixes(ensemble.num_leaves)
        dummy = ensemble(tf.zeros((2,) + ensemble.image_shape), training=False)
        try:
            self._accepts_split = "no_trunk_grad" in inspect.signature(loss_fn).parameters
        except (TypeError, ValueError):  # a callable without a signature
            self._accepts_split = False
        names = list(self._terms(tf.zeros((2,), tf.int32), dummy, 1.0, split=False))
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in names}
        if self.weight_decay:
            self.loss_trackers["l2"] = keras.metrics.Mean(name="l2")
        self.acc_trackers = {k: keras.metrics.SparseCategoricalAccuracy(name=f"acc_k{k}")
                             for k in self.prefixes}
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.loss_trackers.values()) + list(self.acc_trackers.values())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        # Keras 3.15's fit() first reduces a sample batch across replicas to
        # build the model symbolically; under MultiWorkerMirroredStrategy that
        # reduction fails (PerReplica -> Tensor). The model and metrics are
        # built in __init__; only the optimizer may be left to build.
        if not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.ensemble.trainable_variables)

    def call(self, inputs, training=False) -> Outputs:
        return self.ensemble(inputs, training=training)

    def _distill_scale(self) -> float | tf.Tensor:
        return losses_lib.sigmoid_rampup(self.epoch, self.rampup_epochs)

    def _update(self, y, outputs, terms) -> dict[str, tf.Tensor]:
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value)
        logits = tf.cast(outputs["logits"], tf.float32)
        for k, tracker in self.acc_trackers.items():
            tracker.update_state(y, ensemble_logits(logits, k))
        results = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 reduces logs with axis=0 across workers: give them
            # that axis; the reduction returns scalars again.
            results = {name: tf.reshape(v, [1]) for name, v in results.items()}
        return results

    def _terms(self, y, outputs, distill_scale, split: bool) -> dict[str, tf.Tensor]:
        if split and self._accepts_split:
            return self.loss_fn(y, outputs, distill_scale=distill_scale, no_trunk_grad=True)
        return self.loss_fn(y, outputs, distill_scale=distill_scale)

    def compute_gradients(self, x, y) -> tuple[list, list, Outputs, dict[str, tf.Tensor], tf.Tensor | None]:
        """One forward pass and the gradients of the training objective.

        The objective is the global-batch mean of ``terms["loss"]`` plus the
        L2 term. Where the loss returns :data:`hne_tf.losses.NO_TRUNK_GRAD`
        (OEMC's feature hint, OEMC section 3.3), that part ``P`` is kept away
        from the trunk (``ensemble.trunk_variables()``): the gradient is
        ``grad(loss - P, all variables) + grad(P, non-trunk variables)`` from one
        persistent tape, so the value of the loss is unchanged and the
        forward pass runs once.

        Returns ``(grads, variables, outputs, terms, l2)``: the gradients are
        of the optimizer-scaled loss (``optimizer.scale_loss``), ``terms`` the
        per-example components without :data:`~hne_tf.losses.NO_TRUNK_GRAD`,
        ``l2`` None without weight decay.
        """
        variables = self.ensemble.trainable_variables
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.ensemble(x, training=True)
            terms = dict(self._terms(y, outputs, self._distill_scale(), split=True))
            no_trunk = terms.pop(losses_lib.NO_TRUNK_GRAD, None)
            # Mean over the global batch: each replica divides by the global
            # size so that summing gradients across replicas is right.
            loss = tf.nn.compute_average_loss(terms["loss"])
            l2 = None
            if self.weight_decay:
                l2 = 0.5 * self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                                                          for v in variables])
                loss = loss + l2 / replicas
            if no_trunk is not None:
                part = tf.nn.compute_average_loss(no_trunk)
                scaled_part = self.optimizer.scale_loss(part)
                scaled = self.optimizer.scale_loss(loss - part)
            else:
                scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        if no_trunk is not None:
            trunk = {id(v) for v in self.ensemble.trunk_variables()}
            rest = [i for i, v in enumerate(variables) if id(v) not in trunk]
            extra = tape.gradient(scaled_part, [variables[i] for i in rest])
            for i, g in zip(rest, extra, strict=True):
                if g is not None:
                    grads[i] = g if grads[i] is None else grads[i] + g
        del tape
        return grads, variables, outputs, terms, l2

    def train_step(self, data) -> dict[str, tf.Tensor]:
        x, y = data
        grads, variables, outputs, terms, l2 = self.compute_gradients(x, y)
        self.optimizer.apply(grads, variables)
        terms = {name: tf.reduce_mean(v) for name, v in terms.items()}
        if l2 is not None:
            terms["l2"] = l2
        return self._update(y, outputs, terms)

    def test_step(self, data) -> dict[str, tf.Tensor]:
        x, y = data
        outputs = self.ensemble(x, training=False)
        terms = self.loss_fn(y, outputs, distill_scale=1.0)
        return self._update(y, outputs, {n: tf.reduce_mean(v) for n, v in terms.items()})


# ----------------------------------------------------------------- config

@dataclasses.dataclass
class TrainConfig:
    model: str = "hne_resnet_mini"
    loss: str = "hierarchical_distillation"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    model_dir: str = "runs/hne_fashion_mnist"
    epochs: int = 2
    steps_per_epoch: int | None = None
    batch_size: int = 128
    eval_batch_size: int = 256
    eval_examples: int | None = None
    lr: float = 0.1
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
    mixed_precision: bool = False
    seed: int = 0
    model_options: dict[str, object] = dataclasses.field(default_factory=dict)
    eval_only: bool = False

    # Changing these in an existing --model_dir would not resume the same run.
    IDENTITY = ("model", "loss", "dataset", "model_options")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _check_range(flag: str, value, low=None, high=None, *, low_open=False, high_open=False,
                 integer=False) -> None:
    """Raises TrainingError unless ``value`` is a finite number in the range, naming ``--flag`` and the range."""
    lo = "" if low is None else ("(" if low_open else "[") + f"{low}, "
    hi = "" if high is None else f"{high}" + (")" if high_open else "]")
    if low is not None and high is None:
        wanted = f"> {low}" if low_open else f">= {low}"
    elif low is None and high is not None:
        wanted = f"< {high}" if high_open else f"<= {high}"
    else:
        wanted = f"in {lo}{hi}"
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise TrainingError(f"--{flag} must be {kind} {wanted}, got {value!r}")


def validate(config: TrainConfig) -> None:
    """Flag checks that need no data and no model: fail before writing anything.

    Every count is >= 1 (a count of 0 never means "all": leave the flag unset
    for that), every rate or coefficient finite and in its range.
    """
    def choice(flag, value, valid) -> None:
        if value not in valid:
            raise TrainingError(f"unknown --{flag}={value!r}; valid choices: {', '.join(valid)}")
    choice("model", config.model, list_models())
    choice("loss", config.loss, list(losses_lib.LOSSES))
    choice("dataset", config.dataset, list(data_lib.DATASETS))
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
    spec = losses_lib.LOSSES[config.loss]  # the loss's hyperparameters: known names, in range
    unknown = sorted(set(config.loss_options) - set(spec.defaults))
    if unknown:
        raise TrainingError(f"--{unknown[0]} does not apply to --loss={config.loss}; its hyperparameters: "
                            f"{', '.join(spec.defaults)}")
    for h in spec.hparams:
        if config.loss_options.get(h.name) is not None:
            try:
                h.check(config.loss_options[h.name], config.loss)
            except ValueError as e:
                raise TrainingError(f"--{h.name}: {e}") from None
    _check_range("rampup_epochs", config.rampup_epochs, 0)
    _check_range("seed", config.seed, 0, 2 ** 32 - 1, integer=True)
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


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise TrainingError(f"unknown --strategy={name!r}; valid choices: {', '.join(STRATEGIES)}")


def _check_tf_config(text: str | None) -> None:
    """Raises TrainingError unless ``text`` is a usable TF_CONFIG for --strategy=multi_worker."""
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        return  # MultiWorkerMirroredStrategy then runs a single local worker
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrainingError(f"TF_CONFIG is not valid JSON ({e}); {example}") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in cluster.values()):
        raise TrainingError(f"TF_CONFIG needs \"cluster\": a JSON object of job name -> list of "
                            f"\"host:port\" addresses; {example}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise TrainingError(f"TF_CONFIG needs \"task\": {{\"type\": one of {sorted(cluster)}, \"index\": ...}}; "
                            f"got {task!r}")
    index = task.get("index")
    size = len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise TrainingError(f"TF_CONFIG task index must be an integer in [0, {size - 1}] (the cluster has "
                            f"{size} {task['type']!r} address(es)), got {index!r}")


def describe_devices(strategy: tf.distribute.Strategy) -> str:
    """One line: which devices train (a GPU's name, or the CPU)."""
    gpus = tf.config.list_physical_devices("GPU")
    tpus = tf.config.list_logical_devices("TPU")
    replicas = strategy.num_replicas_in_sync
    if tpus:
        return f"training on {len(tpus)} TPU core(s), {replicas} replica(s)"
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
            except (ValueError, tf.errors.OpError):
                names.append(gpu.name)
        return f"training on {len(gpus)} GPU(s): {', '.join(names)}; {replicas} replica(s)"
    return f"training on the CPU ({os.cpu_count()} cores; no GPU found); {replicas} replica(s)"


# ------------------------------------------------------------ checkpoints

CHECKPOINT_PREFIX = "ckpt"
_CKPT_FILE = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)(\.index|\.data-\d+-of-\d+)$")
_CKPT_TEMP = re.compile(rf"^{CHECKPOINT_PREFIX}-\d+_temp$")


class _Checkpointer(keras.callbacks.Callback):
    """Saves model, optimizer and epoch at the end of every finished epoch.

    An epoch cut short (NaN loss, Ctrl-C) is not saved. A save that fails
    (a full disk) removes its partial files and raises TrainingError; the
    previous checkpoint stays the latest.
    """

    def __init__(self, manager: tf.train.CheckpointManager, epoch_var: tf.Variable,
                 interrupt: _SigintGuard | None = None) -> None:
        super().__init__()
        self.manager, self.epoch_var, self.interrupt = manager, epoch_var, interrupt
        self.stopped_on_nan = False

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.model.epoch.assign(float(epoch))

    def on_train_batch_end(self, batch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.stopped_on_nan = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.interrupt is not None and self.interrupt.requested:
            return  # the epoch did not finish: its checkpoint would claim it did
        if self.stopped_on_nan or any(not np.isfinite(float(v)) for v in (logs or {}).values()):
            self.stopped_on_nan = True
            self.model.stop_training = True
            return
        previous = self.manager.latest_checkpoint
        self.epoch_var.assign(epoch + 1)
        with self.interrupt.saving() if self.interrupt else contextlib.nullcontext():
            try:
                self.manager.save(checkpoint_number=epoch + 1)
            except (tf.errors.OpError, OSError) as e:
                self.epoch_var.assign(epoch)
                _remove_checkpoint_files(self.manager.directory, epoch + 1)
                reason = _os_reason(e)
                raise TrainingError(
                    f"could not save checkpoint {CHECKPOINT_PREFIX}-{epoch + 1} in {self.manager.directory}: "
                    f"{reason}. The last good checkpoint is {previous or 'none (no epoch was saved)'}; "
                    "free space (or fix the folder) and rerun the same command to resume") from None


def _os_reason(error: Exception) -> str:
    """The useful part of an OS or TensorFlow I/O error: 'No space left on device' rather than a stack."""
    text = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text:
        return "the disk is full (No space left on device)"
    return text


class _SigintGuard:
    """Ctrl-C during ``fit``: finish the current step, keep the checkpoints, stop.

    The first SIGINT asks the trainer to stop after its step (the partial
    epoch is not saved); a SIGINT while a checkpoint is being saved waits for
    the save to finish; a second SIGINT, or one outside ``fit``, raises
    KeyboardInterrupt as usual. Installed only in the main thread.
    """

    def __init__(self) -> None:
        self.requested = False
        self.trainer: keras.Model | None = None
        self._saving = False
        self._previous = None
        self._installed = False

    def __enter__(self) -> _SigintGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> bool:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        return False

    def _handle(self, signum, frame) -> None:
        if self._saving:
            self.requested = True
            return
        if self.trainer is None or self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.trainer.stop_training = True

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
            if self.requested and self.trainer is not None:  # Ctrl-C came during the save
                self.trainer.stop_training = True


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (multi-worker: the chief only)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _checkpoint(trainer: EnsembleTrainer, epoch_var) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(model=trainer.ensemble.checkpoint_variables(), optimizer=trainer.optimizer,
                               epoch=epoch_var)


def checkpoint_numbers(checkpoint_dir: str) -> list[int]:
    """Numbers ``N`` of the ``ckpt-N`` checkpoints with any file in ``checkpoint_dir``, newest first.

    Read from the files themselves, not from the ``checkpoint`` list file,
    which may be missing, stale or garbage.
    """
    try:
        names = os.listdir(checkpoint_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise TrainingError(f"cannot read {checkpoint_dir}: {_os_reason(e)}") from None
    return sorted({int(m.group(1)) for m in map(_CKPT_FILE.match, names) if m}, reverse=True)


def _remove_checkpoint_files(checkpoint_dir: str, number: int) -> None:
    """Removes ``ckpt-N.*`` and ``ckpt-N_temp/`` (a save that did not finish)."""
    base = f"{CHECKPOINT_PREFIX}-{number}"
    for name in os.listdir(checkpoint_dir) if os.path.isdir(checkpoint_dir) else []:
        m = _CKPT_FILE.match(name)
        path = os.path.join(checkpoint_dir, name)
        try:
            if name == base + "_temp":
                shutil.rmtree(path, ignore_errors=True)
            elif m and int(m.group(1)) == number:
                os.remove(path)
        except OSError:
            pass


def restore(checkpoint: tf.train.Checkpoint, checkpoint_dir: str, *, partial: bool = False,
            warn: Callable[[str], None] = print) -> str | None:
    """Restores the newest checkpoint of ``checkpoint_dir`` that restores, and returns its path.

    Shared by resume (:func:`run`) and :func:`load_trained`. ``checkpoint``
    has a ``model`` child (``TreeEnsemble.checkpoint_variables()``), whose
    variable names must be exactly the checkpoint's; ``partial`` allows the
    checkpoint to hold more than ``checkpoint`` (an optimizer the caller
    does not need).

    Candidates are the ``ckpt-N`` files on disk, newest first, whatever the
    ``checkpoint`` list file says. A candidate that does not restore (a
    truncated index or data file, a save that never finished) is skipped
    with a warning naming it. Returns None only when the folder holds no
    checkpoint files at all; raises TrainingError when it holds some but none
    restores, so that a run never starts over on top of them.
    """
    numbers = checkpoint_numbers(checkpoint_dir)
    if not numbers:
        return None
    failures = []
    for number in numbers:
        path = os.path.join(checkpoint_dir, f"{CHECKPOINT_PREFIX}-{number}")
        try:
            if not os.path.isfile(path + ".index"):
                raise _BrokenCheckpoint("its .index file is missing (the save did not finish)")
            _check_model_keys(path, checkpoint.model)
            status = checkpoint.restore(path)
            if partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
        except _ModelMismatch as e:
            failures.append((path, True, str(e)))
        except (_BrokenCheckpoint, AssertionError, ValueError, IndexError, tf.errors.OpError, OSError) as e:
            failures.append((path, False, str(e).strip().splitlines()[0] if str(e).strip() else repr(e)))
        else:
            for bad, _, reason in failures:
                warn(f"WARNING: skipped checkpoint {bad}, it does not restore ({reason}); "
                     f"using the previous one, {path}")
            return path
    if all(mismatch for _, mismatch, _ in failures):
        bad, _, reason = failures[0]
        raise TrainingError(f"checkpoint {bad} does not match the model built from the flags: {reason}")
    listing = "; ".join(f"{os.path.basename(p)}: {reason}" for p, _, reason in failures)
    raise TrainingError(
        f"{checkpoint_dir} holds checkpoints but none of them restores ({listing}). Nothing was changed. "
        "To start over, move that folder away or use a new --model_dir")


class _BrokenCheckpoint(Exception):
    pass


class _ModelMismatch(ValueError):
    pass


def _check_model_keys(path: str, model_variables: tf.train.Checkpoint) -> None:
    """Raises _ModelMismatch unless the checkpoint holds exactly the model's variables.

    A restore alone only checks that every model variable was found; this also
    catches a checkpoint of a bigger model (extra variables).
    """
    # Checkpoint keys escape "." as ".." and "/" as "./" inside a name.
    saved = {re.sub(r"\.(.)", r"\1", name.split("/")[1]): tuple(shape)
             for name, shape in tf.train.list_variables(path) if name.startswith("model/")}
    children = {k: v for k, v in model_variables._trackable_children().items() if k != "save_counter"}
    if set(saved) != set(children):
        missing, extra = sorted(set(children) - set(saved)), sorted(set(saved) - set(children))
        raise _ModelMismatch(f"{len(missing)} model variables missing from the checkpoint {missing[:3]}, "
                             f"{len(extra)} not in the model {extra[:3]}")
    reshaped = [f"{k} {list(saved[k])} vs {list(v.shape)}" for k, v in sorted(children.items())
                if hasattr(v, "shape") and tuple(v.shape) != saved[k]]
    if reshaped:
        raise _ModelMismatch(f"{len(reshaped)} model variables have other shapes in the checkpoint "
                             f"(checkpoint vs model): {'; '.join(reshaped[:2])}")


def _write_checkpoint_list(checkpoint_dir: str, latest: str) -> None:
    """Rewrites the ``checkpoint`` list file to name ``latest`` and the older checkpoints on disk.

    After a resume without a valid list file (missing, garbage, or naming a
    deleted or broken checkpoint), so that the CheckpointManager keeps and
    rotates the right files.
    """
    number = int(latest.rsplit("-", 1)[1])
    older = [n for n in reversed(checkpoint_numbers(checkpoint_dir)) if n <= number
             and os.path.isfile(os.path.join(checkpoint_dir, f"{CHECKPOINT_PREFIX}-{n}.index"))]
    lines = [f'model_checkpoint_path: "{CHECKPOINT_PREFIX}-{number}"']
    lines += [f'all_model_checkpoint_paths: "{CHECKPOINT_PREFIX}-{n}"' for n in older]
    # With their times the manager rotates them (max_to_keep); without, it would keep them forever.
    lines += [f"all_model_checkpoint_timestamps: "
              f"{os.path.getmtime(os.path.join(checkpoint_dir, f'{CHECKPOINT_PREFIX}-{n}.index')):.6f}"
              for n in older]
    lines.append("last_preserved_timestamp: 0.0")
    path = os.path.join(checkpoint_dir, "checkpoint")
    try:
        current = tf.train.get_checkpoint_state(checkpoint_dir)
        if current and os.path.basename(current.model_checkpoint_path) == os.path.basename(latest) and all(
                os.path.exists(p + ".index") or os.path.exists(os.path.join(checkpoint_dir, p) + ".index")
                for p in current.all_model_checkpoint_paths):
            return
    except Exception:  # any failure: a garbage list file is what we replace
        pass
    _write_text(path, "\n".join(lines) + "\n")


# -------------------------------------------------------------- run lock

LOCK_FILE = "train.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """One ``train.py`` per ``--model_dir``: an exclusive ``flock`` on ``<model_dir>/train.lock``.

    The file holds the holder's PID and host, for the message a second run
    gets. The kernel drops the lock when its process dies, so the lock of a
    killed run (a dead PID left in the file) is simply taken over.
    """

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        self.path = os.path.join(model_dir, LOCK_FILE)
        self.fd: int | None = None
        self.stale_pid: int | None = None
        self.created_dir = False

    def acquire(self) -> RunLock:
        if not os.path.isdir(self.model_dir):
            try:
                os.makedirs(self.model_dir)
            except FileExistsError:
                if not os.path.isdir(self.model_dir):
                    raise TrainingError(f"--model_dir {self.model_dir} is a file, not a folder") from None
            except OSError as e:
                raise TrainingError(f"cannot create --model_dir {self.model_dir}: {_os_reason(e)}") from None
            else:
                self.created_dir = True
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                self._undo_dir()
                raise TrainingError(f"--model_dir {self.model_dir} is not writable ({_os_reason(e)}); "
                                    "pass a folder you can write to") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").split()
                os.close(fd)
                pid = holder[0] if holder else "unknown"
                host = f" on {holder[1]}" if len(holder) > 1 and holder[1] != socket.gethostname() else ""
                raise TrainingError(
                    f"--model_dir {self.model_dir} is in use by another train.py (PID {pid}{host}); wait for it "
                    f"to finish, stop it, or use another --model_dir") from None
            try:  # the previous holder may have removed the file between our open and flock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = os.read(fd, 200).decode(errors="replace").split()
        if previous and previous[0].isdigit() and int(previous[0]) != os.getpid():
            self.stale_pid = int(previous[0])
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self.fd)  # closing drops the flock
        self.fd = None
        self._undo_dir()

    def _undo_dir(self) -> None:
        # A run that failed before writing anything leaves no empty folder behind.
        if self.created_dir:
            try:
                os.rmdir(self.model_dir)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def _clean_stale(model_dir: str, checkpoint_dir: str, log) -> None:
    """Removes what killed runs left behind: ``ckpt-N_temp/`` of a save that never finished and
    ``*.tmp`` of a JSON write. Called with the run lock held, so no live run owns them."""
    stale = []
    if os.path.isdir(checkpoint_dir):
        stale += [os.path.join(checkpoint_dir, n) for n in os.listdir(checkpoint_dir) if _CKPT_TEMP.match(n)]
    stale += [os.path.join(model_dir, n) for n in os.listdir(model_dir) if n.endswith(".json.tmp")]
    for path in sorted(stale):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                continue
        log(f"removed {path}, left by an interrupted run")


# --------------------------------------------------------------- the job

def _write_text(path: str, text: str) -> None:
    """Writes ``path`` atomically (a temporary file, then a rename); a failed write leaves the old file."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise TrainingError(f"cannot write {path}: {_os_reason(e)}") from None


def _write_json(path, obj) -> None:
    _write_text(path, json.dumps(obj, indent=2))


# Flags that a resumed run must keep, with what to do about a change.
RESUME_FLAGS = {"mixed_precision": "its optimizer state (loss scaling) differs"}


def _flag_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else json.dumps(value)


def _check_resume(config: TrainConfig, path: str) -> None:
    try:
        with open(path) as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TrainingError(f"{path} is not valid JSON ({e}); restore it (it holds the run's flags), "
                            "or use a new --model_dir") from None
    except OSError as e:
        raise TrainingError(f"cannot read {path}: {_os_reason(e)}") from None
    if not isinstance(saved, dict) or not all(k in saved for k in TrainConfig.IDENTITY):
        raise TrainingError(f"{path} is not a train.py config (a JSON object with "
                            f"{', '.join(TrainConfig.IDENTITY)}); restore it, or use a new --model_dir")
    for key in TrainConfig.IDENTITY:
        if saved[key] != json.loads(json.dumps(getattr(config, key))):
            raise TrainingError(
                f"--model_dir holds a run with {key}={saved[key]!r}, but this command asks for "
                f"{getattr(config, key)!r}; use a new --model_dir or the same flags to resume")
    for key, why in RESUME_FLAGS.items():
        if key in saved and saved[key] != getattr(config, key):
            raise TrainingError(
                f"--model_dir holds a run trained with --{key}={_flag_value(saved[key])}, but this command "
                f"has --{key}={_flag_value(getattr(config, key))} ({why}). Rerun with "
                f"--{key}={_flag_value(saved[key])} to resume it, or use a new --model_dir")


def evaluate(ensemble: TreeEnsemble, dataset, num_batches: int | None = None, verbose: int = 1) -> dict:
    """Evaluates every prefix on ``dataset`` of ``(images, labels)``; see EnsembleEvaluator.

    For a family with its own teacher (``ensemble.teacher_logits`` is not None:
    ONE's gated teacher, the paper's "ONE-E", ONE Table 5) the result also has
    ``"teacher"``: accuracy, nll, ece and macs (the full model's MACs, every
    leaf; the gate's own few MACs are not counted).
    """
    def forward(x) -> dict[str, tf.Tensor]:
        outputs = ensemble(x, training=False)
        out = {"logits": tf.cast(outputs["logits"], tf.float32)}
        teacher = ensemble.teacher_logits(outputs)
        if teacher is not None:
            out["teacher"] = tf.cast(teacher, tf.float32)
        return out

    predict = tf.function(forward)
    evaluator = EnsembleEvaluator(ensemble.num_leaves)
    bar = keras.utils.Progbar(num_batches, verbose=verbose, unit_name="batch") if verbose else None
    for i, (x, y) in enumerate(dataset):
        out = predict(x)
        teacher = out.get("teacher")
        evaluator.update(out["logits"].numpy(), y.numpy(), None if teacher is None else teacher.numpy())
        if bar:
            bar.update(i + 1)
    table = cost_table(ensemble)
    result = evaluator.result(macs=[p["macs"] for p in table["prefixes"]], teacher_macs=table["full_macs"])
    result["unit"] = "MACs"
    result["anytime_step_macs"] = [s["macs"] for s in table["steps"]]
    return result


def plot_eval(result: dict, path: str, title: str) -> None:
    """Accuracy and logit std against MACs per ensemble size, and a bar per leaf
    (the layout of Fig. 4 and Fig. 9 of the AAAI paper)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["prefixes"]
    macs = np.array([r["macs"] for r in rows]) / 1e6
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = (macs[-1] - macs[0]) / (2 * len(macs)) if len(macs) > 1 else 1.0
    ax1.bar(macs, 100 * np.array(result["leaf_accuracy"]), width=width, alpha=0.35,
            label="leaf k alone")
    ax1.plot(macs, [100 * r["accuracy"] for r in rows], "o-", label="ensemble of leaves 1..k")
    shown = 100 * np.array(list(result["leaf_accuracy"]) + [r["accuracy"] for r in rows])
    ax1.set_ylim(max(0.0, shown.min() - 3.0), min(100.0, shown.max() + 1.5))  # zoom on the differences
    ax1.set_xlabel("MMACs per image")
    ax1.set_ylabel("test accuracy (%)")
    ax1.legend()
    ax1.set_title(title)
    ax2.plot(macs, [r["logit_std"] for r in rows], "o-")
    ax2.set_xlabel("MMACs per image")
    ax2.set_ylabel("std of logits across leaves")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_eval(result: dict) -> str:
    lines = [f"{'k':>3} {'MMACs':>9} {'acc %':>7} {'NLL':>7} {'ECE':>6} {'std':>6}"]
    for r in result["prefixes"]:
        lines.append(f"{r['k']:>3} {r['macs'] / 1e6:>9.2f} {100 * r['accuracy']:>7.2f} {r['nll']:>7.3f} "
                     f"{r['ece']:>6.3f} {r['logit_std']:>6.3f}")
    if "teacher" in result:  # ONE's gated teacher (ONE-E), every leaf
        t = result["teacher"]
        macs = f"{t['macs'] / 1e6:>9.2f}" if "macs" in t else f"{'':>9}"
        lines.append(f"{'T':>3} {macs} {100 * t['accuracy']:>7.2f} {t['nll']:>7.3f} {t['ece']:>6.3f} "
                     f"{'':>6}  (gated teacher)")
    lines.append("leaf accuracy %: " + " ".join(f"{100 * a:.1f}" for a in result["leaf_accuracy"]))
    return "\n".join(lines)


class _PeriodicProgress(keras.callbacks.Callback):
    """A progress line every ``interval`` seconds, for output that is not a terminal.

    Keras' per-step progress bar redraws one line with carriage returns; in a
    log file each redraw becomes a line. Without a terminal, ``fit`` prints a
    line per epoch instead, and this callback one line per interval within it.
    """

    def __init__(self, epochs: int, steps: int, log, interval: float = 60.0) -> None:
        super().__init__()
        self.epochs, self.steps, self.log, self.interval = epochs, steps, log, interval
        self.epoch, self.start, self.last = 0, 0.0, 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch, self.start = epoch, time.time()
        self.last = self.start

    def on_train_batch_end(self, batch, logs=None) -> None:
        now = time.time()
        if now - self.last < self.interval:
            return
        self.last = now
        loss = (logs or {}).get("loss")
        shown = f", loss {float(loss):.4f}" if loss is not None else ""
        self.log(f"epoch {self.epoch + 1}/{self.epochs}: step {batch + 1}/{self.steps}{shown}, "
                 f"{now - self.start:.0f} s")


def _interactive() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def run(config: TrainConfig, log=print, callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Trains (resuming from ``config.model_dir``) and evaluates; returns eval.json's content.

    ``callbacks`` are extra Keras callbacks for ``fit``. Raises TrainingError
    (Interrupted for Ctrl-C) with a message for the user; whatever happens,
    the checkpoints already in ``config.model_dir`` stay intact.
    """
    validate(config)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    info = data_lib.dataset_info(config.dataset)
    strategy = make_strategy(config.strategy, config.tpu)
    log(describe_devices(strategy))
    # Data first: a missing dataset must fail before anything is written.
    train_ds = data_lib.load(config.dataset, "train", config.batch_size, data_dir=config.data_dir,
                             training=True, seed=config.seed, repeat=True, drop_remainder=True)
    test_ds = data_lib.load(config.dataset, "test", config.eval_batch_size, data_dir=config.data_dir,
                            take=config.eval_examples)
    with strategy.scope():
        try:
            ensemble = build_model(config.model, info.input_shape, info.num_classes, **config.model_options)
        except (ValueError, TypeError, ZeroDivisionError) as e:
            raise TrainingError(f"--model={config.model} --model_options={json.dumps(config.model_options)}: "
                                f"{e}") from None
        try:
            loss_fn = losses_lib.get_loss(config.loss, ensemble.family, ensemble.num_leaves,
                                          **config.loss_options)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        trainer = EnsembleTrainer(ensemble, loss_fn, config.weight_decay, config.rampup_epochs)
        steps_per_epoch = config.steps_per_epoch or max(1, info.train_size // config.batch_size)
        schedule = PaperSchedule(config.schedule, config.lr, steps_per_epoch * config.epochs)
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=config.nesterov)
        if config.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        trainer.compile(optimizer=optimizer)
        optimizer.build(ensemble.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

    chief = is_chief(strategy)
    # Only the chief writes into --model_dir, so only the chief locks it.
    lock = RunLock(config.model_dir) if chief else contextlib.nullcontext()
    with lock, _SigintGuard() as interrupt:
        if chief and lock.stale_pid is not None and not _pid_alive(lock.stale_pid):
            log(f"took over the lock of a run that is gone (PID {lock.stale_pid})")
        return _train_and_evaluate(config, info, strategy, chief, ensemble, trainer, epoch_var, train_ds, test_ds,
                                   steps_per_epoch, interrupt, list(callbacks), log)


def _train_and_evaluate(config, info, strategy, chief, ensemble, trainer, epoch_var, train_ds, test_ds,
                        steps_per_epoch, interrupt, extra_callbacks, log) -> dict:
    """The part of :func:`run` that reads and writes ``--model_dir``, under its lock."""
    checkpoint_dir = os.path.join(config.model_dir, "checkpoints")
    for name in ("checkpoints", "tensorboard"):
        path = os.path.join(config.model_dir, name)
        if os.path.exists(path) and not os.path.isdir(path):
            raise TrainingError(f"{path} is a file, but train.py keeps a folder there; move it away")
    if chief:
        _clean_stale(config.model_dir, checkpoint_dir, log)
    config_path = os.path.join(config.model_dir, "config.json")
    if os.path.exists(config_path):
        _check_resume(config, config_path)
    ckpt = _checkpoint(trainer, epoch_var)
    resumed = restore(ckpt, checkpoint_dir, warn=log)
    if config.eval_only and not resumed:
        raise TrainingError(f"--eval_only needs a checkpoint in {checkpoint_dir}; none found")
    if chief and resumed:
        _write_checkpoint_list(checkpoint_dir, resumed)
    # Every worker saves (saving may take part in collectives); only the
    # chief saves into --model_dir.
    write_dir = config.model_dir if chief else tempfile.mkdtemp(prefix="hne_tf_worker_")
    manager = tf.train.CheckpointManager(ckpt, os.path.join(write_dir, "checkpoints"), max_to_keep=3,
                                         checkpoint_name=CHECKPOINT_PREFIX)
    if chief:
        _write_json(config_path, config.to_json())
    log(f"model {config.model}: {ensemble.num_leaves} leaves, {ensemble.count_params():,} params, "
        f"{cost_table(ensemble)['full_macs'] / 1e6:.1f} MMACs per image (all leaves); "
        f"{strategy.num_replicas_in_sync} replica(s)")

    start_epoch = int(epoch_var.numpy())
    if resumed:
        log(f"resumed from {resumed} (epoch {start_epoch} done)")
    if not config.eval_only and start_epoch < config.epochs:
        checkpointer = _Checkpointer(manager, epoch_var, interrupt)
        callbacks = [checkpointer,
                     keras.callbacks.TensorBoard(os.path.join(write_dir, "tensorboard"),
                                                 write_graph=False)]
        interactive = _interactive()
        if not interactive:
            callbacks.append(_PeriodicProgress(config.epochs, steps_per_epoch, log))
        started = time.time()
        interrupt.trainer = trainer
        try:
            trainer.fit(train_ds, epochs=config.epochs, initial_epoch=start_epoch,
                        steps_per_epoch=steps_per_epoch, callbacks=callbacks + extra_callbacks,
                        verbose=1 if interactive else 2, shuffle=False)
        finally:
            interrupt.trainer = None
        last = manager.latest_checkpoint or "none (no epoch finished)"
        if interrupt.requested:
            raise Interrupted(f"interrupted (Ctrl-C) with {int(epoch_var.numpy())} of {config.epochs} epochs done "
                              f"and saved (an epoch in progress is not). Last checkpoint: {last}. Rerun the same "
                              "command to resume")
        if checkpointer.stopped_on_nan:
            raise TrainingError(f"the loss became NaN or Inf; training stopped. Last good checkpoint: {last}. "
                                "Try a lower --lr or --mixed_precision off.")
        log(f"trained epochs {start_epoch + 1}..{config.epochs} in {time.time() - started:.1f} s")
    elif not config.eval_only:
        log(f"all {config.epochs} epochs already done; evaluating")

    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
        log("trained as a non-chief worker; the chief evaluates and writes the run's files")
        return {}
    num_eval = math.ceil(min(config.eval_examples or info.test_size, info.test_size) / config.eval_batch_size)
    log(f"evaluating every ensemble size on the {config.dataset} test split")
    result = evaluate(ensemble, test_ds, num_batches=num_eval, verbose=1 if _interactive() else 0)
    result.update({"model": config.model, "loss": config.loss, "dataset": config.dataset,
                   "num_leaves": ensemble.num_leaves, "epochs_trained": int(epoch_var.numpy()),
                   "labels": list(info.labels)})
    _write_json(os.path.join(config.model_dir, "eval.json"), result)
    try:
        plot_eval(result, os.path.join(config.model_dir, "eval.png"), f"{config.model} / {config.loss}")
    except OSError as e:
        raise TrainingError(f"cannot write {config.model_dir}/eval.png: {_os_reason(e)} "
                            "(eval.json is written)") from None
    with tf.summary.create_file_writer(os.path.join(config.model_dir, "tensorboard", "eval")).as_default():
        for r in result["prefixes"]:
            tf.summary.scalar(f"eval/accuracy_k{r['k']}", r["accuracy"], step=int(epoch_var.numpy()))
        if "teacher" in result:
            tf.summary.scalar("eval/accuracy_teacher", result["teacher"]["accuracy"], step=int(epoch_var.numpy()))
    log(format_eval(result))
    log(f"wrote {config.model_dir}/eval.json and eval.png")
    return result


def load_trained(model_dir: str) -> TreeEnsemble:
    """Rebuilds the ensemble of a ``train.py`` run and restores its latest weights.

    Uses :func:`restore`, like resuming: the newest checkpoint that restores,
    with a warning for any newer one that does not. Raises TrainingError
    (with what to do) for a missing or incomplete ``model_dir`` and for a
    checkpoint that does not match its config.json.
    """
    if not os.path.isdir(model_dir):
        raise TrainingError(f"--model_dir {model_dir} does not exist")
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.exists(config_path):
        raise TrainingError(f"{model_dir} has no config.json: not a train.py --model_dir")
    try:
        with open(config_path) as f:
            saved = json.load(f)
        model, dataset = saved["model"], saved["dataset"]
        options = saved.get("model_options") or {}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise TrainingError(f"{config_path} is not a train.py config (needs model and dataset): {e!r}") from None
    except OSError as e:
        raise TrainingError(f"cannot read {config_path}: {_os_reason(e)}") from None
    try:
        info = data_lib.dataset_info(dataset)
        ensemble = build_model(model, info.input_shape, info.num_classes, **options)
    except (ValueError, TypeError) as e:
        raise TrainingError(f"{config_path} names a model that cannot be built: {e}") from None
    checkpoint = tf.train.Checkpoint(model=ensemble.checkpoint_variables())
    try:
        path = restore(checkpoint, os.path.join(model_dir, "checkpoints"), partial=True,
                       warn=lambda text: print(text, file=sys.stderr))
    except TrainingError as e:
        raise TrainingError(str(e).replace("the model built from the flags", config_path)) from None
    if not path:
        raise TrainingError(f"{model_dir}/checkpoints holds no checkpoint: train first (train.py --model_dir="
                            f"{model_dir})")
    return ensemble


__all__ = ["EnsembleTrainer", "Interrupted", "PaperSchedule", "RunLock", "TrainConfig", "TrainingError",
           "evaluate", "load_trained", "restore", "run", "validate"]
