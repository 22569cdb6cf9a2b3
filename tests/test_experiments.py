"""The study harness: pinned revisions, provenance refusal, resume, signals, status, and the paired statistics.

A stand-in train.py (committed to a throwaway git repository per test) records its flags, writes
provenance.json with the revision it runs from, and an eval.json whose accuracies are known, so these
tests check the harness alone; the real train.py is covered by test_train.py.
"""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from experiments import harness
from experiments.harness import Arm, ExperimentError, Study
from experiments.stats import mean_std, paired_difference, t975
from experiments.studies import STUDIES, prefix_table, verdict, verdicts_of

FAKE_TRAIN = textwrap.dedent("""
    import json, os, signal, subprocess, sys, time
    flags = dict(a[2:].split("=", 1) for a in sys.argv[1:])
    d = flags["model_dir"]
    os.makedirs(d, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    revision = subprocess.check_output(["git", "-C", here, "rev-parse", "HEAD"], text=True).strip()
    dirty = bool(subprocess.check_output(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                                         text=True).strip())
    with open(os.path.join(d, "calls.txt"), "a") as f:
        f.write(" ".join(sys.argv[1:]) + "\\n")
    path = os.path.join(d, "provenance.json")
    sessions = json.load(open(path))["sessions"] if os.path.exists(path) else []
    sessions.append({"revision": revision, "dirty": dirty, "epochs": [0, 1], "version": VERSION})
    json.dump({"sessions": sessions}, open(path, "w"))
    if flags.get("loss") == "boom":
        sys.exit(3)
    if flags.get("loss") == "slow":
        def stop(signum, frame):
            open(os.path.join(d, "got_sigint"), "w").write("yes")
            sys.exit(130)
        signal.signal(signal.SIGINT, stop)
        open(os.path.join(d, "started"), "w").write("yes")
        time.sleep(60)
    if os.path.exists(os.path.join(d, "crash_once")):
        os.remove(os.path.join(d, "crash_once"))
        sys.exit(1)
    seed = int(flags["seed"])
    acc = [0.5 + 0.1 * k + 0.01 * seed for k in range(2)]
    json.dump({"prefixes": [{"k": k + 1, "macs": 1e6 * (k + 1), "accuracy": a, "logit_std": 0.1 * k}
                            for k, a in enumerate(acc)], "leaf_accuracy": [0.5, 0.4]},
              open(os.path.join(d, "eval.json"), "w"))
""")


def _git(root, *args):
    return subprocess.check_output(["git", "-C", str(root), *args], text=True).strip()


