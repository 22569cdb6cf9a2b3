"""The training errors and how an OS error reads to a user: the exceptions the job raises for a
run that cannot start or continue, and the atomic file writes that turn an OS error into one."""

from __future__ import annotations

import errno
import json
import os


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


class Interrupted(TrainingError):
    """Ctrl-C (SIGINT) stopped the run; the checkpoints are intact."""


def _os_reason(error: Exception) -> str:
    """The useful part of an OS or TensorFlow I/O error: 'No space left on device' rather than a stack."""
    text = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text:
        return "the disk is full (No space left on device)"
    return text


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
