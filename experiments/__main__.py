"""Runs a study (or all of them), resuming whatever is unfinished, then writes its tables and plots.

  python3 -m experiments list
  python3 -m experiments STUDY [--out=results/STUDY] [--runs_dir=results/runs] [--seeds=0,1]
                              [--max_runs=N] [--report_only] [--nice=10]
  python3 -m experiments all --out=results

Runs live in --runs_dir (shared by studies), one train.py --model_dir each;
a killed sweep resumes where it stopped when the same command is run again.
"""

import os
import subprocess
import sys
import time

from absl import app, flags

from experiments.harness import ExperimentError, run_study
from experiments.studies import STUDIES

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output folder (default: results/STUDY, or results/ for 'all').")
flags.DEFINE_string("runs_dir", "results/runs", "Where the train.py runs live (shared by the studies).")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds, comma-separated (at least 2 for a spread).")
flags.DEFINE_integer("max_runs", None, "Run at most N missing runs, then write the report (resume later).")
flags.DEFINE_bool("report_only", False, "Only rewrite tables and plots from the finished runs.")
flags.DEFINE_integer("nice", 0, "Run train.py under `nice -n N` (leave CPU to other work).")


def _git_revision() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str]) -> None:
    usage = f"usage: python3 -m experiments {{list|all|{'|'.join(STUDIES)}}} [flags]"
    if len(argv) != 2:
        sys.exit(f"experiments: error: name one study. {usage}")
    name = argv[1]
    if name == "list":
        for s in STUDIES.values():
            print(f"{s.name:<24} {len(s.arms)} arms, about {s.minutes_per_run:.0f} min per run: {s.title}")
        return
    if name != "all" and name not in STUDIES:
        sys.exit(f"experiments: error: unknown study {name!r}; choose from list, all, {', '.join(STUDIES)}")
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        sys.exit(f"experiments: error: --seeds must be integers, got {','.join(FLAGS.seeds)}")
    if not seeds or len(set(seeds)) != len(seeds):
        sys.exit("experiments: error: --seeds needs distinct seeds")
    if FLAGS.max_runs is not None and FLAGS.max_runs < 1:
        sys.exit(f"experiments: error: --max_runs must be at least 1, got {FLAGS.max_runs}")
    chosen = list(STUDIES.values()) if name == "all" else [STUDIES[name]]
    started = time.time()
    for study in chosen:
        out = FLAGS.out or "results"
        out = os.path.join(out, study.name) if (name == "all" or FLAGS.out is None) else out
        readme = os.path.join(out, "README.md")
        kept = []  # --report_only keeps the line of the invocation that ran the runs
        if FLAGS.report_only and os.path.exists(readme):
            with open(readme) as f:
                kept = [line for line in f if line.startswith("Written by ")]
        try:
            run_study(study, out, FLAGS.runs_dir, seeds, max_runs=FLAGS.max_runs, nice=FLAGS.nice,
                      report_only=FLAGS.report_only)
        except (ExperimentError, OSError) as e:
            sys.exit(f"experiments: error: {e}")
        with open(readme, "a") as f:
            if FLAGS.report_only:  # no run here: the runs' own times are the tables' min/run column
                f.write("".join(["\n"] + kept) + f"\nTables and plot rewritten from the finished runs by "
                        f"`python3 -m experiments {' '.join(argv[1:])} --report_only` at git revision "
                        f"{_git_revision()}.\n")
            else:
                f.write(f"\nWritten by `python3 -m experiments {' '.join(argv[1:])}` at git revision "
                        f"{_git_revision()}; this invocation ran {(time.time() - started) / 60:.1f} min.\n")
        print(f"wrote {readme}")


if __name__ == "__main__":
    app.run(main)