def _commit(root, version):
    (root / "train.py").write_text(FAKE_TRAIN.replace("VERSION", repr(version)))
    _git(root, "add", "train.py")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"v{version}")
    return _git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    """A git repository whose train.py is the stand-in; returns (root, first revision)."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    return root, _commit(root, 1)


def _study(revision, *arms, accepted=None):
    return Study(name="toy", title="Toy", claim="A claim.", arms=list(arms), common={"epochs": 1},
                 minutes_per_run=1, report=prefix_table, revision=revision, accepted=accepted)


def _sweep(study, runs, root, seeds=(0,), **kw):
    return harness.sweep([study], list(seeds), str(runs), log=lambda *_: None, root=str(root), **kw)


# ----------------------------------------------------------------- statistics


def test_t_quantiles_and_paired_interval_by_hand():
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(4) == 2.776
    assert abs(t975(60) - 2.000) < 0.002 and abs(t975(120) - 1.980) < 0.002
    # Per-seed differences 0.01, 0.02, 0.04: mean 0.023333, sample std 0.015275,
    # half-width 4.303 * 0.015275 / sqrt(3) = 0.037949.
    d = paired_difference({0: 0.80, 1: 0.82, 2: 0.84, 5: 0.9}, {0: 0.79, 1: 0.80, 2: 0.80})
    assert d.seeds == (0, 1, 2) and d.n == 3
    assert d.mean == pytest.approx(0.0233333, abs=1e-6) and d.std == pytest.approx(0.0152753, abs=1e-6)
    assert d.low == pytest.approx(-0.0146157, abs=1e-6) and d.high == pytest.approx(0.0612824, abs=1e-6)
    assert d.verdict() == "inconclusive" and d.text() == "+2.33 [-1.46, +6.13] (n=3)"
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 29):
        assert t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=1e-3)


def test_verdicts_follow_the_interval():
    up = paired_difference({0: 0.90, 1: 0.91, 2: 0.92}, {0: 0.88, 1: 0.885, 2: 0.90})  # +2, +2.5, +2 points
    assert up.low > 0 and verdict(up, ">") == "held" and verdict(up, "<") == "did not hold"
    assert verdict(up, "=") == "did not hold"  # wholly above the ±0.5-point band
    same = paired_difference({0: 0.900, 1: 0.901, 2: 0.902}, {0: 0.900, 1: 0.900, 2: 0.902})
    assert verdict(same, "=") == "held" and verdict(same, ">") == "inconclusive"
    assert verdict(paired_difference({0: 0.9}, {0: 0.8}), ">") == "pending"
    assert math.isnan(paired_difference({}, {0: 1.0}).mean)


def test_mean_std_by_hand():
    assert mean_std([0.5, 0.7]) == "60.00 ± 14.14"  # sample std of 50, 70
    assert mean_std([0.25]) == "25.00 (1 seed)"
    assert mean_std([]) == "-"


# ----------------------------------------------------------------- running and resuming


def test_runs_then_skips_finished_runs(repo, tmp_path):
    root, rev = repo
    study = _study(rev, Arm("a", "arm A", {"loss": "x"}))
    assert _sweep(study, tmp_path / "runs", root, seeds=(0, 1)) == []
    text = harness.write_report(study, str(tmp_path / "out"), [0, 1], str(tmp_path / "runs"))
    assert "| arm A | 2 | 50.50 ± 0.71 | 60.50 ± 0.71 |" in text  # k=1: 0.50, 0.51; k=2: 0.60, 0.61
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "Runs finished: 2 of 2" in readme and f"trained at revision {rev[:12]}" in readme
    _sweep(study, tmp_path / "runs", root, seeds=(0, 1))
    assert len((tmp_path / "runs" / "a_s0" / "calls.txt").read_text().splitlines()) == 1  # not started again
    record = json.loads((tmp_path / "runs" / "a_s0" / "run.json").read_text())
    assert record["flags"]["seed"] == 0 and record["exit_code"] == 0 and record["revision"] == rev
    assert not (root / ".study").exists()  # the repository is the study's revision: no worktree needed


def test_report_counts_the_runs_by_the_cpu_they_trained_on(repo, tmp_path):
    root, rev = repo
    study = _study(rev, Arm("a", "arm A", {"loss": "x"}))
    _sweep(study, tmp_path / "runs", root, seeds=(0, 1, 2, 3))
    for seed, cpus in ((0, ["AMD EPYC"]), (1, ["AMD EPYC"]), (2, ["AMD EPYC", "Intel Xeon", "AMD EPYC"]), (3, [])):
        path = tmp_path / "runs" / f"a_s{seed}" / "provenance.json"
        session = json.loads(path.read_text())["sessions"][0]
        path.write_text(json.dumps({"sessions": [dict(session, cpu=c) for c in cpus] or [session]}))
    harness.write_report(study, str(tmp_path / "out"), [0, 1, 2, 3], str(tmp_path / "runs"))
    readme = (tmp_path / "out" / "README.md").read_text()
    # A run resumed on another machine counts under both CPUs, in the order it used them; no CPU recorded
    # (provenance from before the field existed) is said so.
    assert ("CPUs the runs trained on: AMD EPYC (2 runs), AMD EPYC + Intel Xeon (1 run), unknown CPU (1 run)."
            in readme), readme


def test_runs_train_at_the_pinned_revision_from_a_worktree(repo, tmp_path):
    root, first = repo
    _commit(root, 2)  # the checkout moved on; the study stays on its revision
    study = _study(first, Arm("a", "A", {"loss": "x"}))
    _sweep(study, tmp_path / "runs", root)
    sessions = json.loads((tmp_path / "runs" / "a_s0" / "provenance.json").read_text())["sessions"]
    assert [(s["revision"], s["version"]) for s in sessions] == [(first, 1)]
    assert (root / ".study" / first[:12] / "train.py").exists()


def test_unfinished_run_is_resumed_with_the_same_flags(repo, tmp_path):
    root, rev = repo
    study = _study(rev, Arm("a", "arm A", {"loss": "x"}))
    os.makedirs(tmp_path / "runs" / "a_s0")
    (tmp_path / "runs" / "a_s0" / "crash_once").write_text("")
    assert _sweep(study, tmp_path / "runs", root) == ["a seed 0"]
    assert _sweep(study, tmp_path / "runs", root) == []
    calls = (tmp_path / "runs" / "a_s0" / "calls.txt").read_text().splitlines()
    assert len(calls) == 2 and calls[0] == calls[1]
    record = json.loads((tmp_path / "runs" / "a_s0" / "run.json").read_text())
    assert record["attempts"] == 2 and record["exit_code"] == 0


def test_failed_run_is_reported_and_others_still_run(repo, tmp_path):
    root, rev = repo
    study = _study(rev, Arm("bad", "bad", {"loss": "boom"}), Arm("good", "good", {"loss": "x"}))
    assert _sweep(study, tmp_path / "runs", root) == ["bad seed 0"]
    assert (tmp_path / "runs" / "good_s0" / "eval.json").exists()
    assert "| bad | 0 | - | - |" in harness.write_report(study, str(tmp_path / "out"), [0], str(tmp_path / "runs"))


def test_changed_arm_flags_are_refused(repo, tmp_path):
    root, rev = repo
    _sweep(_study(rev, Arm("a", "A", {"loss": "x"})), tmp_path / "runs", root)
    os.remove(tmp_path / "runs" / "a_s0" / "eval.json")
    with pytest.raises(ExperimentError, match="was started with other flags"):
        _sweep(_study(rev, Arm("a", "A", {"loss": "y"})), tmp_path / "runs", root)


def test_max_runs_stops_early(repo, tmp_path):
    root, rev = repo
    study = _study(rev, Arm("a", "A", {"loss": "x"}))
    _sweep(study, tmp_path / "runs", root, seeds=(0, 1, 2), max_runs=1)
    assert harness.collect(study, [0, 1, 2], str(tmp_path / "runs")).finished == 1


def test_status_estimates_an_arm_from_its_runs_then_its_studys_then_the_guess(tmp_path):
    single = Arm("d", "", {"model_options": {"branching": [1, 1]}})  # another network: not estimated from a, b, c
    study = Study("s", "", "", [Arm("a", "", {}), Arm("b", "", {}), Arm("c", "", {}), single], {}, 30, prefix_table)
    runs = tmp_path / "runs"
    for name, seconds, code in [("a_s0", 3600, 0), ("a_s1", 5400, 0), ("b_s0", 600, 1)]:
        (runs / name).mkdir(parents=True)
        (runs / name / "run.json").write_text(json.dumps({"exit_code": code, "seconds": seconds}))
    arms = {a.name: a for a in study.arms}
    assert harness._minutes(study, arms["a"], [0, 1, 2], str(runs)) == 75  # (60 + 90) / 2
    assert harness._minutes(study, arms["b"], [0, 1, 2], str(runs)) == 75  # its one run failed: the study's
    assert harness._minutes(study, arms["c"], [0, 1, 2], str(runs)) == 75
    assert harness._minutes(study, single, [0, 1, 2], str(runs)) == 30
    empty = tmp_path / "none"
    assert harness._minutes(study, arms["c"], [0], str(empty)) == 30  # nothing finished: the guess


def test_sweep_order_is_phase_then_seed_and_shared_runs_appear_once():
    one = Study("s1", "", "", [Arm("a", "", {}), Arm("b", "", {})], {}, 1, prefix_table, phase=1)
    two = Study("s2", "", "", [Arm("b", "", {}), Arm("c", "", {})], {}, 1, prefix_table, phase=2)
    order = [(s.name, a.name, seed) for s, a, seed in harness.plan([two, one], [0, 1])]
    assert order == [("s1", "a", 0), ("s1", "b", 0), ("s1", "a", 1), ("s1", "b", 1), ("s2", "c", 0), ("s2", "c", 1)]
    once = Study("s3", "", "", [Arm("d", "", {})], {}, 1, prefix_table, phase=3, max_seeds=1)
    assert [(a.name, seed) for _, a, seed in harness.plan([once], [0, 1, 2])] == [("d", 0)]


# ----------------------------------------------------------------- provenance


def test_runs_from_another_revision_are_refused_and_left_out(repo, tmp_path):
    root, first = repo
    second = _commit(root, 2)
    _sweep(_study(second, Arm("a", "A", {"loss": "x"})), tmp_path / "runs", root)  # trained at the second
    study = _study(first, Arm("a", "A", {"loss": "x"}))
    found = harness.collect(study, [0], str(tmp_path / "runs"))
    assert found.finished == 0 and "does not accept" in found.refused[0][1]
    assert "a_s0: trained at revision" in harness.status([study], [0], str(tmp_path / "runs"))
    os.remove(tmp_path / "runs" / "a_s0" / "eval.json")  # half-done: never resumed with other code
    with pytest.raises(ExperimentError, match="refused: trained at revision"):
        _sweep(study, tmp_path / "runs", root)
    (tmp_path / "runs" / "a_s0" / "eval.json").write_text(json.dumps({"prefixes": [{"accuracy": 0.5}]}))
    # Listed as training like the study's revision, it counts.
    accepting = _study(first, Arm("a", "A", {"loss": "x"}), accepted={second: "only the docs changed"})
    assert harness.collect(accepting, [0], str(tmp_path / "runs")).finished == 1


def test_runs_without_provenance_or_from_a_dirty_tree_are_refused(repo, tmp_path):
    root, rev = repo
    study = _study(rev, Arm("a", "A", {"loss": "x"}))
    _sweep(study, tmp_path / "runs", root, seeds=(0, 1))
    os.remove(tmp_path / "runs" / "a_s0" / "provenance.json")
    data = json.loads((tmp_path / "runs" / "a_s1" / "provenance.json").read_text())
    data["sessions"][0]["dirty"] = True
    (tmp_path / "runs" / "a_s1" / "provenance.json").write_text(json.dumps(data))
    reasons = dict(harness.collect(study, [0, 1], str(tmp_path / "runs")).refused)
    assert "no provenance.json" in reasons[str(tmp_path / "runs" / "a_s0")]
    assert "uncommitted changes" in reasons[str(tmp_path / "runs" / "a_s1")]


@pytest.mark.parametrize("name, content, message", [
    ("run.json", b"\xff\xfe{", "is not valid JSON"),
    ("run.json", b'"just a string"', "expected a JSON object"),
    ("eval.json", b"{}", "is not a train.py eval.json"),
    ("eval.json", b'{"prefixes": [{"accuracy": "high"}]}', "is not a train.py eval.json"),
])
def test_malformed_run_files_give_one_line(repo, tmp_path, name, content, message):
    root, rev = repo
    study = _study(rev, Arm("a", "A", {"loss": "x"}))
    _sweep(study, tmp_path / "runs", root)
    (tmp_path / "runs" / "a_s0" / name).write_bytes(content)
    for read in (lambda: harness.status([study], [0], str(tmp_path / "runs")),
                 lambda: harness.write_report(study, str(tmp_path / "out"), [0], str(tmp_path / "runs"))):
        with pytest.raises(ExperimentError, match=message) as e:
            read()
        assert "\n" not in str(e.value)


# ----------------------------------------------------------------- signals and the command line

DRIVER = textwrap.dedent("""
    import sys
    from experiments import harness
    from experiments.harness import Arm, Study
    from experiments.studies import prefix_table
    root, runs, rev = sys.argv[1:]
    study = Study("toy", "", "", [Arm("a", "", {"loss": "slow"})], {"epochs": 1}, 1, prefix_table, revision=rev)
    try:
        harness.sweep([study], [0], runs, root=root)
    except harness.Interrupted as e:
        print(f"experiments: {e}", file=sys.stderr)
        sys.exit(130)
