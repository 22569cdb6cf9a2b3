"""Operating-system helpers shared by training, export and experiments: atomic file writes, a
readable OS error, bounded reads of untrusted JSON, whether a process is alive, and the CPUs this
process may use.

Plain Python: importing this module does not import TensorFlow (``export``'s publish code and
``experiments`` use it without a model).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable


def host_cpus() -> int:
    """The CPUs this process may run on (its affinity mask; the machine's count where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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


#: Bounds :func:`read_json` puts on an untrusted file before parsing it: a JSON file the project
#: reads is kilobytes deep in a few levels, and Python's parser recurses once per level.
JSON_MAX_BYTES = 16 << 20
JSON_MAX_DEPTH = 64
# A string literal, also an unterminated one (to the end): one linear pass, no backtracking.
_JSON_STRING = re.compile(r'"(?:[^"\\]+|\\.)*"?', re.S)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def parse_json(data: bytes, max_bytes: int = JSON_MAX_BYTES, max_depth: int = JSON_MAX_DEPTH) -> object:
    """``data`` (UTF-8 JSON) parsed, once its size and nesting depth are within bounds.

    Raises ValueError with a one-line reason for too many bytes, bytes that
    are not UTF-8, nesting deeper than ``max_depth`` (counted before parsing:
    ``json`` would recurse into a ``RecursionError``) and invalid JSON.
    """
    if len(data) > max_bytes:
        raise ValueError(f"{len(data):,} bytes, more than the {max_bytes:,} such a file may have")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    depth = deepest = 0
    for ch in _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if ch in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > max_depth:
            raise ValueError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: {e}") from None


def read_json(path: str, max_bytes: int = JSON_MAX_BYTES, max_depth: int = JSON_MAX_DEPTH) -> object:
    """:func:`parse_json` of the file ``path``, reading at most ``max_bytes + 1`` bytes; OSError passes through."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    return parse_json(data, max_bytes, max_depth)


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


__all__ = ["JSON_MAX_BYTES", "JSON_MAX_DEPTH", "os_reason", "parse_json", "pid_alive", "read_json",
           "replace_atomically", "temp_path", "write_json", "write_text"]
