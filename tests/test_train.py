"""train.py end to end: artifacts, resume after a kill, bad input, NaN, distribution.

The finished run, the kill and the start-up noise checks run train.py in a
child process (what a user's shell sees); the other cases run its main in this
process (``kit.run_cli``), which checks the same flags, messages, exit codes and
files without a TensorFlow start-up each.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from kit import ROOT, run_cli

QUICK = ["--dataset=synthetic", "--model=hne_resnet_tiny", "--batch_size=16", "--steps_per_epoch=3",
         "--eval_examples=64", "--eval_batch_size=32"]


# One pytest-xdist worker runs this module: its module fixtures are costly to build twice.
pytestmark = pytest.mark.xdist_group("test_train")


def train(args, model_dir=None):
    """train.py's main in this process."""
    return run_cli("train.py", *args, *([f"--model_dir={model_dir}"] if model_dir is not None else []))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One finished 1-epoch run of the train.py process; tests that need one get a copy."""
    d = tmp_path_factory.mktemp("base") / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # the default level
    r = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *QUICK, "--epochs=1", f"--model_dir={d}"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    (d.parent / "stdout.txt").write_text(r.stdout)
    (d.parent / "stderr.txt").write_text(r.stderr)
    return d


@pytest.fixture
def run_copy(finished_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(finished_run, d)
    return d


def test_run_writes_everything(finished_run):
    d = finished_run
    for name in ("config.json", "eval.json", "eval.png", "checkpoints/checkpoint", "tensorboard"):
        assert (d / name).exists(), name
    result = json.loads((d / "eval.json").read_text())
    assert [p["k"] for p in result["prefixes"]] == list(range(1, 17))
    assert result["num_examples"] == 64 and result["unit"] == "MACs"
    macs = [p["macs"] for p in result["prefixes"]]
    assert macs == sorted(macs) and sum(result["anytime_step_macs"]) == macs[-1]
    assert len(result["leaf_accuracy"]) == 16
    for p in result["prefixes"]:
        assert 0 <= p["accuracy"] <= 1 and p["nll"] > 0 and 0 <= p["ece"] <= 1
    assert json.loads((d / "config.json").read_text())["loss"] == "hierarchical_distillation"


@pytest.mark.slow  # 25-30 s; test_resume_after_kill checks the curve and provenance across a kill by default
def test_validation_curve_and_provenance_survive_a_resume(tmp_path):
    """--validation_examples: one history entry per saved epoch, kept across a resume; provenance.json
    gets a session per invocation with this checkout's revision; a resume may not change the hold-out."""
    d = tmp_path / "run"
    r = train([*QUICK, "--epochs=1", "--validation_examples=64"], d)
    assert r.returncode == 0, r.stderr
    assert "epoch 1: validation accuracy" in r.stdout
    r = train([*QUICK, "--epochs=2", "--validation_examples=64"], d)
    assert r.returncode == 0, r.stderr
    result = json.loads((d / "eval.json").read_text())
    curve = result["validation_curve"]
    assert [e["epoch"] for e in curve] == [1, 2] and all(len(e["accuracy"]) == 16 for e in curve)
    assert result["validation"]["num_examples"] == 64
    assert result["validation"]["prefixes"][-1]["accuracy"] == pytest.approx(curve[-1]["accuracy"][-1])
    sessions = result["provenance"]["sessions"]
    head = subprocess.check_output(["git", "-C", ROOT, "rev-parse", "HEAD"], text=True).strip()
    assert [s["epochs"] for s in sessions] == [[0, 1], [1, 2]] and sessions[0]["revision"] == head
    assert sessions[1]["versions"]["tensorflow"] and sessions[1]["argv"][0].endswith("train.py")
    assert json.loads((d / "provenance.json").read_text()) == result["provenance"]
    r = train([*QUICK, "--epochs=3", "--validation_examples=32"], d)
    assert r.returncode == 1 and "--validation_examples=64" in r.stderr and "new --model_dir" in r.stderr
    r = train([*QUICK, "--epochs=1", "--validation_examples=5000"], tmp_path / "other")
    assert r.returncode == 1 and "--validation_examples must be an integer in [0, 2048)" in r.stderr