""")


def test_sigterm_reaches_the_run_as_ctrl_c_and_is_recorded(repo, tmp_path):
    root, rev = repo
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    sweep = subprocess.Popen([sys.executable, "-c", DRIVER, str(root), str(runs), rev], env=env,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (runs / "a_s0" / "started").exists() and time.time() < deadline:
        time.sleep(0.1)
    sweep.send_signal(signal.SIGTERM)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 130 and (runs / "a_s0" / "got_sigint").exists()
    assert err.strip().count("\n") == 0 and "stopped (SIGTERM) during a seed 0" in err
    record = json.loads((runs / "a_s0" / "run.json").read_text())
    assert record["interrupted"] is True and record["exit_code"] == 130


def test_status_command_resolves_a_relative_runs_dir_against_the_callers_folder(tmp_path, monkeypatch):
    from kit import run_cli

    (tmp_path / "rel_runs" / "obj16_li_s0").mkdir(parents=True)
    (tmp_path / "rel_runs" / "obj16_li_s0" / "eval.json").write_text(json.dumps({"prefixes": [{"accuracy": 0.9}]}))
    monkeypatch.chdir(tmp_path)
    r = run_cli("experiments", "status", "--runs_dir=rel_runs", "--seeds=0")
    assert r.returncode == 0, r.stderr
    assert "pending:" in r.stdout and "obj16_ls_s0 (objectives, phase 1" in r.stdout
    assert "obj16_li_s0: no provenance.json" in r.stdout  # found there, and refused
    r = run_cli("experiments", "run", "nope")
    assert r.returncode == 1 and "unknown study 'nope'" in r.stderr


def test_shared_arms_have_identical_flags_and_every_study_is_pinned():
    """Studies share a run by its name; the same name must mean the same flags everywhere."""
    seen = {}
    for study in STUDIES.values():
        assert study.revision and study.arms  # one arm: the recipe study checks a goal, it compares nothing
        for arm in study.arms:
            flags = json.dumps({**study.common, **arm.flags}, sort_keys=True)
            assert seen.setdefault(arm.name, flags) == flags, arm.name


def test_recipe_report_gives_the_mean_and_its_interval_by_hand():
    """The 60-minute recipe's goal: mean over 3 seeds at k = 16 >= 93.5%, with a 95% t interval."""
    study = STUDIES["recipe"]

    def runs(values):
        return {"recipe60": [{"seed": s, "prefixes": [{"accuracy": 0.9}, {"accuracy": v}]}
                             for s, v in enumerate(values)]}

    # 93.1, 93.6, 94.1: mean 93.6, std 0.5, half-width 4.303 * 0.5 / sqrt(3) = 1.242
    text = study.report(study, runs([0.931, 0.936, 0.941]))
    assert "93.60% (n=3, 95% t interval [92.36, 94.84]): **met**" in text
    assert "**not met**" in study.report(study, runs([0.930, 0.934, 0.935]))  # mean 93.30
    assert "**pending: 2 of 3 seeds**" in study.report(study, runs([0.95, 0.96]))
    assert "No seed has finished." in study.report(study, {})
    # The README's summary states the goal as a claim: the mean minus 93.5, in points, with the same interval.
    (goal,) = study.verdicts(study, runs([0.931, 0.936, 0.941]))
    assert (goal.difference, goal.verdict) == ("+0.10 [-1.14, +1.34] (n=3)", "met")


