"""The study harness: resume, skip, failure, flag changes and the mean ± std tables.

A stand-in train.py (written per test) records its flags and writes an
eval.json whose accuracies are known, so these tests check the harness alone;
the real train.py is covered by test_train.py.
"""

import json
import os
import textwrap

import numpy as np
import pytest

from experiments import harness
from experiments.harness import Arm, ExperimentError, Study, mean_std, run_study
from experiments.studies import STUDIES, prefix_table

FAKE_TRAIN = textwrap.dedent("""
    import json, os, sys
    flags = dict(a[2:].split("=", 1) for a in sys.argv[1:])
    d = flags["model_dir"]
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "calls.txt"), "a") as f:
        f.write(" ".join(sys.argv[1:]) + "\\n")
    if flags.get("loss") == "boom":
        sys.exit(3)
    if os.path.exists(os.path.join(d, "crash_once")):
        os.remove(os.path.join(d, "crash_once"))
        sys.exit(1)
    seed = int(flags["seed"])
    acc = [0.5 + 0.1 * k + 0.01 * seed for k in range(2)]
    json.dump({"prefixes": [{"k": k + 1, "macs": 1e6 * (k + 1), "accuracy": a, "logit_std": 0.1 * k}
                            for k, a in enumerate(acc)], "leaf_accuracy": [0.5, 0.4]},
              open(os.path.join(d, "eval.json"), "w"))
""")


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text(FAKE_TRAIN)
    monkeypatch.setattr(harness, "ROOT", str(tmp_path))
    return tmp_path


def _study(*arms):
    return Study(name="toy", title="Toy", claim="A claim.", arms=list(arms), common={"epochs": 1},
                 minutes_per_run=1, report=prefix_table)


def test_mean_std_by_hand():
    assert mean_std([0.5, 0.7]) == "60.00 ± 14.14"  # sample std of 50, 70
    assert mean_std([0.25]) == "25.00 (1 seed)"
    assert mean_std([]) == "-"


def test_runs_then_skips_finished_runs(fake_root, tmp_path):
    study = _study(Arm("a", "arm A", {"loss": "x"}))
    text = run_study(study, str(tmp_path / "out"), str(tmp_path / "runs"), [0, 1], log=lambda *_: None)
    # k=1 accuracies 0.50, 0.51 -> 50.50 ± 0.71; k=2: 0.60, 0.61 -> 60.50 ± 0.71
    assert "| arm A | 2 | 50.50 ± 0.71 | 60.50 ± 0.71 |" in text
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "Runs finished: 2 of 2" in readme and "A claim." in readme
    run_study(study, str(tmp_path / "out"), str(tmp_path / "runs"), [0, 1], log=lambda *_: None)
    calls = (tmp_path / "runs" / "a_s0" / "calls.txt").read_text().splitlines()
    assert len(calls) == 1  # the finished run was not started again
    record = json.loads((tmp_path / "runs" / "a_s0" / "run.json").read_text())
    assert record["flags"]["seed"] == 0 and record["flags"]["epochs"] == 1 and record["exit_code"] == 0


def test_unfinished_run_is_resumed_with_the_same_flags(fake_root, tmp_path):
    study = _study(Arm("a", "arm A", {"loss": "x"}))
    os.makedirs(tmp_path / "runs" / "a_s0")
    (tmp_path / "runs" / "a_s0" / "crash_once").write_text("")
    with pytest.raises(ExperimentError, match="1 run\\(s\\) failed: a seed 0"):
        run_study(study, str(tmp_path / "out"), str(tmp_path / "runs"), [0], log=lambda *_: None)
    run_study(study, str(tmp_path / "out"), str(tmp_path / "runs"), [0], log=lambda *_: None)
    calls = (tmp_path / "runs" / "a_s0" / "calls.txt").read_text().splitlines()
    assert len(calls) == 2 and calls[0] == calls[1]
    record = json.loads((tmp_path / "runs" / "a_s0" / "run.json").read_text())
    assert record["attempts"] == 2 and record["exit_code"] == 0


