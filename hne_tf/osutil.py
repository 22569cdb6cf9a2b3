"""Operating-system helpers shared by training, export and experiments: atomic file writes, a
readable OS error, and whether a process is alive.

Plain Python: importing this module does not import TensorFlow (``export``'s publish code and
``experiments`` use it without a model).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable


def os_reason(error: Exception) -> str:
    """The useful part of an OS or TensorFlow I/O error: 'No space left on device' rather than a stack."""
    text = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text:
        return "the disk is full (No space left on device)"
    return text


def temp_path(path: str) -> str:
    """Where :func:`replace_atomically` writes before the rename: ``<path>.tmp-<pid>``, one per process."""
    return f"{path}.tmp-{os.getpid()}"


def replace_atomically(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp_path)``, then rename over ``path``: an earlier file survives a failed write.

    Any failure (also KeyboardInterrupt) removes the temporary file and re-raises.
    """
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically, flushed to the disk before the rename; raises OSError."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    replace_atomically(path, write)


def write_json(path: str, obj: object, indent: int | None = 2) -> None:
    """Writes ``obj`` as JSON to ``path`` atomically (:func:`write_text`); raises OSError."""
    write_text(path, json.dumps(obj, indent=indent))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


__all__ = ["os_reason", "pid_alive", "replace_atomically", "temp_path", "write_json", "write_text"]