def test_oemc_report_pairs_each_student_with_its_alone_run_by_hand():
    """Student s of the OEMC run (its leaf accuracy) against the run of student s alone, paired by seed."""
    study = STUDIES["oemc"]
    found = {"oemc_m3": [{"seed": s, "leaf_accuracy": [0.90 + d, 0.88, 0.85], "prefixes": [{"accuracy": 0.9}] * 3}
                         for s, d in enumerate((0.010, 0.020, 0.030))],
             "oemc_alone0": [{"seed": s, "prefixes": [{"accuracy": 0.90}]} for s in range(3)]}
    text = study.report(study, found)
    # differences 1, 2, 3 points: mean 2, std 1, half-width 4.303 / sqrt(3) = 2.484
    assert "| 0 (3/3) | 92.00 ± 1.00 | 90.00 ± 0.00 | +2.00 [-0.48, +4.48] (n=3) | **inconclusive** |" in text
    assert "| 1 (2/3) | 88.00 ± 0.00 | - | - | **pending** |" in text  # no alone run yet


# ----------------------------------------------------------------- the README's summary


def _set_accuracy(runs, name, seed, k1):
    path = runs / f"{name}_s{seed}" / "eval.json"
    data = json.loads(path.read_text())
    data["prefixes"][0]["accuracy"] = k1
    path.write_text(json.dumps(data))


