"""The training errors: the exceptions the job raises for a run that cannot start or continue,
and the run's atomic file writes (:mod:`hne_tf.osutil`), which raise them."""

from __future__ import annotations

import json

from hne_tf import osutil


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


class Interrupted(TrainingError):
    """Ctrl-C (SIGINT) or SIGTERM stopped the run; the checkpoints are intact."""


def write_text(path: str, text: str) -> None:
    """Writes ``path`` atomically (a temporary file, then a rename); a failed write leaves the old file."""
    try:
        osutil.write_text(path, text)
    except OSError as e:
        raise TrainingError(f"cannot write {path}: {osutil.os_reason(e)}") from None


def write_json(path: str, obj: object) -> None:
    """:func:`write_text` of ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2))
