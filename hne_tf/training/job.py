"""The whole job behind ``train.py`` (:func:`run`: data, model, optimizer and schedule,
strategy, checkpoints with resume, TensorBoard, evaluation and plots) and the loader of a
finished run (:func:`load_run`, :func:`load_trained`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from hne_tf import data as data_lib
from hne_tf import datasets, provenance
from hne_tf import precision as precision_lib
from hne_tf.cost import cost_table
from hne_tf.models import TreeEnsemble, build_model
from hne_tf.osutil import os_reason, pid_alive
from hne_tf.training.checkpoints import (
    CHECKPOINT_PREFIX,
    Checkpointer,
    StopOnNaN,
    checkpoint_numbers,
    clean_stale,
    make_checkpoint,
    restore,
    write_checkpoint_list,
)
from hne_tf.training.config import TrainConfig, changed_settings, check_resume, validate
from hne_tf.training.distribute import accelerators, describe_devices, is_chief, make_strategy
from hne_tf.training.errors import Interrupted, TrainingError, write_json
from hne_tf.training.interrupt import SigintGuard
from hne_tf.training.lock import RunLock
from hne_tf.training.report import evaluate, format_eval, plot_eval
from hne_tf.training.schedules import PaperSchedule
from hne_tf.training.task import ClassificationTask, Task
from hne_tf.training.trainer import EnsembleTrainer


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


HISTORY = "history.json"


def _read_history(model_dir: str, epochs_done: int) -> list[dict]:
    """The validation curve of the epochs the checkpoint holds (later entries were never saved)."""
    try:
        with open(os.path.join(model_dir, HISTORY), encoding="utf-8") as f:
            entries = json.load(f).get("epochs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("epoch"), int)
            and e["epoch"] <= epochs_done]


class _ValidationCurve(keras.callbacks.Callback):
    """After every saved epoch, evaluates every ensemble size on the held-out split and
    rewrites ``history.json`` (an epoch that was not saved, after a NaN or Ctrl-C, is skipped)."""

    def __init__(self, ensemble, dataset, num_batches: int, model_dir: str, history: list[dict],
                 epoch_var: tf.Variable, log) -> None:
        super().__init__()
        self.ensemble, self.dataset, self.num_batches = ensemble, dataset, num_batches
        self.model_dir, self.history, self.epoch_var, self.log = model_dir, history, epoch_var, log

    def on_epoch_end(self, epoch, logs=None) -> None:
        if int(self.epoch_var.numpy()) != epoch + 1:
            return
        self.add(epoch + 1, (logs or {}).get("loss"))

    def add(self, epoch: int, loss: float | None, note: str = "") -> None:
        """Evaluates the model as it is now as epoch ``epoch``'s entry and rewrites ``history.json``."""
        started = time.time()
        result = evaluate(self.ensemble, self.dataset, num_batches=self.num_batches, verbose=0)
        self.history.append({
            "epoch": epoch, "train_loss": None if loss is None else float(loss),
            "accuracy": [p["accuracy"] for p in result["prefixes"]], "nll": [p["nll"] for p in result["prefixes"]],
            "leaf_accuracy": result["leaf_accuracy"], "seconds": round(time.time() - started, 2)})
        write_json(os.path.join(self.model_dir, HISTORY), {"epochs": self.history})
        acc = self.history[-1]["accuracy"]
        self.log(f"epoch {epoch}: validation accuracy {100 * acc[0]:.2f}% (k=1), "
                 f"{100 * acc[-1]:.2f}% (k={len(acc)}){note}")


def _interactive() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


@dataclasses.dataclass
class _Run:
    """What :func:`run` builds before it touches ``--model_dir``, handed to the part that does."""

    config: TrainConfig
    task: Task
    strategy: tf.distribute.Strategy
    chief: bool
    ensemble: TreeEnsemble
    trainer: EnsembleTrainer
    epoch_var: tf.Variable
    steps_per_epoch: int
    inputs: dict[str, tf.data.Dataset | None]
    log: Callable[[str], None]