def test_restored_run_reproduces_its_evaluation(finished_run):
    """load_trained restores every weight, batch-norm statistics included:
    re-evaluating the restored model gives eval.json's numbers."""
    from hne_tf import data as data_lib
    from hne_tf.training import evaluate, load_trained

    saved = json.loads((finished_run / "eval.json").read_text())
    model = load_trained(str(finished_run))
    test_ds = data_lib.load("synthetic", "test", 32, take=64)
    again = evaluate(model, test_ds, verbose=0)
    for a, b in zip(saved["prefixes"], again["prefixes"], strict=True):
        assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1e-6)
        assert a["nll"] == pytest.approx(b["nll"], rel=1e-4)
    bn_means = [v for v in model.variables if "moving_mean" in v.path]
    assert bn_means and any(float(abs(v.numpy()).max()) > 0 for v in bn_means)


def test_load_trained_bad_input(run_copy, tmp_path):
    from hne_tf.training import TrainingError, load_trained

    with pytest.raises(TrainingError, match="does not exist"):
        load_trained(str(tmp_path / "nowhere"))
    with pytest.raises(TrainingError, match="no config.json"):
        load_trained(str(tmp_path))
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**config, "model": "multibranch_resnet_tiny"}))
    with pytest.raises(TrainingError, match="does not match"):
        load_trained(str(run_copy))
    (run_copy / "config.json").write_text("{not json")
    with pytest.raises(TrainingError, match="not a train.py config"):
        load_trained(str(run_copy))
    (run_copy / "config.json").write_text(json.dumps(config))
    shutil.rmtree(run_copy / "checkpoints")
    with pytest.raises(TrainingError, match="holds no checkpoint"):
        load_trained(str(run_copy))


def _latest_epoch(d):
    index = d / "checkpoints" / "checkpoint"
    if not index.exists():
        return 0
    line = index.read_text().splitlines()[0]
    return int(line.rsplit("-", 1)[1].strip('"'))