def test_summary_gives_each_claim_a_row_and_counts_a_shared_run_once(repo, tmp_path):
    root, rev = repo
    a, b, c = Arm("a", "A", {"loss": "x"}), Arm("b", "B", {"loss": "y"}), Arm("c", "C", {"loss": "z"})
    claims = Study(name="claims", title="T", claim="C.", arms=[a, b], common={"epochs": 1}, minutes_per_run=1,
                   report=prefix_table, revision=rev, plot=lambda *_: None,
                   verdicts=verdicts_of([("a beats b", "a", "b", 1, ">", "+0.5 (Table 9)"),
                                         ("a matches b", "a", "b", 1, "=", "")]))
    quiet = Study(name="quiet", title="T", claim="C.", arms=[a, c], common={"epochs": 1}, minutes_per_run=1,
                  report=prefix_table, revision=rev)  # no claims: no rows, but its runs count
    runs = tmp_path / "runs"
    harness.sweep([claims, quiet], [0, 1, 2], str(runs), log=lambda *_: None, root=str(root))
    for seed, (x, y) in enumerate(((0.90, 0.89), (0.91, 0.89), (0.92, 0.89))):
        _set_accuracy(runs, "a", seed, x)
        _set_accuracy(runs, "b", seed, y)
    for name, hours in (("a", 1.0), ("b", 2.0), ("c", 3.0)):  # each arm's runs took this long
        for seed in (0, 1, 2):
            record = json.loads((runs / f"{name}_s{seed}" / "run.json").read_text())
            (runs / f"{name}_s{seed}" / "run.json").write_text(json.dumps(dict(record, seconds=hours * 3600)))
    for pending in ("a_s2", "c_s2"):
        os.remove(runs / pending / "eval.json")
    text = harness.summary([claims, quiet], [0, 1, 2], str(runs), "res")
    # 3 arms x 3 seeds, a shared by both studies; a_s2 and c_s2 pending: 1 + 3 hours by their arms' own runs
    assert text.startswith("Runs finished: 7 of 9; the 2 pending need about 4 hours of 2 CPU cores"), text
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    # a - b on seeds 0 and 1 (a_s2 is pending): 1 and 2 points -> mean 1.5, std 0.707, half-width
    # 12.706 x 0.707 / sqrt(2) = 6.353
    assert rows == ["| [claims](res/claims/README.md), [plot](res/claims/claims.png) | a beats b | A | B | 1 | "
                    "+1.50 [-4.85, +7.85] (n=2) | **inconclusive** | +0.5 (Table 9) |",
                    "|  | a matches b | A | B | 1 | +1.50 [-4.85, +7.85] (n=2) | **inconclusive** | - |"]