def test_failed_run_is_reported_and_others_still_run(fake_root, tmp_path):
    study = _study(Arm("bad", "bad", {"loss": "boom"}), Arm("good", "good", {"loss": "x"}))
    with pytest.raises(ExperimentError, match="bad seed 0"):
        run_study(study, str(tmp_path / "out"), str(tmp_path / "runs"), [0], log=lambda *_: None)
    assert (tmp_path / "runs" / "good_s0" / "eval.json").exists()
    assert "| bad | 0 | - | - |" in (tmp_path / "out" / "README.md").read_text()


def test_changed_arm_flags_are_refused(fake_root, tmp_path):
    run_study(_study(Arm("a", "A", {"loss": "x"})), str(tmp_path / "out"), str(tmp_path / "runs"), [0],
              log=lambda *_: None)
    os.remove(tmp_path / "runs" / "a_s0" / "eval.json")
    with pytest.raises(ExperimentError, match="was started with other flags"):
        run_study(_study(Arm("a", "A", {"loss": "y"})), str(tmp_path / "out"), str(tmp_path / "runs"), [0],
                  log=lambda *_: None)


@pytest.mark.parametrize("lr, ok", [(0.1, True), (0.2, False)])
def test_runs_recorded_before_lr_was_pinned_ran_with_the_old_default(fake_root, tmp_path, lr, ok):
    run_study(_study(Arm("a", "A", {"loss": "x"})), str(tmp_path / "out"), str(tmp_path / "runs"), [0],
              log=lambda *_: None)
    os.remove(tmp_path / "runs" / "a_s0" / "eval.json")
    pinned = _study(Arm("a", "A", {"loss": "x", "lr": lr}))
    if ok:  # the record names no lr: it ran with train.py's old default, 0.1
        run_study(pinned, str(tmp_path / "out"), str(tmp_path / "runs"), [0], log=lambda *_: None)
    else:
        with pytest.raises(ExperimentError, match="was started with other flags"):
            run_study(pinned, str(tmp_path / "out"), str(tmp_path / "runs"), [0], log=lambda *_: None)


def test_max_runs_stops_early(fake_root, tmp_path):
    study = _study(Arm("a", "A", {"loss": "x"}))
    run_study(study, str(tmp_path / "out"), str(tmp_path / "runs"), [0, 1, 2], max_runs=1, log=lambda *_: None)
    assert "Runs finished: 1 of 3" in (tmp_path / "out" / "README.md").read_text()


def test_shared_arms_have_identical_flags():
    """Studies share a run by its name; the same name must mean the same flags everywhere."""
    seen = {}
    for study in STUDIES.values():
        for arm in study.arms:
            flags = json.dumps({**study.common, **arm.flags}, sort_keys=True)
            assert seen.setdefault(arm.name, flags) == flags, arm.name
    assert len(STUDIES) == 6 and np.all([len(s.arms) >= 2 for s in STUDIES.values()])


def test_report_only_keeps_the_line_of_the_run_that_made_the_runs(tmp_path):
    from kit import run_cli

    out = tmp_path / "one"
    out.mkdir()
    (out / "README.md").write_text("old tables\n\nWritten by `python3 -m experiments one` at git revision abc1234; "
                                   "this invocation ran 17.2 min.\n")
    r = run_cli("experiments", "one", "--report_only", f"--out={out}", f"--runs_dir={tmp_path / 'runs'}")
    assert r.returncode == 0, r.stderr
    text = (out / "README.md").read_text()
    assert "old tables" not in text and "Runs finished: 0 of 4" in text
    assert "Written by `python3 -m experiments one` at git revision abc1234; this invocation ran 17.2 min." in text
    assert "Tables and plot rewritten from the finished runs by `python3 -m experiments one --report_only`" in text