def test_resume_after_kill(tmp_path):
    """SIGKILL mid-run, then the same command: it resumes from the last checkpoint, and the validation
    curve and provenance.json carry every epoch and this checkout's revision."""
    d = tmp_path / "run"
    args = QUICK + ["--epochs=8", "--steps_per_epoch=2", "--validation_examples=64"]
    cmd = [sys.executable, os.path.join(ROOT, "train.py")] + args + [f"--model_dir={d}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 240
    while _latest_epoch(d) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _latest_epoch(d)
    assert 2 <= killed_at < 8, "the run must be killed mid-way"
    r = train(args, d)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stdout and f"(epoch {killed_at} done)" in r.stdout
    result = json.loads((d / "eval.json").read_text())
    assert result["epochs_trained"] == 8
    assert [e["epoch"] for e in result["validation_curve"]] == list(range(1, 9))
    head = subprocess.check_output(["git", "-C", ROOT, "rev-parse", "HEAD"], text=True).strip()
    sessions = result["provenance"]["sessions"]
    assert sessions[-1]["epochs"] == [killed_at, 8] and sessions[-1]["revision"] == head
    assert json.loads((d / "provenance.json").read_text()) == result["provenance"]
    # Rerunning a finished run trains nothing and evaluates again.
    again = train(args, d)
    assert again.returncode == 0 and "already done" in again.stdout


def test_unknown_flag_value_exits_nonzero(tmp_path):
    # The other bad values are checked in-process in test_training_lib.py.
    d = tmp_path / "run"
    r = train(QUICK + ["--model=resnet9000"], d)
    assert r.returncode != 0
    assert "hne_resnet_mini" in r.stderr and "resnet9000" in r.stderr
    assert not d.exists()


def test_loss_that_does_not_fit_the_model(tmp_path):
    d = tmp_path / "run"
    r = train(QUICK + ["--loss=oemc"], d)
    assert r.returncode != 0 and "oemc" in r.stderr
    assert not d.exists()


def test_missing_data_says_how_to_get_it(tmp_path):
    d = tmp_path / "run"
    r = train(["--dataset=fashion_mnist", f"--data_dir={tmp_path / 'nothing'}", "--model=hne_resnet_tiny"], d)
    assert r.returncode != 0
    assert "apt-get install dataset-fashion-mnist" in r.stderr
    assert not d.exists()


def test_other_run_in_model_dir_is_refused(run_copy):
    d = run_copy
    before = (d / "eval.json").read_text()
    r = train(QUICK + ["--epochs=1", "--loss=independent"], d)
    assert r.returncode != 0 and "new --model_dir" in r.stderr
    assert (d / "eval.json").read_text() == before


def test_checkpoint_not_matching_model(run_copy):
    d = run_copy
    config = json.loads((d / "config.json").read_text())
    config["model"] = "multibranch_resnet_tiny"
    (d / "config.json").write_text(json.dumps(config))
    r = train([a if not a.startswith("--model=") else "--model=multibranch_resnet_tiny" for a in QUICK]
              + ["--epochs=2"], d)
    assert r.returncode != 0 and "does not match" in r.stderr
    assert _latest_epoch(d) == 1


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(run_copy):
    d = run_copy
    r = train(QUICK + ["--epochs=3", "--lr=1e30", "--schedule=constant"], d)
    assert r.returncode != 0 and "NaN" in r.stderr
    assert _latest_epoch(d) == 1
    assert "ckpt-1" in r.stderr


def test_eval_only_without_checkpoint(tmp_path):
    r = train(QUICK + ["--eval_only"], tmp_path / "run")
    assert r.returncode != 0 and "checkpoint" in r.stderr


def test_bad_flag_is_one_line_without_tensorflow_noise(tmp_path):
    """What a new user sees: the error alone, naming the flag; none of TensorFlow's startup lines."""
    cmd = [sys.executable, os.path.join(ROOT, "train.py"), "--eval_examples=0", f"--model_dir={tmp_path / 'run'}"]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HNE_TF_TRACEBACK")}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert r.returncode != 0
    assert r.stderr.strip() == "train.py: error: --eval_examples must be an integer >= 1, got 0", r.stderr
    assert not (tmp_path / "run").exists()


def test_what_a_new_user_sees(finished_run):
    """No TensorFlow startup noise on stderr; one line naming the device; without a terminal,
    a line per epoch instead of a carriage-return progress bar."""
    out = (finished_run.parent / "stdout.txt").read_text()
    err = (finished_run.parent / "stderr.txt").read_text()
    assert err == "", err
    first = out.splitlines()[0]
    assert first.startswith("training on ") and ("no GPU found" in first or "GPU(s): " in first), first
    assert "\r" not in out and "\b" not in out
    assert "3/3 - " in out  # the epoch's one line (Keras prints no "Epoch 1/1" header for one epoch)


def test_stderr_filter_drops_noise_keeps_warnings(capfd, monkeypatch):
    """train.py's filter on fd 2 (hne_tf.quiet.StderrFilter), fed TensorFlow's noise and real warnings and
    errors (in this process: the filter works on the file descriptor, which pytest's capfd reads)."""
    for name in ("TF_CPP_MIN_LOG_LEVEL", "HNE_TF_TRACEBACK"):
        monkeypatch.delenv(name, raising=False)
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1795364019.373794   11889 port.cc:153] oneDNN custom operations are on.",
             "E0000 00:00:1795364019.4 11889 cuda_executor.cc:1] failed call to cuInit: INTERNAL: CUDA error",
             "E0000 00:00:1795364019.5 11889 graph.cc:1] NodeDef mentions attribute Truncate which is not in the op"]
    kept = ["W1122 16:16:12.764387 1398 checkpoint.py:234] Value in checkpoint could not be found",
            "E0000 00:00:1795364019.6 11889 allocator.cc:1] a real C++ error",
            "UserWarning: something real"]
    from hne_tf.quiet import StderrFilter as stderr_filter
    capfd.readouterr()
    f = stderr_filter().start()
    os.write(2, ("\n".join(noise + kept) + "\n").encode())
    os.write(2, b"partial, no newline")
    f.stop()
    assert capfd.readouterr().err.splitlines() == kept + ["partial, no newline"]
