"""Fault injection for train.py: run it in a child process with a fault planted at a chosen point.

    python3 tests/faults_util.py FAULT N -- train.py flags...

FAULT is one of:

* ``kill_before_list_update``: SIGKILL the process while it saves checkpoint
  ``ckpt-N``, after the checkpoint files are written and before the
  ``checkpoint`` list file names it (the window CheckpointManager leaves).
* ``kill_in_save``: SIGKILL the process when it starts to save ``ckpt-N``
  (nothing of it written yet).

Helpers for the tests: :func:`checksums` of a folder, :func:`dead_pid`.
"""

import hashlib
import os
import runpy
import signal
import subprocess
import sys

from kit import ROOT


def checksums(folder) -> dict:
    """``{relative path: sha256}`` of every file under ``folder``."""
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def dead_pid() -> int:
    """The PID of a process that has exited (it is not reused this soon)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant(fault: str, number: int) -> None:
    from tensorflow.python.checkpoint import checkpoint_management as cm

    if fault == "kill_before_list_update":
        original = cm.update_checkpoint_state_internal

        def update(save_dir, model_checkpoint_path, *args, **kwargs):
            if os.path.basename(model_checkpoint_path) == f"ckpt-{number}":
                os.kill(os.getpid(), signal.SIGKILL)
            return original(save_dir, model_checkpoint_path, *args, **kwargs)
        cm.update_checkpoint_state_internal = update
    elif fault == "kill_in_save":
        original_save = cm.CheckpointManager.save

        def save(self, checkpoint_number=None, **kwargs):
            if checkpoint_number == number:
                os.kill(os.getpid(), signal.SIGKILL)
            return original_save(self, checkpoint_number=checkpoint_number, **kwargs)
        cm.CheckpointManager.save = save
    else:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    fault, number, sep, script, *flags = sys.argv[1:]
    assert sep == "--", "usage: faults_util.py FAULT N -- train.py flags..."
    sys.path.insert(0, ROOT)
    _plant(fault, int(number))
    sys.argv = [script] + flags
    runpy.run_path(os.path.join(ROOT, script), run_name="__main__")
