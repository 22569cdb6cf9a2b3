"""The converged studies: run (resuming whatever is unfinished), see where they stand, write their reports.

  python3 -m experiments list                      the studies, their arms and phases
  python3 -m experiments status                    runs done / refused / pending, with the time left
  python3 -m experiments run all [--nice=19]       every pending run in sweep order (phase, seed, study),
                                                   then every report
  python3 -m experiments run STUDY [STUDY ...]     those studies' pending runs, then their reports
  python3 -m experiments report all|STUDY ...      rewrite results/STUDY/README.md and its plot only

run all and report all also rewrite the verdicts block of the repository's README.md ("Does it pay off?"):
the runs finished and the hours left, then every study's claims with their paired 95% intervals and verdicts,
linking each report and plot. They do so only with the default --runs_dir, --results and --seeds, unless
--readme names the page to write; --readme= (empty) leaves every page alone.

Flags: --runs_dir=results/runs (shared by the studies), --seeds=0,1,2, --max_runs=N, --nice=N, --results=results,
--readme=PAGE. Relative folders are taken from the current folder.
Runs train at experiments/revisions.py's STUDY_REVISION (a git worktree under .study/); a sweep stopped by
Ctrl-C, SIGTERM or a kill resumes where it stopped when the same command is run again.
"""

import os
import subprocess
import sys
import time

from absl import app, flags

from experiments import harness
from experiments.studies import STUDIES

FLAGS = flags.FLAGS
flags.DEFINE_string("results", "results", "Folder of the study reports (results/STUDY/README.md).")
flags.DEFINE_string("runs_dir", "results/runs", "Where the train.py runs live (shared by the studies).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, comma-separated, paired across arms (at least 2 for a CI).")
flags.DEFINE_integer("max_runs", None, "Run at most N pending runs, then write the reports (resume later).")
flags.DEFINE_integer("nice", 0, "Run train.py under `nice -n N` (leave the CPU to other work).")
flags.DEFINE_string("readme", os.path.join(harness.ROOT, "README.md"),
                    "Page whose verdicts block `run all` and `report all` rewrite (every study's claims and "
                    "verdicts). By default the repository's README.md, and only with the default --runs_dir, "
                    "--results and --seeds; empty: leave it alone.")

COMMANDS = ("list", "status", "run", "report")


def _git_revision() -> str:
    try:
        return subprocess.check_output(["git", "-C", harness.ROOT, "rev-parse", "--short", "HEAD"], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _studies(names: list[str]) -> list:
    if not names:
        sys.exit(f"experiments: error: name the studies, or all; valid: {', '.join(STUDIES)}")
    if names == ["all"]:
        return list(STUDIES.values())
    unknown = [n for n in names if n not in STUDIES]
    if unknown:
        sys.exit(f"experiments: error: unknown study {unknown[0]!r}; valid: all, {', '.join(STUDIES)}")
    return [STUDIES[n] for n in names]


def _list() -> None:
    for s in STUDIES.values():
        when = "archived (never run further)" if s.archived else f"phase {s.phase}"
        print(f"{s.name:<14} {when}, {len(s.arms)} arms, about {s.minutes_per_run:.0f} min per run: {s.title}")
        for arm in s.arms:
            print(f"    {arm.name:<24} {arm.label}")


def _readme_page(studies, seeds, runs_dir) -> str | None:
    """The page whose verdicts block to rewrite now, or None: the block covers every study, so only after all
    of them were reported, and the repository's README only from the committed runs with the default seeds."""
    if not FLAGS.readme or len(studies) != len(STUDIES):
        return None
    if FLAGS["readme"].present:
        return os.path.abspath(FLAGS.readme)
    defaults = (os.path.join(harness.ROOT, "results", "runs"), os.path.join(harness.ROOT, "results"), [0, 1, 2])
    if (runs_dir, os.path.abspath(FLAGS.results), list(seeds)) != defaults:
        print("left README.md's verdicts alone: --runs_dir, --results or --seeds differ from the defaults "
              "(name a page with --readme to write one)")
        return None
    return os.path.abspath(FLAGS.readme)


def _reports(studies, seeds, runs_dir, line: str) -> None:
    for study in studies:
        out = os.path.join(FLAGS.results, study.name)
        harness.write_report(study, out, seeds, runs_dir, footer=f"\n{line}\n")
        print(f"wrote {os.path.join(out, 'README.md')}")
    readme = _readme_page(studies, seeds, runs_dir)
    if readme:
        link = os.path.relpath(os.path.abspath(FLAGS.results), os.path.dirname(readme)).replace(os.sep, "/")
        text = harness.summary(list(STUDIES.values()), seeds, runs_dir, link)
        if harness.write_summary(readme, text):
            print(f"wrote the verdicts into {readme}")


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in COMMANDS:
        sys.exit(f"experiments: error: usage: python3 -m experiments {{{'|'.join(COMMANDS)}}} [STUDY ...|all]")
    command, names = argv[1], argv[2:]
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        sys.exit(f"experiments: error: --seeds must be integers, got {','.join(FLAGS.seeds)}")
    if not seeds or len(set(seeds)) != len(seeds):
        sys.exit("experiments: error: --seeds needs distinct seeds")
    if FLAGS.max_runs is not None and FLAGS.max_runs < 1:
        sys.exit(f"experiments: error: --max_runs must be at least 1, got {FLAGS.max_runs}")
    runs_dir = os.path.abspath(FLAGS.runs_dir)  # relative to where the command was typed
    started = time.time()
    try:
        if command == "list":
            _list()
        elif command == "status":
            print(harness.status(_studies(names or ["all"]), seeds, runs_dir))
        elif command == "report":
            studies = _studies(names)
            _reports(studies, seeds, runs_dir, f"Tables and plot written from the finished runs by `python3 -m "
                     f"experiments {' '.join(argv[1:])}` at git revision {_git_revision()}.")
        else:
            studies = _studies(names)
            failures = harness.sweep(studies, seeds, runs_dir, max_runs=FLAGS.max_runs, nice=FLAGS.nice)
            _reports(studies, seeds, runs_dir, f"Written by `python3 -m experiments {' '.join(argv[1:])}` at git "
                     f"revision {_git_revision()}; that invocation ran {(time.time() - started) / 60:.1f} min.")
            if failures:
                sys.exit(f"experiments: error: {len(failures)} run(s) failed: {', '.join(failures)}")
    except harness.Interrupted as e:
        print(f"experiments: {e}", file=sys.stderr)
        sys.exit(130)
    except (harness.ExperimentError, OSError) as e:
        sys.exit(f"experiments: error: {e}")


if __name__ == "__main__":
    app.run(main)
