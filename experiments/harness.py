"""Resumable sweeps of ``train.py`` runs at a pinned code revision, and what has finished.

A study is a list of :class:`Arm` s (one configuration each) run with paired
seeds. Each (arm, seed) is one ``train.py`` run in its own ``--model_dir``,
``<runs_dir>/<arm>_s<seed>``; studies that name the same arm share its runs.

* **Pinned code.** Runs train with the code of the study's revision
  (:mod:`experiments.revisions`), from a git worktree of it under
  ``.study/`` (made once; the repository itself when it is that revision and
  clean). The harness of the checkout you run drives it, so tables and
  plots can improve while the runs stay comparable.
* **Provenance.** ``train.py`` records each session's revision in the run's
  ``provenance.json``. A run trained (even in part) at a revision the study
  does not accept, or from a dirty tree, is *refused*: never resumed, and left
  out of every table, with the reason shown by ``status``.
* **Resume.** A finished run (``eval.json``) is skipped; an unfinished one is
  rerun with the same flags, so ``train.py`` resumes it from its last
  checkpoint. Ctrl-C or SIGTERM is passed to the run as Ctrl-C, which keeps its
  checkpoints; the run is recorded as interrupted and the sweep stops.
* ``run.json`` beside ``eval.json`` keeps the flags, the wall time summed over
  attempts, the exit code and the revision.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from hne_tf import osutil, provenance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExperimentError(RuntimeError):
    """A study cannot run as asked (bad flags, a run that failed, a changed arm, a refused run)."""


class Interrupted(ExperimentError):
    """The sweep was stopped by Ctrl-C or SIGTERM; the run in progress kept its checkpoints."""


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
class Verdict:
    """One claim's outcome, as its study's report and the README's summary show it.

    ``difference`` is the text of the paired difference a − b in points with its 95% t interval
    (``PairedDifference.text``); ``verdict`` is held / did not hold / inconclusive / pending (a goal: met /
    not met / pending); ``paper`` the papers' own a − b for the comparison, with where they print it.
    """

    claim: str
    a: str
    b: str
    k: str
    difference: str
    verdict: str
    paper: str = ""


@dataclasses.dataclass(frozen=True)
class Study:
    """A named sweep: arms x seeds, the common flags, the code it trains with, and how to report it.

    ``revision`` is the commit every run trains with (None: this checkout's
    ``train.py`` as it is, for tests), ``accepted`` the revisions whose runs
    the study takes (each with why it trains like ``revision``). ``phase``
    orders a sweep of several studies: every run of phase 1, seed by seed,
    before phase 2.
    """

    name: str
    title: str
    claim: str
    arms: Sequence[Arm]
    common: dict[str, object]
    minutes_per_run: float
    report: Callable[[Study, dict[str, list[dict]]], str]
    plot: Callable[[Study, dict[str, list[dict]], str], None] | None = None
    revision: str | None = None
    accepted: Mapping[str, str] | None = None
    phase: int = 1
    max_seeds: int | None = None
    #: The study's claims judged on the finished runs (None: it states no claim, e.g. a length check).
    verdicts: Callable[[Study, dict[str, list[dict]]], list[Verdict]] | None = None
    #: A superseded study kept as a record: reported from its finished runs, never extended by a sweep,
    #: left out of the README's verdicts.
    archived: bool = False

    def budget_minutes(self, seeds: int) -> float:
        return self.minutes_per_run * len(self.arms) * seeds

    def seeds(self, seeds: Sequence[int]) -> list[int]:
        """The seeds this study runs: the first ``max_seeds`` of ``seeds`` (all when unset)."""
        return list(seeds)[:self.max_seeds] if self.max_seeds else list(seeds)


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


def run_dir(runs_dir: str, arm: Arm, seed: int) -> str:
    return os.path.join(runs_dir, f"{arm.name}_s{seed}")


def arm_flags(study: Study, arm: Arm, seed: int, model_dir: str) -> dict[str, object]:
    return {**study.common, **arm.flags, "seed": seed, "model_dir": os.path.abspath(model_dir)}


def read_json(path: str, what: str = "file") -> dict | None:
    """A JSON object from ``path``; None if absent; ExperimentError (one line) if unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as e:
        raise ExperimentError(f"{path} is not valid JSON ({e}); delete it to redo that run") from None
    except OSError as e:
        raise ExperimentError(f"cannot read {path}: {osutil.os_reason(e)}") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: expected a JSON object ({what}), got {type(data).__name__}; "
                              "delete it to redo that run")
    return data


