"""Resumable sweeps of ``train.py`` runs, and their tables and plots.

A study is a list of :class:`Arm` s (one configuration each) run with several
seeds. Each (arm, seed) is one ``train.py`` run in its own ``--model_dir``
under ``<runs_dir>/<arm>_s<seed>``. The harness:

* skips a run whose ``eval.json`` exists (finished);
* reruns an unfinished one with the same flags, so ``train.py`` resumes it from
  its last checkpoint (a sweep killed at any moment loses at most the epoch in
  progress);
* records each run's flags, wall time (summed over resumes) and exit code in
  ``run.json`` beside ``eval.json``;
* writes the study's Markdown table (mean ± std over seeds) and plots from
  whatever has finished.

Runs are shared between studies by name: two studies that name the same arm
with the same flags read the same run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from hne_tf import osutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExperimentError(RuntimeError):
    """A study cannot run as asked (bad flags, a run that failed, a changed arm)."""


@dataclasses.dataclass(frozen=True)
class Arm:
    """One configuration of a study.

    ``name`` is the run's folder stem (shared across studies), ``label`` the
    row label in tables, ``flags`` the ``train.py`` flags without ``--`` (the
    study's common flags are added unless overridden), ``group`` an optional
    column for plots (e.g. the family).
    """

    name: str
    label: str
    flags: dict[str, object]
    group: str = ""


@dataclasses.dataclass(frozen=True)
class Study:
    """A named sweep: arms x seeds, the common flags, and how to report it."""

    name: str
    title: str
    claim: str
    arms: Sequence[Arm]
    common: dict[str, object]
    minutes_per_run: float
    report: Callable[[Study, dict[str, list[dict]]], str]
    plot: Callable[[Study, dict[str, list[dict]], str], None] | None = None

    def budget_minutes(self, seeds: int) -> float:
        return self.minutes_per_run * len(self.arms) * seeds


def flag_args(flags: dict[str, object]) -> list[str]:
    args = []
    for key, value in sorted(flags.items()):
        if isinstance(value, bool):
            args.append(f"--{key}" if value else f"--no{key}")
        elif isinstance(value, (dict, list, tuple)):
            args.append(f"--{key}={json.dumps(value)}")
        else:
            args.append(f"--{key}={value}")
    return args


# train.py's defaults until the main job's change (lr 0.1, the standard augmentation): a run whose
# record does not name these flags trained with these values.
LEGACY_DEFAULTS = {"lr": 0.1, "augmentation": "standard"}


def run_dir(runs_dir: str, arm: Arm, seed: int) -> str:
    return os.path.join(runs_dir, f"{arm.name}_s{seed}")


def arm_flags(study: Study, arm: Arm, seed: int, model_dir: str) -> dict[str, object]:
    flags = {**study.common, **arm.flags, "seed": seed, "model_dir": model_dir}
    return flags


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise ExperimentError(f"{path} is not valid JSON ({e}); delete it to rerun that run") from None


def execute(study: Study, arm: Arm, seed: int, runs_dir: str, log: Callable[[str], None] = print,
            nice: int = 0) -> dict | None:
    """Runs (or resumes, or skips) one run; returns its eval.json, or None if it failed."""
    directory = run_dir(runs_dir, arm, seed)
    flags = arm_flags(study, arm, seed, directory)
    record_path = os.path.join(directory, "run.json")
    record = _read_json(record_path) or {}
    # A run recorded before a flag was pinned ran with that flag's value of the time (LEGACY_DEFAULTS).
    legacy = {k: v for k, v in LEGACY_DEFAULTS.items() if k in flags}
    recorded = {**legacy, **record["flags"]} if record.get("flags") else None
    if recorded and recorded != json.loads(json.dumps(flags)):
        raise ExperimentError(f"{directory} was started with other flags ({record['flags']}); this study asks "
                              f"for {flags}. Delete the folder or rename the arm.")
    done = _read_json(os.path.join(directory, "eval.json"))
    if done is not None:
        return done
    os.makedirs(directory, exist_ok=True)
    cmd = [sys.executable, os.path.join(ROOT, "train.py")] + flag_args(flags)
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    log(f"[{study.name}] {arm.name} seed {seed}: {' '.join(cmd[-len(flags):])}")
    started = time.time()
    with open(os.path.join(directory, "train.log"), "a") as out:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    record = {"flags": flags, "seconds": record.get("seconds", 0.0) + time.time() - started, "exit_code": rc,
              "attempts": record.get("attempts", 0) + 1}
    osutil.write_json(record_path, record)
    if rc != 0:
        log(f"[{study.name}] {arm.name} seed {seed} FAILED (exit {rc}); see {directory}/train.log")
        return None
    log(f"[{study.name}] {arm.name} seed {seed} done in {record['seconds'] / 60:.1f} min")
    return _read_json(os.path.join(directory, "eval.json"))


def collect(study: Study, seeds: Sequence[int], runs_dir: str) -> dict[str, list[dict]]:
    """The finished runs' eval.json per arm (only seeds that finished)."""
    found = {}
    for arm in study.arms:
        evals = []
        for seed in seeds:
            result = _read_json(os.path.join(run_dir(runs_dir, arm, seed), "eval.json"))
            if result is not None:
                result = dict(result, seed=seed)
                record = _read_json(os.path.join(run_dir(runs_dir, arm, seed), "run.json")) or {}
                result["wall_seconds"] = record.get("seconds")
                evals.append(result)
        found[arm.name] = evals
    return found


def mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` (sample std over seeds) of ``values * scale``; ``-`` if empty."""
    if not len(values):
        return "-"
    v = np.asarray(values, np.float64) * scale
    if len(v) == 1:
        return f"{v[0]:.{digits}f} (1 seed)"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def prefix_values(evals: list[dict], key: str = "accuracy") -> np.ndarray:
    """``[seeds, N]``: ``key`` of every prefix k = 1..N per finished seed."""
    return np.array([[p[key] for p in e["prefixes"]] for e in evals], np.float64)


def run_study(study: Study, out_dir: str, runs_dir: str, seeds: Sequence[int], log: Callable[[str], None] = print,
              max_runs: int | None = None, nice: int = 0, report_only: bool = False) -> str:
    """Runs what is missing (up to ``max_runs``), then writes ``out_dir/README.md`` and plots."""
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(runs_dir, exist_ok=True)
    todo = [(arm, seed) for seed in seeds for arm in study.arms
            if not os.path.exists(os.path.join(run_dir(runs_dir, arm, seed), "eval.json"))]
    log(f"[{study.name}] {len(study.arms)} arms x {len(seeds)} seeds; {len(todo)} runs to do; budget about "
        f"{study.budget_minutes(len(seeds)):.0f} min on 2 CPU cores ({study.minutes_per_run:.0f} min per run)")
    failures = []
    if not report_only:
        for i, (arm, seed) in enumerate(todo):
            if max_runs is not None and i >= max_runs:
                log(f"[{study.name}] stopping after {max_runs} runs (--max_runs); rerun to continue")
                break
            if execute(study, arm, seed, runs_dir, log, nice) is None:
                failures.append(f"{arm.name} seed {seed}")
    found = collect(study, seeds, runs_dir)
    text = study.report(study, found)
    finished = sum(len(v) for v in found.values())
    total = len(study.arms) * len(seeds)
    header = (f"# {study.title}\n\n{study.claim}\n\n"
              f"Runs finished: {finished} of {total} ({len(seeds)} seeds: {', '.join(map(str, seeds))}). "
              f"Common flags: `{' '.join(flag_args(study.common))}`. Budget: about {study.minutes_per_run:.0f} min "
              f"per run on 2 CPU cores, {study.budget_minutes(len(seeds)):.0f} min in all.\n\n")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(header + text + "\n")
    if study.plot is not None and finished:
        study.plot(study, found, os.path.join(out_dir, f"{study.name}.png"))
    if failures:
        raise ExperimentError(f"{len(failures)} run(s) failed: {', '.join(failures)}")
    return text