def run(config: TrainConfig, log: Callable[[str], None] = print,
        callbacks: Sequence[keras.callbacks.Callback] = (), task: Task | None = None) -> dict:
    """Trains (resuming from ``config.model_dir``) and evaluates; returns eval.json's content.

    ``task`` says what to train (default: :class:`ClassificationTask` of ``config``);
    ``callbacks`` are extra Keras callbacks for ``fit``. Raises TrainingError
    (Interrupted for Ctrl-C or SIGTERM) with a message for the user; whatever
    happens, the checkpoints already in ``config.model_dir`` stay intact.
    """
    validate(config, dataset=task is None)
    keras.utils.set_random_seed(config.seed)
    precision_lib.apply(config.mixed_precision)
    if task is None:
        task = ClassificationTask(config, log)
        config = task.config  # its dataset by full name (folder:/absolute/path)
    strategy = make_strategy(config.strategy, config.tpu)
    log(describe_devices(strategy))
    # Data first: a missing dataset must fail before anything is written.
    inputs = {"train": task.build_inputs("train", training=True), "test": task.build_inputs("test"),
              "validation": task.build_inputs("validation") if config.validation_examples else None}
    with strategy.scope():
        ensemble = task.build_model()
        trainer = task.build_trainer(ensemble, task.build_losses(ensemble))
        steps_per_epoch = config.steps_per_epoch or max(1, task.train_size // config.batch_size)
        schedule = PaperSchedule(config.schedule, config.lr, steps_per_epoch * config.epochs)
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=config.nesterov)
        optimizer = precision_lib.wrap_optimizer(optimizer, config.mixed_precision)
        trainer.compile(optimizer=optimizer)
        optimizer.build(ensemble.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

    state = _Run(config, task, strategy, is_chief(strategy), ensemble, trainer, epoch_var, steps_per_epoch,
                 inputs, log)
    new_dir = not os.path.exists(config.model_dir)
    # Only the chief writes into --model_dir, so only the chief locks it.
    lock = RunLock(config.model_dir) if state.chief else contextlib.nullcontext()
    try:
        with lock, SigintGuard() as interrupt:
            if state.chief and lock.stale_pid is not None and not pid_alive(lock.stale_pid):
                log(f"took over the lock of a run that is gone (PID {lock.stale_pid})")
            return _train_and_evaluate(state, interrupt, list(callbacks))
    except tf.errors.ResourceExhaustedError as e:
        if new_dir and state.chief and not checkpoint_numbers(os.path.join(config.model_dir, "checkpoints")):
            shutil.rmtree(config.model_dir, ignore_errors=True)  # leave a new folder as it was: absent
        first = (e.message or str(e)).strip().splitlines()[0][:200]
        raise TrainingError(f"out of memory with --batch_size={config.batch_size} (--eval_batch_size="
                            f"{config.eval_batch_size}); try a smaller batch. TensorFlow: {first}") from None


def _train_and_evaluate(state: _Run, interrupt: SigintGuard, extra_callbacks: list) -> dict:
    """The part of :func:`run` that reads and writes ``--model_dir``, under its lock: prepare the folder and
    restore, train the epochs left, evaluate and write the run's files (the chief)."""
    config, log, epoch_var = state.config, state.log, state.epoch_var
    folder = _prepare_run_dir(state)
    start_epoch = int(epoch_var.numpy())
    session_started = time.time()
    if state.chief:
        provenance.append(config.model_dir, provenance.session(accelerators(), settings=config.to_json()))
    if folder.resumed:
        log(f"resumed from {folder.resumed} (epoch {start_epoch} done)")
    if folder.changed:  # config.json now holds the new values; provenance.json keeps each session's settings
        log(f"resuming with changed settings (each session's are in provenance.json): {', '.join(folder.changed)}")
    history = _read_history(config.model_dir, start_epoch) if state.inputs["validation"] is not None else []
    if (state.inputs["validation"] is not None and state.chief and start_epoch > 0
            and not any(e["epoch"] == start_epoch for e in history)):
        # The last session stopped after saving epoch start_epoch but before writing its validation entry
        # (a kill while it was being computed): the restored weights are that epoch's, so compute it now.
        _validation_curve(state, history).add(
            start_epoch, None, " (computed on resume: the last session stopped before writing it; its training "
            "loss was not saved)")
    if not config.eval_only and start_epoch < config.epochs:
        _fit(state, folder, interrupt, extra_callbacks, history, start_epoch)
    elif not config.eval_only:
        log(f"all {config.epochs} epochs already done; evaluating")
    if not state.chief:
        shutil.rmtree(folder.write_dir, ignore_errors=True)
        log("trained as a non-chief worker; the chief evaluates and writes the run's files")
        return {}
    return _evaluate_and_write(state, history, session_started, start_epoch)


@dataclasses.dataclass
class _RunDir:
    """What :func:`_prepare_run_dir` found and set up: the checkpoint restored (None: a new run), the settings
    a resume changes, where this worker saves, and the checkpoint manager."""

    resumed: str | None
    changed: list[str]
    write_dir: str
    manager: tf.train.CheckpointManager


def _prepare_run_dir(state: _Run) -> _RunDir:
    """Checks ``--model_dir`` against the command (folders, config.json, the data's input spec and labels),
    restores the newest checkpoint that restores, and (the chief) writes config.json and dataset.json."""
    config, log, chief = state.config, state.log, state.chief
    checkpoint_dir = os.path.join(config.model_dir, "checkpoints")
    for name in ("checkpoints", "tensorboard"):
        path = os.path.join(config.model_dir, name)
        if os.path.exists(path) and not os.path.isdir(path):
            raise TrainingError(f"{path} is a file, but train.py keeps a folder there; move it away")
    if chief:
        clean_stale(config.model_dir, checkpoint_dir, log)
    config_path = os.path.join(config.model_dir, "config.json")
    changed = changed_settings(check_resume(config, config_path), config) if os.path.exists(config_path) else []
    try:  # the data must give the input spec and label names the run was trained with
        record = datasets.read_run_record(config.model_dir)
    except datasets.DataError as e:
        raise TrainingError(str(e)) from None
    why = datasets.record_mismatch(record, state.task.info) if record is not None else None
    if why:
        raise TrainingError(why)
    ckpt = make_checkpoint(state.trainer, state.epoch_var)
    resumed = restore(ckpt, checkpoint_dir, warn=log)
    if config.eval_only and not resumed:
        raise TrainingError(f"--eval_only needs a checkpoint in {checkpoint_dir}; none found")
    if chief and resumed:
        write_checkpoint_list(checkpoint_dir, resumed)
    # Every worker saves (saving may take part in collectives); only the
    # chief saves into --model_dir.
    write_dir = config.model_dir if chief else tempfile.mkdtemp(prefix="hne_tf_worker_")
    manager = tf.train.CheckpointManager(ckpt, os.path.join(write_dir, "checkpoints"), max_to_keep=3,
                                         checkpoint_name=CHECKPOINT_PREFIX)
    if chief:
        write_json(config_path, config.to_json())
        write_json(os.path.join(config.model_dir, datasets.RUN_FILE),
                   datasets.run_record(state.task.info, config.dataset))
    ensemble = state.ensemble
    log(f"model {config.model}: {ensemble.num_leaves} leaves, {ensemble.count_params():,} params, "
        f"{cost_table(ensemble)['full_macs'] / 1e6:.1f} MMACs per image (all leaves); "
        f"{state.strategy.num_replicas_in_sync} replica(s)")
    return _RunDir(resumed, changed, write_dir, manager)


def _validation_curve(state: _Run, history: list) -> _ValidationCurve:
    config = state.config
    num_val = math.ceil(config.validation_examples / config.eval_batch_size)
    return _ValidationCurve(state.ensemble, state.inputs["validation"], num_val, config.model_dir, history,
                            state.epoch_var, state.log)


def _fit(state: _Run, folder: _RunDir, interrupt: SigintGuard, extra_callbacks: list, history: list,
         start_epoch: int) -> None:
    """Trains epochs ``start_epoch + 1 .. --epochs``, saving after each; Interrupted or TrainingError (one line,
    naming the last checkpoint) for Ctrl-C / SIGTERM and for a NaN loss."""
    config, log, trainer, epoch_var = state.config, state.log, state.trainer, state.epoch_var
    val_ds = state.inputs["validation"]
    nan = StopOnNaN()
    callbacks = [nan, Checkpointer(folder.manager, epoch_var, interrupt, nan),
                 keras.callbacks.TensorBoard(os.path.join(folder.write_dir, "tensorboard"), write_graph=False)]
    if val_ds is not None and state.chief:
        callbacks.append(_validation_curve(state, history))
    interactive = _interactive()
    if not interactive:
        callbacks.append(_PeriodicProgress(config.epochs, state.steps_per_epoch, log))
    started = time.time()
    interrupt.trainer = trainer
    try:
        trainer.fit(state.inputs["train"], epochs=config.epochs, initial_epoch=start_epoch,
                    steps_per_epoch=state.steps_per_epoch, callbacks=callbacks + extra_callbacks,
                    verbose=1 if interactive else 2, shuffle=False)
    finally:
        interrupt.trainer = None
    last = folder.manager.latest_checkpoint or "none (no epoch finished)"
    if interrupt.requested:
        raise Interrupted(f"interrupted ({interrupt.signal_name}) with {int(epoch_var.numpy())} of {config.epochs} "
                          f"epochs done and saved (an epoch in progress is not). Last checkpoint: {last}. Rerun "
                          "the same command to resume")
    if nan.stopped:
        raise TrainingError(f"the loss became NaN or Inf; training stopped. Last good checkpoint: {last}. "
                            "Try a lower --lr or --mixed_precision off.")
    log(f"trained epochs {start_epoch + 1}..{config.epochs} in {time.time() - started:.1f} s")


def _evaluate_and_write(state: _Run, history: list, session_started: float, start_epoch: int) -> dict:
    """The chief's evaluation of every ensemble size (test split, and the validation split when held out),
    written as eval.json, eval.png and TensorBoard scalars, and printed."""
    config, log, ensemble, epoch_var = state.config, state.log, state.ensemble, state.epoch_var
    info, val_ds = state.task.info, state.inputs["validation"]
    num_eval = math.ceil(min(config.eval_examples or info.test_size, info.test_size) / config.eval_batch_size)
    log(f"evaluating every ensemble size on the {config.dataset} test split")
    result = evaluate(ensemble, state.inputs["test"], num_batches=num_eval, verbose=1 if _interactive() else 0)
    result.update({"model": config.model, "loss": config.loss, "dataset": config.dataset,
                   "num_leaves": ensemble.num_leaves, "epochs_trained": int(epoch_var.numpy()),
                   "labels": list(info.labels), "input_spec": info.input_spec.to_json()})
    if val_ds is not None:
        log(f"evaluating every ensemble size on the {config.validation_examples} held-out validation examples")
        num_val = math.ceil(config.validation_examples / config.eval_batch_size)
        result["validation"] = evaluate(ensemble, val_ds, num_batches=num_val, verbose=0)
        result["validation_curve"] = history
    result["provenance"] = provenance.finish(config.model_dir, time.time() - session_started,
                                             (start_epoch, int(epoch_var.numpy())))
    write_json(os.path.join(config.model_dir, "eval.json"), result)
    try:
        plot_eval(result, os.path.join(config.model_dir, "eval.png"), f"{config.model} / {config.loss}")
    except OSError as e:
        raise TrainingError(f"cannot write {config.model_dir}/eval.png: {os_reason(e)} "
                            "(eval.json is written)") from None
    with tf.summary.create_file_writer(os.path.join(config.model_dir, "tensorboard", "eval")).as_default():
        for r in result["prefixes"]:
            tf.summary.scalar(f"eval/accuracy_k{r['k']}", r["accuracy"], step=int(epoch_var.numpy()))
        if "teacher" in result:
            tf.summary.scalar("eval/accuracy_teacher", result["teacher"]["accuracy"], step=int(epoch_var.numpy()))
    log(format_eval(result))
    log(f"wrote {config.model_dir}/eval.json and eval.png")
    return result


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A finished (or running) ``train.py`` run, loaded once: what the export reads.

    Attributes:
      model: the ensemble with the checkpoint's weights.
      config: ``config.json`` as parsed (the run's flags).
      checkpoint: the path of the checkpoint restored (``.../checkpoints/ckpt-N``).
      epochs_trained: the epochs that checkpoint holds (its epoch counter).
    """

    model: TreeEnsemble
    config: dict
    checkpoint: str
    epochs_trained: int


def load_run(model_dir: str, warn: Callable[[str], None] | None = None) -> TrainedRun:
    """Rebuilds the ensemble of a ``train.py`` run and restores its newest weights.

    Uses :func:`restore`, like resuming: the newest checkpoint that restores,
    with a warning (``warn``; default stderr) for any newer one that does not.
    Raises TrainingError (with what to do) for a missing or incomplete
    ``model_dir`` and for a checkpoint that does not match its config.json.
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
        raise TrainingError(f"cannot read {config_path}: {os_reason(e)}") from None
    try:  # the input and classes dataset.json recorded; a run from before it existed names a built-in data set
        record = datasets.read_run_record(model_dir)
        if record is not None:
            shape, classes = datasets.InputSpec.from_json(record["input_spec"]).input_shape, len(record["labels"])
        else:
            info = data_lib.dataset_info(dataset)
            shape, classes = info.input_shape, info.num_classes
        ensemble = build_model(model, shape, classes, **options)
    except datasets.DataError as e:
        raise TrainingError(str(e)) from None
    except (ValueError, TypeError) as e:
        raise TrainingError(f"{config_path} names a model that cannot be built: {e}") from None
    checkpoint = tf.train.Checkpoint(model=ensemble.checkpoint_variables())
    try:
        path = restore(checkpoint, os.path.join(model_dir, "checkpoints"), partial=True,
                       warn=warn or (lambda text: print(text, file=sys.stderr)))
    except TrainingError as e:
        raise TrainingError(str(e).replace("the model built from the flags", config_path)) from None
    if not path:
        raise TrainingError(f"{model_dir}/checkpoints holds no checkpoint: train first (train.py --model_dir="
                            f"{model_dir})")
    return TrainedRun(ensemble, saved, path, _checkpoint_epochs(path))


def _checkpoint_epochs(path: str) -> int:
    """The epoch counter saved in checkpoint ``path``; its number ``N`` (``ckpt-N``: saved after epoch N) if the
    checkpoint lacks the counter."""
    try:
        return int(tf.train.load_variable(path, "epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.NotFoundError, ValueError):
        return int(path.rsplit("-", 1)[1])


def load_trained(model_dir: str) -> TreeEnsemble:
    """The ensemble of :func:`load_run`, with the weights of the run's newest checkpoint that restores."""
    return load_run(model_dir).model