def test_write_summary_replaces_only_its_block_and_needs_the_markers(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{harness.SUMMARY_START}\nold table\n{harness.SUMMARY_END}\nrest\n")
    assert harness.write_summary(str(page), "new table") is True
    assert page.read_text() == f"intro\n{harness.SUMMARY_START}\n\nnew table\n\n{harness.SUMMARY_END}\nrest\n"
    assert harness.write_summary(str(page), "new table") is False  # unchanged: not rewritten
    for broken, message in (("no block here\n", "has no '<!-- verdicts"),
                            (f"{harness.SUMMARY_END}\n{harness.SUMMARY_START}\n", "has no '<!-- /verdicts -->' after")):
        bare = tmp_path / "bare.md"
        bare.write_text(broken)
        with pytest.raises(ExperimentError, match=message):
            harness.write_summary(str(bare), "table")
        assert bare.read_text() == broken  # untouched


def test_readme_verdicts_are_those_of_the_committed_runs():
    """The README's block is what `python3 -m experiments report all` writes from results/runs: rerun it
    after committing runs."""
    readme = open(os.path.join(harness.ROOT, "README.md"), encoding="utf-8").read()
    want = harness.summary(list(STUDIES.values()), [0, 1, 2], os.path.join(harness.ROOT, "results", "runs"), "results")
    assert f"{harness.SUMMARY_START}\n\n{want}\n\n{harness.SUMMARY_END}" in readme


def test_budget_one_and_ensemblenet_verdicts_name_what_they_compare_by_hand():
    """The rows the README's block shows: a, b, k and the paired difference, each by hand."""
    def runs(*values, key="accuracy"):
        return [{"seed": s, "prefixes": [{key: v, "accuracy": v, "macs": 1e6}] * 16, "leaf_accuracy": [v],
                 "teacher": {"accuracy": v + 0.01}} for s, v in enumerate(values)]

    budget = STUDIES["budget"]
    rows = budget.verdicts(budget, {"obj16_li": runs(0.91, 0.92), "single16_k4": runs(0.90, 0.90)})
    li_k4 = rows[3]  # k = 1, 4, 16, each against L_I, L_I + L_S, L_I + L_HD
    # 1 and 2 points: mean 1.5, half-width 12.706 x 0.707 / sqrt(2) = 6.353
    assert (li_k4.a, li_k4.b, li_k4.k, li_k4.difference, li_k4.verdict) == (
        "L_I", "single net at k=4's MACs", "4", "+1.50 [-4.85, +7.85] (n=2)", "inconclusive")
    assert [r.verdict for r in rows].count("pending") == 8
    one = STUDIES["one"]
    branch, teacher = one.verdicts(one, {"one_m3": runs(0.91, 0.92), "one_single": runs(0.90, 0.90)})
    assert (branch.a, branch.b, branch.difference) == ("ONE branch 1", "single network", "+1.50 [-4.85, +7.85] (n=2)")
    assert (teacher.a, teacher.difference) == ("ONE-E", "+2.50 [-3.85, +8.85] (n=2)")  # the teacher: +1 point
    enet = STUDIES["ensemblenet"]
    mu_lam, mu_single = enet.verdicts(enet, {"enet_codistill_mu3": runs(0.92, 0.93, key="accuracy_mean_probs"),
                                             "enet_ensembling_lm0.5": runs(0.91, 0.91, key="accuracy_mean_probs"),
                                             "enet_single": runs(0.90, 0.90)})
    assert (mu_lam.b, mu_lam.k, mu_lam.difference) == ("ensembling λ = -0.5", "2", "+1.50 [-4.85, +7.85] (n=2)")
    assert (mu_single.b, mu_single.k, mu_single.difference) == (
        "single network (1 head, full width)", "2 against 1", "+2.50 [-3.85, +8.85] (n=2)")


def test_report_of_other_runs_leaves_the_readme_alone(tmp_path, monkeypatch):
    from kit import run_cli

    readme = os.path.join(harness.ROOT, "README.md")
    before = open(readme, encoding="utf-8").read()
    monkeypatch.chdir(tmp_path)
    r = run_cli("experiments", "report", "all", "--runs_dir=elsewhere", "--results=out")
    assert r.returncode == 0, r.stderr
    assert "left README.md's verdicts alone" in r.stdout and (tmp_path / "out" / "recipe" / "README.md").exists()
    assert open(readme, encoding="utf-8").read() == before
    page = tmp_path / "page.md"
    page.write_text(f"{harness.SUMMARY_START}\n{harness.SUMMARY_END}\n")
    r = run_cli("experiments", "report", "all", "--runs_dir=elsewhere", "--results=out", f"--readme={page}")
    assert r.returncode == 0, r.stderr
    written = page.read_text()
    assert "Runs finished: 0 of 65" in written and "| [objectives](out/objectives/README.md) |" in written


def test_an_archived_study_is_reported_but_never_run_or_summarised(repo, tmp_path):
    root, rev = repo
    a, b = Arm("a", "A", {"loss": "x"}), Arm("b", "B", {"loss": "y"})
    live = Study(name="live", title="T", claim="C.", arms=[a], common={"epochs": 1}, minutes_per_run=1,
                 report=prefix_table, revision=rev)
    old = Study(name="old", title="Old", claim="C.", arms=[b], common={"epochs": 1}, minutes_per_run=1,
                report=prefix_table, revision=rev, archived=True, verdicts=verdicts_of([("b", "b", "b", 1, "=", "")]))
    assert [(s.name, arm.name, seed) for s, arm, seed in harness.plan([live, old], [0, 1])] == [
        ("live", "a", 0), ("live", "a", 1)]
    runs = tmp_path / "runs"
    assert harness.sweep([live, old], [0, 1], str(runs), log=lambda *_: None, root=str(root)) == []
    assert not (runs / "b_s0").exists()  # never started
    assert "archived: never run further" in harness.status([live, old], [0, 1], str(runs))
    text = harness.summary([live, old], [0, 1], str(runs), "res")
    assert text.startswith("Runs finished: 2 of 2; every study is complete.") and "[old]" not in text
    harness.write_report(old, str(tmp_path / "out"), [0, 1], str(runs))
    assert "Runs finished: 0 (archived: never run further)" in (tmp_path / "out" / "README.md").read_text()