def check_eval(path: str, data: dict) -> dict:
    """``data`` if it is a finished run's eval.json (prefixes with numeric accuracies), else ExperimentError."""
    prefixes = data.get("prefixes")
    ok = isinstance(prefixes, list) and prefixes and all(
        isinstance(p, dict) and isinstance(p.get("accuracy"), (int, float)) and not isinstance(p["accuracy"], bool)
        and math.isfinite(p["accuracy"]) for p in prefixes)
    if not ok:
        raise ExperimentError(f"{path} is not a train.py eval.json (needs 'prefixes', each with a numeric "
                              "'accuracy'); delete the run folder to redo it")
    return data


# ----------------------------------------------------------------- provenance


def refusal(study: Study, directory: str) -> str | None:
    """Why the run in ``directory`` may not count for ``study`` (None if it may).

    Every session that trained must be at an accepted revision, from a clean tree.
    """
    if study.revision is None:
        return None
    sessions = provenance.revisions(provenance.read(directory))
    if not sessions and os.path.exists(os.path.join(directory, "eval.json")):
        return "no provenance.json records where it was trained (a run from before the study protocol)"
    accepted = dict(study.accepted or {})
    accepted.setdefault(study.revision, "the study's revision")
    for revision, dirty in sessions:
        if not revision or not any(revision.startswith(r) or r.startswith(revision) for r in accepted):
            return (f"trained at revision {str(revision)[:12]}, which the study does not accept "
                    f"(experiments/revisions.py lists {', '.join(r[:12] for r in accepted)})")
        if dirty:
            return f"trained from a checkout of {revision[:12]} with uncommitted changes"
    return None


