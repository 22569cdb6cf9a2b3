"""The run's checkpoints: saving one per finished epoch, restoring the newest one that
restores (resume and :func:`hne_tf.training.load_trained`), the check that a checkpoint holds
exactly the model's variables, the ``checkpoint`` list file, and the cleanup of what killed runs
left behind."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from hne_tf.osutil import os_reason, pid_alive
from hne_tf.training.errors import TrainingError, write_text
from hne_tf.training.interrupt import SigintGuard
from hne_tf.training.trainer import EnsembleTrainer

CHECKPOINT_PREFIX = "ckpt"
_CKPT_FILE = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)(\.index|\.data-\d+-of-\d+)$")
_CKPT_TEMP = re.compile(rf"^{CHECKPOINT_PREFIX}-\d+_temp$")
_JSON_TEMP = re.compile(r"^.+\.json\.tmp(?:-(\d+))?$")


class StopOnNaN(keras.callbacks.Callback):
    """Stops training as soon as the loss, or any logged value at an epoch's end, is NaN or Inf
    (``stopped`` says so; the epoch is then not saved: :class:`Checkpointer` asks)."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False

    def _check(self, logs, keys=None) -> None:
        values = [v for k, v in (logs or {}).items() if keys is None or k in keys]
        if any(not np.isfinite(float(v)) for v in values):
            self.stopped = True
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._check(logs, ("loss",))

    def on_epoch_end(self, epoch, logs=None) -> None:
        self._check(logs)


class Checkpointer(keras.callbacks.Callback):
    """Saves model, optimizer and epoch at the end of every finished epoch.

    An epoch cut short (Ctrl-C, SIGTERM, or a NaN loss that ``nan`` caught) is
    not saved. A save that fails (a full disk) removes its partial files and
    raises TrainingError; the previous checkpoint stays the latest. Put it
    after ``nan`` in the callback list.
    """

    def __init__(self, manager: tf.train.CheckpointManager, epoch_var: tf.Variable,
                 interrupt: SigintGuard | None = None, nan: StopOnNaN | None = None) -> None:
        super().__init__()
        self.manager, self.epoch_var, self.interrupt, self.nan = manager, epoch_var, interrupt, nan

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.interrupt is not None and self.interrupt.requested:
            return  # the epoch did not finish: its checkpoint would claim it did
        if self.nan is not None and self.nan.stopped:
            return
        previous = self.manager.latest_checkpoint
        self.epoch_var.assign(epoch + 1)
        with self.interrupt.saving() if self.interrupt else contextlib.nullcontext():
            try:
                self.manager.save(checkpoint_number=epoch + 1)
            except (tf.errors.OpError, OSError) as e:
                self.epoch_var.assign(epoch)
                _remove_checkpoint_files(self.manager.directory, epoch + 1)
                reason = os_reason(e)
                raise TrainingError(
                    f"could not save checkpoint {CHECKPOINT_PREFIX}-{epoch + 1} in {self.manager.directory}: "
                    f"{reason}. The last good checkpoint is {previous or 'none (no epoch was saved)'}; "
                    "free space (or fix the folder) and rerun the same command to resume") from None


def make_checkpoint(trainer: EnsembleTrainer, epoch_var: tf.Variable) -> tf.train.Checkpoint:
    """The run's checkpoint: the model's variables, the optimizer and the epoch counter."""
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
        raise TrainingError(f"cannot read {checkpoint_dir}: {os_reason(e)}") from None
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
    # The checkpoint's own keys: tf.train.Checkpoint has no public listing of its children.
    children = {k: v for k, v in model_variables._trackable_children().items() if k != "save_counter"}  # noqa: SLF001
    if set(saved) != set(children):
        missing, extra = sorted(set(children) - set(saved)), sorted(set(saved) - set(children))
        raise _ModelMismatch(f"{len(missing)} model variables missing from the checkpoint {missing[:3]}, "
                             f"{len(extra)} not in the model {extra[:3]}")
    reshaped = [f"{k} {list(saved[k])} vs {list(v.shape)}" for k, v in sorted(children.items())
                if hasattr(v, "shape") and tuple(v.shape) != saved[k]]
    if reshaped:
        raise _ModelMismatch(f"{len(reshaped)} model variables have other shapes in the checkpoint "
                             f"(checkpoint vs model): {'; '.join(reshaped[:2])}")


def write_checkpoint_list(checkpoint_dir: str, latest: str) -> None:
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
    write_text(path, "\n".join(lines) + "\n")


def clean_stale(model_dir: str, checkpoint_dir: str, log: Callable[[str], None]) -> None:
    """Removes what killed runs left behind: ``ckpt-N_temp/`` of a save that never finished, a
    ``ckpt-N.data-*`` whose ``.index`` never came, and
    ``*.json.tmp-<pid>`` of a JSON write by a process that is gone. Called with the run lock held."""
    stale = []
    if os.path.isdir(checkpoint_dir):
        names = os.listdir(checkpoint_dir)
        stale += [os.path.join(checkpoint_dir, n) for n in names if _CKPT_TEMP.match(n)]
        # ckpt-N.data-* without its ckpt-N.index: a save killed between its two renames; it never restores.
        stale += [os.path.join(checkpoint_dir, n) for n in names
                  if (m := _CKPT_FILE.match(n)) and m.group(2) != ".index"
                  and f"{CHECKPOINT_PREFIX}-{m.group(1)}.index" not in names]
    for name in os.listdir(model_dir):  # <name>.json.tmp-<pid> (osutil.temp_path) of a process that is gone
        m = _JSON_TEMP.match(name)
        if m and not (m.group(1) and pid_alive(int(m.group(1)))):
            stale.append(os.path.join(model_dir, name))
    for path in sorted(stale):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                continue
        log(f"removed {path}, left by an interrupted run")
