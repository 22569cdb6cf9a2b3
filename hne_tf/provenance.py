"""Where a run came from: the code revision, the stack, the machine, the command and the time.

``train.py`` appends one *session* per invocation to ``provenance.json`` in its
``--model_dir`` (a resumed run has several), and copies the file into
``eval.json``. A study (``experiments``) reads it to refuse runs from code
that trains differently. TensorFlow-free, so the study harness can use it.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time

from hne_tf import osutil

FILE = "provenance.json"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
    try:
        return subprocess.check_output(["git", "-C", _PACKAGE_DIR, *args], text=True,
                                       stderr=subprocess.DEVNULL, timeout=20).strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_state() -> dict[str, object]:
    """``revision`` (the full commit of the checkout hne_tf runs from, or None outside git) and
    ``dirty`` (whether a tracked file differs from it; untracked files, such as run folders, do not count)."""
    revision = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if revision else None
    return {"revision": revision, "dirty": bool(status) if status is not None else None}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def session(devices: list[str] | None = None, settings: dict | None = None) -> dict[str, object]:
    """This invocation's record: git state, versions, host, CPU, accelerators, command line, settings, start time.

    ``devices``: the accelerators in use (e.g. ``["GPU:0 NVIDIA H100"]``); empty or None means CPU only.
    ``settings``: the run's flags in this session (``TrainConfig.to_json()``): a resumed run's config.json
    holds only the latest, so this is the history of its settings per segment.
    """
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None) if module else None
    return {**git_state(), "versions": versions, "host": socket.gethostname(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "devices": list(devices or []) or ["CPU"], "argv": list(sys.argv),
            "settings": settings,
            "env": {k: os.environ[k] for k in ("TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES") if k in os.environ},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": None, "epochs": None}


def read(model_dir: str) -> dict[str, object]:
    """``provenance.json`` of ``model_dir`` (``{"sessions": []}`` when absent or unreadable)."""
    try:
        with open(os.path.join(model_dir, FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {"sessions": []}
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), list):
        return {"sessions": []}
    return data


def append(model_dir: str, record: dict[str, object]) -> dict[str, object]:
    """Adds ``record`` as the newest session of ``model_dir``'s provenance; returns the whole file."""
    data = read(model_dir)
    data["sessions"].append(record)
    osutil.write_json(os.path.join(model_dir, FILE), data)
    return data


def finish(model_dir: str, seconds: float, epochs: tuple[int, int]) -> dict[str, object]:
    """Completes the newest session with its wall time and ``(first epoch, last epoch)`` trained
    (equal when it trained none); returns the whole file."""
    data = read(model_dir)
    if data["sessions"]:
        data["sessions"][-1].update(seconds=round(seconds, 1), epochs=list(epochs))
        osutil.write_json(os.path.join(model_dir, FILE), data)
    return data


def training_sessions(data: dict[str, object]) -> list[dict]:
    """The sessions of ``data`` (a provenance.json) that trained at least one epoch, oldest first."""
    out = []
    for s in data.get("sessions", []):
        if not isinstance(s, dict):
            continue
        epochs = s.get("epochs")
        if isinstance(epochs, list) and len(epochs) == 2 and epochs[0] == epochs[1]:
            continue  # evaluated only
        out.append(s)
    return out


def revisions(data: dict[str, object]) -> list[tuple[str | None, bool | None]]:
    """``(revision, dirty)`` of every session that trained at least one epoch."""
    return [(s.get("revision"), s.get("dirty")) for s in training_sessions(data)]