def checkout(revision: str | None, root: str = ROOT, log: Callable[[str], None] = print) -> str:
    """The folder to run ``train.py`` from for ``revision``: ``root`` itself when ``revision`` is None or
    ``root`` is that revision with no uncommitted change; otherwise a git worktree ``root/.study/REV``,
    made on first use."""
    if revision is None:
        return root

    def git(*args: str, cwd: str = root) -> str:
        try:
            return subprocess.check_output(["git", "-C", cwd, *args], text=True, stderr=subprocess.PIPE).strip()
        except (OSError, subprocess.CalledProcessError) as e:
            detail = getattr(e, "stderr", "") or str(e)
            raise ExperimentError(f"git {' '.join(args)} failed in {cwd}: {detail.strip()}") from None

    full = git("rev-parse", "--verify", f"{revision}^{{commit}}")
    if git("rev-parse", "HEAD") == full and not git("status", "--porcelain", "--untracked-files=no"):
        return root
    path = os.path.join(root, ".study", full[:12])
    if not os.path.isdir(path):
        log(f"making a checkout of the study's revision {full[:12]} in {path}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        git("worktree", "prune")
        git("worktree", "add", "--detach", path, full)
    if git("rev-parse", "HEAD", cwd=path) != full:
        raise ExperimentError(f"{path} is not at {full[:12]}; remove it (git worktree remove --force {path})")
    return path


# ----------------------------------------------------------------- running


def execute(study: Study, arm: Arm, seed: int, runs_dir: str, log: Callable[[str], None] = print,
            nice: int = 0, root: str = ROOT) -> dict | None:
    """Runs (or resumes, or skips) one run; returns its eval.json, or None if it failed.

    Raises Interrupted after Ctrl-C or SIGTERM (passed on to ``train.py`` as Ctrl-C),
    ExperimentError for a run started with other flags or a refused one.
    """
    directory = run_dir(runs_dir, arm, seed)
    flags = arm_flags(study, arm, seed, directory)
    record_path = os.path.join(directory, "run.json")
    record = read_json(record_path, "run.json") or {}
    recorded = record.get("flags")
    if isinstance(recorded, dict):
        recorded = {**recorded, "model_dir": flags["model_dir"]}  # the folder may have moved with the checkout
        if recorded != json.loads(json.dumps(flags)):
            raise ExperimentError(f"{directory} was started with other flags ({record['flags']}); this study "
                                  f"asks for {flags}. Delete the folder or rename the arm.")
    why = refusal(study, directory)
    if why:
        raise ExperimentError(f"{directory} is refused: {why}; delete the folder to redo it")
    eval_path = os.path.join(directory, "eval.json")
    done = read_json(eval_path, "eval.json")
    if done is not None:
        return check_eval(eval_path, done)
    code = checkout(study.revision, root, log)
    os.makedirs(directory, exist_ok=True)
    cmd = [sys.executable, os.path.join(code, "train.py")] + flag_args(flags)
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    log(f"[{study.name}] {arm.name} seed {seed}: {' '.join(flag_args(flags))}")
    started = time.time()
    stop: list[int] = []
    with open(os.path.join(directory, "train.log"), "a") as out:
        # Its own session: a Ctrl-C at the terminal reaches the sweep only, which passes it on once.
        child = subprocess.Popen(cmd, cwd=code, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def forward(signum, frame) -> None:
            stop.append(signum)
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            rc = child.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    record = {"flags": flags, "seconds": float(record.get("seconds") or 0.0) + time.time() - started,
              "exit_code": rc, "attempts": int(record.get("attempts") or 0) + 1,
              "revision": study.revision, "interrupted": bool(stop)}
    osutil.write_json(record_path, record)
    if stop:
        raise Interrupted(f"stopped ({signal.Signals(stop[0]).name}) during {arm.name} seed {seed}; its "
                          f"checkpoints are kept in {directory}. Rerun the same command to resume")
    if rc != 0:
        log(f"[{study.name}] {arm.name} seed {seed} FAILED (exit {rc}); see {directory}/train.log")
        return None
    log(f"[{study.name}] {arm.name} seed {seed} done in {record['seconds'] / 60:.1f} min")
    return check_eval(eval_path, read_json(eval_path, "eval.json") or {})


@dataclasses.dataclass
class Found:
    """A study's finished runs: ``evals[arm]`` (each eval.json with ``seed`` and ``wall_seconds`` added),
    and the refused ones as ``(run folder, why)``."""

    evals: dict[str, list[dict]]
    refused: list[tuple[str, str]]

    @property
    def finished(self) -> int:
        return sum(len(v) for v in self.evals.values())


def collect(study: Study, seeds: Sequence[int], runs_dir: str) -> Found:
    """The finished, accepted runs' eval.json per arm (seeds in order), and the refused ones."""
    evals, refused = {}, []
    for arm in study.arms:
        evals[arm.name] = []
        for seed in study.seeds(seeds):
            directory = run_dir(runs_dir, arm, seed)
            path = os.path.join(directory, "eval.json")
            result = read_json(path, "eval.json")
            if result is None:
                continue
            check_eval(path, result)
            why = refusal(study, directory)
            if why:
                refused.append((directory, why))
                continue
            record = read_json(os.path.join(directory, "run.json"), "run.json") or {}
            evals[arm.name].append(dict(result, seed=seed, wall_seconds=record.get("seconds"),
                                        cpus=run_cpus(directory)))
    return Found(evals, refused)


def run_cpus(directory: str) -> str:
    """The CPU model(s) a run trained on: those of its provenance.json sessions that trained an epoch, in order
    of first use, joined by " + " when a resume moved it to another machine; "unknown CPU" when none says."""
    names = [str(s["cpu"]) for s in provenance.training_sessions(provenance.read(directory)) if s.get("cpu")]
    return " + ".join(dict.fromkeys(names)) or "unknown CPU"


def cpu_summary(evals: dict[str, list[dict]]) -> str:
    """``"AMD EPYC (9 runs), Intel Xeon (2 runs)"``: the finished runs counted by the CPU(s) they trained on,
    most runs first. Wall times and the last digits of accuracies differ between CPUs (oneDNN's kernels do)."""
    counts = collections.Counter(e["cpus"] for runs in evals.values() for e in runs)
    return ", ".join(f"{cpu} ({n} run{'s' if n != 1 else ''})" for cpu, n in counts.most_common())


def plan(studies: Sequence[Study], seeds: Sequence[int]) -> list[tuple[Study, Arm, int]]:
    """Every run of ``studies`` in sweep order: by phase, then seed, then study and arm; a run shared by
    two studies appears once (under the first)."""
    order, seen = [], set()
    for phase in sorted({s.phase for s in studies}):
        for seed in seeds:
            for study in (s for s in studies if s.phase == phase and seed in s.seeds(seeds) and not s.archived):
                for arm in study.arms:
                    if (arm.name, seed) not in seen:
                        seen.add((arm.name, seed))
                        order.append((study, arm, seed))
    return order


def sweep(studies: Sequence[Study], seeds: Sequence[int], runs_dir: str, log: Callable[[str], None] = print,
          max_runs: int | None = None, nice: int = 0, root: str = ROOT) -> list[str]:
    """Runs every missing run of ``studies`` (up to ``max_runs``) in :func:`plan` order; returns the failures."""
    todo = [(s, a, seed) for s, a, seed in plan(studies, seeds)
            if not os.path.exists(os.path.join(run_dir(runs_dir, a, seed), "eval.json"))]
    log(f"{len(todo)} runs to do")
    failures = []
    for i, (study, arm, seed) in enumerate(todo):
        if max_runs is not None and i >= max_runs:
            log(f"stopping after {max_runs} runs (--max_runs); rerun to continue")
            break
        if execute(study, arm, seed, runs_dir, log, nice, root) is None:
            failures.append(f"{arm.name} seed {seed}")
    return failures


def _minutes(study: Study, arm: Arm, seeds: Sequence[int], runs_dir: str) -> float:
    """Expected minutes of one run of ``arm``: the mean wall time of its finished seeds, else of the finished
    runs of the study's arms that train the same network (``model`` and ``model_options``; the objectives
    differ little in cost), else the study's guess."""
    def finished(a: Arm) -> list[float]:
        times = []
        for seed in seeds:
            record = read_json(os.path.join(run_dir(runs_dir, a, seed), "run.json"), "run.json") or {}
            if record.get("exit_code") == 0 and isinstance(record.get("seconds"), (int, float)):
                times.append(record["seconds"] / 60)
        return times

    def network(a: Arm) -> str:
        flags = {**study.common, **a.flags}
        return json.dumps([flags.get("model"), flags.get("model_options")], sort_keys=True)

    times = finished(arm) or [t for other in study.arms if network(other) == network(arm) for t in finished(other)]
    return sum(times) / len(times) if times else study.minutes_per_run


def pending_runs(studies: Sequence[Study], seeds: Sequence[int], runs_dir: str,
                 found: Mapping[str, Found]) -> tuple[int, list[tuple[Study, Arm, int]], dict[tuple[str, int], float]]:
    """``(runs planned, the pending ones in sweep order, {(arm, seed): expected minutes} of those)``, from
    ``found`` (each study's :func:`collect`): a run any study finished is done for all that share it."""
    done = {(arm, e["seed"]) for f in found.values() for arm, evals in f.evals.items() for e in evals}
    runs = plan(studies, seeds)
    pending = [(study, arm, seed) for study, arm, seed in runs if (arm.name, seed) not in done]
    return len(runs), pending, {(arm.name, seed): _minutes(study, arm, seeds, runs_dir) for study, arm, seed in pending}


def status(studies: Sequence[Study], seeds: Sequence[int], runs_dir: str) -> str:
    """A table of every study's runs (done, refused, pending, the minutes the pending ones need), then the
    pending runs in sweep order."""
    lines = [f"{'study':<14} {'phase':>5} {'done':>5} {'of':>4} {'refused':>7} {'pending min':>11}"]
    found = {study.name: collect(study, seeds, runs_dir) for study in studies}
    _, pending, minutes = pending_runs(studies, seeds, runs_dir, found)
    for study in studies:
        own = sum(minutes.get((a.name, s), 0.0) for a in study.arms for s in study.seeds(seeds))
        total = found[study.name].finished if study.archived else len(study.arms) * len(study.seeds(seeds))
        lines.append(f"{study.name:<14} {'-' if study.archived else study.phase:>5} {found[study.name].finished:>5} "
                     f"{total:>4} {len(found[study.name].refused):>7} {own:>11.0f}"
                     + ("  (archived: never run further)" if study.archived else ""))
    lines.append(f"pending: {len(pending)} runs, about {sum(minutes.values()) / 60:.1f} h on 2 CPU cores"
                 + (" (in sweep order):" if pending else "; every study is complete"))
    for study, arm, seed in pending:
        started = os.path.exists(os.path.join(run_dir(runs_dir, arm, seed), "run.json"))
        lines.append(f"  {arm.name}_s{seed} ({study.name}, phase {study.phase}, about "
                     f"{minutes[(arm.name, seed)]:.0f} min{', started' if started else ''})")
    refused = sorted({r for f in found.values() for r in f.refused})
    if refused:
        lines.append("refused (left out of every table):")
        lines += [f"  {os.path.basename(d)}: {why}" for d, why in refused]
    return "\n".join(lines)


def write_report(study: Study, out_dir: str, seeds: Sequence[int], runs_dir: str, footer: str = "") -> str:
    """Writes ``out_dir/README.md`` (and the plot) from the finished runs; returns the report's text."""
    os.makedirs(out_dir, exist_ok=True)
    found = collect(study, seeds, runs_dir)
    text = study.report(study, found.evals)
    seeds = study.seeds(seeds)
    total = "(archived: never run further)" if study.archived else f"of {len(study.arms) * len(seeds)}"
    revision = f"revision {study.revision[:12]}" if study.revision else "this checkout"
    header = (f"# {study.title}\n\n{study.claim}\n\n"
              f"Runs finished: {found.finished} {total} (seeds {', '.join(map(str, seeds))}), trained at "
              f"{revision}. Common flags: `{' '.join(flag_args(study.common))}`.\n\n")
    if found.finished:
        header += f"CPUs the runs trained on: {cpu_summary(found.evals)}.\n\n"
    if found.refused:
        header += "Refused runs (not in the tables): " + "; ".join(
            f"`{os.path.basename(d)}` ({why})" for d, why in found.refused) + ".\n\n"
    osutil.write_text(os.path.join(out_dir, "README.md"), header + text + "\n" + footer)
    if study.plot is not None and found.finished:
        study.plot(study, found.evals, os.path.join(out_dir, f"{study.name}.png"))
    return text


# ----------------------------------------------------------------- the README's summary

SUMMARY_START = ("<!-- verdicts: written by `python3 -m experiments report all` from the finished runs; "
                 "change experiments/studies.py, not this table -->")
SUMMARY_END = "<!-- /verdicts -->"


def summary(studies: Sequence[Study], seeds: Sequence[int], runs_dir: str, results_link: str) -> str:
    """The sweep's progress, then every claim of ``studies`` with its verdict, a row each. A study's first row
    links its report and plot under ``results_link`` (the reports' folder as the page that holds the table
    sees it). A run shared by two studies counts once."""
    lines = ["| study | claim | a | b | k | a − b, points: mean [95% CI] | verdict | the paper's a − b, points |",
             "|---|---|---|---|---|---|---|---|"]
    found = {study.name: collect(study, seeds, runs_dir) for study in studies}
    for study in studies:
        if study.verdicts is None or study.archived:
            continue
        link = f"[{study.name}]({results_link}/{study.name}/README.md)"
        if study.plot is not None and found[study.name].finished:
            link += f", [plot]({results_link}/{study.name}/{study.name}.png)"
        for i, v in enumerate(study.verdicts(study, found[study.name].evals)):  # the study named on its first row
            lines.append(f"| {link if i == 0 else ''} | {v.claim} | {v.a} | {v.b} | {v.k} | {v.difference} | "
                         f"**{v.verdict}** | {v.paper or '-'} |")
    total, pending, minutes = pending_runs(studies, seeds, runs_dir, found)
    progress = (f"Runs finished: {total - len(pending)} of {total}"
                + (f"; the {len(pending)} pending need about {sum(minutes.values()) / 60:.0f} hours of 2 CPU "
                   "cores, estimated from the finished runs' wall times." if pending else "; every study is complete."))
    return progress + "\n\n" + "\n".join(lines)


def write_summary(path: str, text: str) -> bool:
    """Puts ``text`` between :data:`SUMMARY_START` and :data:`SUMMARY_END` in ``path`` (whatever was there
    goes); returns whether the file changed. ExperimentError (one line) when the markers are missing."""
    try:
        with open(path, encoding="utf-8") as f:
            page = f.read()
    except OSError as e:
        raise ExperimentError(f"cannot read {path}: {osutil.os_reason(e)}") from None
    start = page.find(SUMMARY_START)
    end = page.find(SUMMARY_END, start + len(SUMMARY_START)) if start >= 0 else -1
    if start < 0 or end < 0:
        where = "no" if start < 0 else f"no {SUMMARY_END!r} after its"
        raise ExperimentError(f"{path} has {where} {SUMMARY_START!r} line: add the two lines of the verdicts block "
                              f"({SUMMARY_START!r}, then {SUMMARY_END!r}) where the table belongs")
    new = page[:start + len(SUMMARY_START)] + "\n\n" + text + "\n\n" + page[end:]
    if new != page:
        osutil.write_text(path, new)
    return new != page
