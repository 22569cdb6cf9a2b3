"""Fault injection on the training side (issue 9): nothing good is lost, no tracebacks.

Each case builds a state, injects one fault (a deleted or truncated file, a
held lock, Ctrl-C, a full disk, an unwritable folder, bad input), then checks
the message, that every file that was good before is unchanged (sha256), and
that a rerun recovers. In-process wherever the fault allows; the kills run
train.py in a child process (tests/faults_util.py plants them) and are slow.
"""

import errno
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from faults_util import ROOT, checksums, dead_pid

import hne_tf
from hne_tf import data as data_lib
from hne_tf import training
from hne_tf.training import errors as training_errors
from hne_tf.training import job as training_job

QUICK = dict(dataset="synthetic", model="hne_resnet_tiny", batch_size=16, steps_per_epoch=2, eval_examples=32,
            eval_batch_size=32, lr=0.05)


# One pytest-xdist worker runs this module: its module fixtures are costly to build twice.
pytestmark = pytest.mark.xdist_group("test_faults")


def config(model_dir, **kw):
    return training.TrainConfig(model_dir=str(model_dir), **{**QUICK, "epochs": 2, **kw})


class Log(list):
    def __call__(self, text):
        self.append(str(text))

    def text(self):
        return "\n".join(self)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run with two finished epochs (ckpt-1, ckpt-2); tests take copies."""
    d = tmp_path_factory.mktemp("faults") / "run"
    training.run(config(d), log=Log())
    return d


@pytest.fixture
def run_dir(trained, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(trained, d)
    return d


def ckpt_dir(d):
    return d / "checkpoints"


# ------------------------------------------------------------ data loss: resume

@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory):
    """ckpt-1..3 of a tiny model whose weights are all 1, 2, 3 in turn; no training."""
    model = hne_tf.build_model("hne_resnet_tiny", (16, 16, 1), 4)
    epoch = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(model=model.checkpoint_variables(), epoch=epoch)
    d = tmp_path_factory.mktemp("three") / "checkpoints"
    manager = tf.train.CheckpointManager(ckpt, str(d), max_to_keep=5)
    for n in (1, 2, 3):
        for v in model.variables:
            v.assign(np.full(v.shape, float(n), v.dtype))
        epoch.assign(n)
        manager.save(checkpoint_number=n)
    return d


def _restore_copy(src, dst, damage):
    shutil.copytree(src, dst)
    damage(dst)
    before = checksums(dst)
    model = hne_tf.build_model("hne_resnet_tiny", (16, 16, 1), 4)
    epoch = tf.Variable(0, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(model=model.checkpoint_variables(), epoch=epoch)
    log = Log()
    try:
        path = training.restore(ckpt, str(dst), warn=log)
    finally:
        assert checksums(dst) == before, "restore must not change any file"
    values = {float(v.numpy().flat[0]) for v in model.variables}
    return path, int(epoch.numpy()), values, log.text()


def _truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


DAMAGE = {
    # name: (damage, checkpoint that must be restored, warning expected)
    "list file missing": (lambda d: os.remove(d / "checkpoint"), 3, False),
    "list file garbage": (lambda d: (d / "checkpoint").write_text("\x00garbage {{{"), 3, False),
    "list names a deleted checkpoint": (lambda d: [os.remove(p) for p in d.glob("ckpt-3.*")], 2, False),
    "list behind the files (killed before the list update)": (
        lambda d: (d / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n'), 3, False),
    "latest index truncated": (lambda d: _truncate(d / "ckpt-3.index", 100), 2, True),
    "latest data truncated": (lambda d: _truncate(next(d.glob("ckpt-3.data-*")), 1000), 2, True),
    "latest index missing (save killed before the merge)": (lambda d: os.remove(d / "ckpt-3.index"), 2, True),
    "two latest broken": (lambda d: (_truncate(d / "ckpt-3.index", 10),
                                     _truncate(next(d.glob("ckpt-2.data-*")), 10)), 1, True),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_restore_takes_the_newest_checkpoint_that_restores(three_checkpoints, tmp_path, case):
    damage, expected, warned = DAMAGE[case]
    path, epoch, values, warnings = _restore_copy(three_checkpoints, tmp_path / "c", damage)
    assert os.path.basename(path) == f"ckpt-{expected}"
    assert epoch == expected and values == {float(expected)}  # every variable from that checkpoint
    assert ("skipped checkpoint" in warnings and "ckpt-3" in warnings) == warned


def test_restore_refuses_when_no_checkpoint_restores(three_checkpoints, tmp_path):
    def break_all(d):
        for n in (1, 2, 3):
            _truncate(d / f"ckpt-{n}.index", 50)
    with pytest.raises(training.TrainingError, match="none of them restores.*Nothing was changed"):
        _restore_copy(three_checkpoints, tmp_path / "c", break_all)


def test_resume_without_list_file_never_starts_over(run_dir):
    """The issue's repro: rm checkpoints/checkpoint, rerun -> resumes from ckpt-2, loses nothing."""
    os.remove(ckpt_dir(run_dir) / "checkpoint")
    before = checksums(ckpt_dir(run_dir))
    log = Log()
    result = training.run(config(run_dir), log=log)
    assert f"resumed from {ckpt_dir(run_dir) / 'ckpt-2'} (epoch 2 done)" in log.text()
    assert "already done" in log.text() and result["epochs_trained"] == 2
    after = checksums(ckpt_dir(run_dir))
    assert {k: v for k, v in after.items() if k != "checkpoint"} == before
    assert tf.train.latest_checkpoint(str(ckpt_dir(run_dir))).endswith("ckpt-2")  # list file rewritten
    # ... so that the manager rotates the old checkpoints again (max_to_keep=3): ckpt-1 goes at ckpt-4.
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)), str(ckpt_dir(run_dir)), 3)
    for n in (3, 4):
        manager.save(checkpoint_number=n)
    assert sorted(p.name for p in ckpt_dir(run_dir).glob("*.index")) == ["ckpt-2.index", "ckpt-3.index",
                                                                      "ckpt-4.index"]


def test_resume_with_truncated_latest_falls_back_and_says_so(run_dir):
    _truncate(ckpt_dir(run_dir) / "ckpt-2.index", 64)
    good = checksums(ckpt_dir(run_dir))["ckpt-1.index"]
    log = Log()
    result = training.run(config(run_dir, epochs=1), log=log)
    assert "skipped checkpoint" in log.text() and "ckpt-2" in log.text()
    assert "resumed from" in log.text() and "ckpt-1 (epoch 1 done)" in log.text()
    assert result["epochs_trained"] == 1
    assert checksums(ckpt_dir(run_dir))["ckpt-1.index"] == good


def test_resume_refuses_when_no_checkpoint_restores(run_dir):
    for p in ckpt_dir(run_dir).glob("ckpt-*.index"):
        _truncate(p, 30)
    before = checksums(run_dir)
    with pytest.raises(training.TrainingError, match="none of them restores"):
        training.run(config(run_dir, epochs=3), log=Log())
    assert checksums(run_dir) == before


def test_load_trained_uses_the_same_restore(run_dir):
    os.remove(ckpt_dir(run_dir) / "checkpoint")
    _truncate(next(ckpt_dir(run_dir).glob("ckpt-2.data-*")), 100)
    model = training.load_trained(str(run_dir))  # falls back to ckpt-1 instead of failing
    reference = hne_tf.build_model("hne_resnet_tiny", (28, 28, 1), 10)
    fresh = [w.numpy() for w in reference.weights]
    tf.train.Checkpoint(model=reference.checkpoint_variables()).restore(
        str(ckpt_dir(run_dir) / "ckpt-1")).expect_partial().assert_existing_objects_matched()
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(fresh, reference.weights, strict=True))
    for ours, ref in zip(model.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


# ------------------------------------------------------------ data loss: lock

def test_second_run_on_the_same_dir_is_refused_naming_the_pid(run_dir):
    before = checksums(run_dir)
    with training.RunLock(str(run_dir)):
        with pytest.raises(training.TrainingError, match=rf"in use by another train.py \(PID {os.getpid()}\)"):
            training.run(config(run_dir), log=Log())
    assert checksums(run_dir) == before
    assert not (run_dir / training.LOCK_FILE).exists()


def test_stale_lock_of_a_killed_run_is_taken_over(run_dir):
    pid = dead_pid()
    (run_dir / training.LOCK_FILE).write_text(f"{pid} somehost\n")
    log = Log()
    training.run(config(run_dir), log=log)
    assert f"took over the lock of a run that is gone (PID {pid})" in log.text()
    assert not (run_dir / training.LOCK_FILE).exists()


# ------------------------------------------------------------ Ctrl-C, kills, leftovers

class _SigintAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch, signum=signal.SIGINT):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None
        self.signum = signum

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum, name", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_or_sigterm_stops_cleanly_and_keeps_the_checkpoints(run_dir, signum, name):
    before = checksums(ckpt_dir(run_dir))
    # Python's default_int_handler in a plain pytest run; SIG_IGN in a pytest-xdist worker.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(training.Interrupted, match=rf"interrupted \({name}\) with 2 of 4 epochs done.*ckpt-2.*resume"):
        training.run(config(run_dir, epochs=4), log=Log(), callbacks=[_SigintAt(2, 0, signum)])
    assert checksums(ckpt_dir(run_dir)) == before  # the cut epoch 3 was not saved
    assert not (run_dir / training.LOCK_FILE).exists()
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the run put back what it found


def test_leftovers_of_a_killed_save_are_cleaned(run_dir):
    # What a kill between the shard write and the merge leaves: ckpt-3_temp/, no ckpt-3.index.
    temp = ckpt_dir(run_dir) / "ckpt-3_temp"
    temp.mkdir()
    shutil.copy(next(ckpt_dir(run_dir).glob("ckpt-2.data-*")), temp / "part-00000-of-00001.data-00000-of-00001")
    (run_dir / "eval.json.tmp").write_text("{")
    dead_write = run_dir / f"eval.json.tmp-{dead_pid()}"  # osutil.temp_path of a process that is gone
    dead_write.write_text("{")
    live_write = run_dir / f"notes.json.tmp-{os.getppid()}"  # a live process's write in progress: kept
    live_write.write_text("{")
    good = checksums(ckpt_dir(run_dir))
    orphan = ckpt_dir(run_dir) / "ckpt-7.data-00000-of-00001"  # a kill between the data and the index rename
    shutil.copy(next(ckpt_dir(run_dir).glob("ckpt-2.data-*")), orphan)
    log = Log()
    training.run(config(run_dir), log=log)
    assert not temp.exists() and not (run_dir / "eval.json.tmp").exists() and not dead_write.exists()
    assert not orphan.exists() and "ckpt-7.data-00000-of-00001, left by an interrupted run" in log.text()
    assert live_write.exists()
    assert "ckpt-3_temp, left by an interrupted run" in log.text()
    assert {k: v for k, v in checksums(ckpt_dir(run_dir)).items() if k.startswith("ckpt-")} == {
        k: v for k, v in good.items() if k.startswith("ckpt-") and "_temp" not in k}


def _tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def test_disk_full_while_saving_a_checkpoint(run_dir, tmp_path, monkeypatch):
    """A real full tmpfs where one can be mounted (root), else a simulated ENOSPC from the save."""
    disk = tmp_path / "disk"
    mounted = _tmpfs(disk, "2m")
    try:
        d = disk / "run"
        shutil.copytree(run_dir, d)
        if mounted:  # leave ~40 KB: enough for config.json and logs, not for a checkpoint (~140 KB)
            free = shutil.disk_usage(disk).free
            with open(disk / "filler", "wb") as f:
                f.write(b"\0" * (free - 40_000))
        else:
            real_save = tf.train.CheckpointManager.save

            def full(self, checkpoint_number=None, **kw):
                (d / "checkpoints" / f"ckpt-{checkpoint_number}_temp").mkdir()
                raise OSError(errno.ENOSPC, "No space left on device")
            monkeypatch.setattr(tf.train.CheckpointManager, "save", full)
        before = checksums(d / "checkpoints")
        with pytest.raises(training.TrainingError, match=r"could not save checkpoint ckpt-3.*disk is full.*"
                                                         r"last good checkpoint is .*ckpt-2"):
            training.run(config(d, epochs=3), log=Log())
        after = checksums(d / "checkpoints")
        assert {k: v for k, v in after.items() if k != "checkpoint"} == {
            k: v for k, v in before.items() if k != "checkpoint"}  # no partial ckpt-3, nothing lost
        assert not list((d / "checkpoints").glob("ckpt-3*"))
        if mounted:
            os.remove(disk / "filler")
        else:
            monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
        # Space again: a rerun resumes from ckpt-2 (restore is what it calls first).
        model = hne_tf.build_model("hne_resnet_tiny", (28, 28, 1), 10)
        path = training.restore(tf.train.Checkpoint(model=model.checkpoint_variables()), str(d / "checkpoints"),
                                partial=True, warn=pytest.fail)
        assert path.endswith("ckpt-2")
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


def _train_py(args, fault=None, timeout=300):
    cmd = [sys.executable]
    cmd += [os.path.join(ROOT, "tests", "faults_util.py"), *fault, "--", "train.py"] if fault else [
        os.path.join(ROOT, "train.py")]
    return subprocess.run(cmd + args, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def _flags(d, **kw):
    return [f"--{k}={v}" for k, v in {**QUICK, "epochs": 2, "model_dir": d, **kw}.items()]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill_before_list_update", "kill_in_save"])
def test_kill_during_checkpoint_save(run_dir, fault):
    before = checksums(ckpt_dir(run_dir))
    r = _train_py(_flags(run_dir, epochs=4), fault=(fault, "3"))
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    after = checksums(ckpt_dir(run_dir))
    assert all(after.get(k) == v for k, v in before.items() if k != "checkpoint")  # nothing good lost
    log = Log()
    training.run(config(run_dir, epochs=4), log=log)
    # Killed after ckpt-3's files were complete: it is used; killed before: ckpt-2 is.
    done = 3 if fault == "kill_before_list_update" else 2
    assert f"ckpt-{done} (epoch {done} done)" in log.text()
    assert (ckpt_dir(run_dir) / "ckpt-4.index").exists()


@pytest.mark.slow
def test_ctrl_c_of_train_py_prints_one_line(run_dir):
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + _flags(run_dir, epochs=400),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = run_dir / training.LOCK_FILE
        for line in proc.stdout:
            if line.startswith("Epoch 4/"):
                break
        assert lock.read_text().split()[0] == str(proc.pid)
        with pytest.raises(training.TrainingError, match=f"PID {proc.pid}"):  # a second run is refused
            training.run(config(run_dir, epochs=400), log=Log())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().count("\n") == 0 and "interrupted (Ctrl-C)" in err and "Traceback" not in err
    assert not lock.exists()
    log = Log()
    training.run(config(run_dir, epochs=5), log=log)
    assert "resumed from" in log.text()


# ------------------------------------------------------------ tracebacks -> one clear message

def test_model_dir_that_is_a_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("keep me")
    with pytest.raises(training.TrainingError, match=r"--model_dir .*afile is a file, not a folder"):
        training.run(config(f), log=Log())
    assert f.read_text() == "keep me"


def _immutable(path):
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_model_dir_not_writable(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    really = _immutable(parent)  # root ignores modes; an immutable folder stops it
    if not really:
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(parent) else real_access(
            p, m, **kw))
    try:
        with pytest.raises(training.TrainingError, match=r"--model_dir .*ro/run: its parent .*ro is not writable"):
            training.run(config(parent / "run"), log=Log())
        assert not (parent / "run").exists()
    finally:
        if really:
            subprocess.run(["chattr", "-i", str(parent)], check=True)


@pytest.mark.parametrize("content,match", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "is not a train.py config"),
    ('{"model": "hne_resnet_tiny"}', "is not a train.py config"),
    ("\xff\xfe", "is not valid JSON"),
])
def test_hand_edited_config_json(run_dir, content, match):
    (run_dir / "config.json").write_bytes(content.encode("latin-1"))
    before = checksums(run_dir)
    with pytest.raises(training.TrainingError, match=match):
        training.run(config(run_dir, epochs=3), log=Log())
    assert checksums(run_dir) == before


def test_resume_with_changed_settings_says_what_changed_and_keeps_each_sessions(run_dir):
    """A resume may change how the run goes on (lr, batch size, epochs...), but says so in one line, and
    provenance.json keeps every session's settings, so the record of the earlier epochs is not lost."""
    log = Log()
    training.run(config(run_dir, epochs=3, lr=0.1, batch_size=8, eval_examples=16), log=log)
    line = next(t for t in log if t.startswith("resuming with changed settings"))
    changes = line.split(": ", 1)[1].split(", ")
    assert sorted(changes) == ["--batch_size 16 -> 8", "--epochs 2 -> 3", "--lr 0.05 -> 0.1"], line
    sessions = json.loads((run_dir / "provenance.json").read_text())["sessions"]
    assert [(s["settings"]["lr"], s["settings"]["epochs"]) for s in sessions[-2:]] == [(0.05, 2), (0.1, 3)]
    assert json.loads((run_dir / "config.json").read_text())["lr"] == 0.1


def test_resume_with_changed_mixed_precision_names_the_flag(run_dir):
    before = checksums(run_dir)
    try:
        with pytest.raises(training.TrainingError, match=r"trained with --mixed_precision=off, but this command "
                                                         r"has --mixed_precision=float16.*Rerun with "
                                                         r"--mixed_precision=off"):
            training.run(config(run_dir, epochs=3, mixed_precision="float16"), log=Log())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert checksums(run_dir) == before


@pytest.mark.parametrize("field,value,match", [
    ("eval_examples", 0, r"--eval_examples must be an integer >= 1, got 0"),
    ("steps_per_epoch", 0, r"--steps_per_epoch must be an integer >= 1"),
    ("eval_batch_size", 0, r"--eval_batch_size must be an integer >= 1"),
    ("batch_size", -3, r"--batch_size must be an integer >= 1"),
    ("weight_decay", -1.0, r"--weight_decay must be a number >= 0, got -1.0"),
    ("momentum", 1.0, r"--momentum must be a number in \[0, 1\), got 1.0"),
    ("momentum", -0.1, r"--momentum must be a number in \[0, 1\)"),
    ("loss_options", {"label_smoothing": 1.0}, r"--label_smoothing: .* must be a number in \[0, 1\), got 1"),
    ("rampup_epochs", -3.0, r"--rampup_epochs must be a number >= 0"),
    ("lr", float("nan"), r"--lr must be a number > 0, got nan"),
    ("weight_decay", float("inf"), r"--weight_decay must be a number >= 0, got inf"),
    ("seed", -1, r"--seed must be an integer in \[0, 4294967295\]"),
])
def test_numeric_flags_are_range_checked(tmp_path, field, value, match):
    with pytest.raises(training.TrainingError, match=match):
        training.run(config(tmp_path / "run", **{field: value}), log=Log())
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text,match", [
    ("{bad", "TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG needs "cluster"'),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "ps", "index": 0}}', 'TF_CONFIG needs "task"'),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}', r"index must be .* \[0, 0\]"),
])
def test_malformed_tf_config(tmp_path, monkeypatch, text, match):
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(training.TrainingError, match=match):
        training.run(config(tmp_path / "run", strategy="multi_worker"), log=Log())
    assert not (tmp_path / "run").exists()


def test_corrupt_fashion_mnist_gz(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("test", 32)):
        images, labels = data_lib._IDX_FILES[split]
        for stem, arr in ((images, rng.integers(0, 255, (n, 28, 28), np.uint8)),
                          (labels, rng.integers(0, 10, n, np.uint8))):
            header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
            (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(header + arr.tobytes()))
    good = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = good.read_bytes()
    cases = {"deflate stream": data[:20] + bytes([data[20] ^ 0xFF]) + data[21:],
             "truncated": data[: len(data) // 2],
             "crc": data[:-8] + b"\0" * 8}
    for what, bad in cases.items():
        good.write_bytes(bad)
        with pytest.raises(data_lib.DataError, match=r"t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip.*"
                                                     r"apt-get install --reinstall"):
            training.run(config(tmp_path / "run", dataset="fashion_mnist", data_dir=str(tmp_path)), log=Log())
        assert not (tmp_path / "run").exists(), what


def test_a_file_where_the_run_keeps_a_folder(run_dir):
    shutil.rmtree(run_dir / "tensorboard")
    (run_dir / "tensorboard").write_text("not a folder")
    before = checksums(run_dir)
    with pytest.raises(training.TrainingError, match=r"tensorboard is a file, but train.py keeps a folder there"):
        training.run(config(run_dir, epochs=3), log=Log())
    assert checksums(run_dir) == before


def test_full_disk_while_writing_json_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "eval.json"
    path.write_text('{"old": 1}')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(training.TrainingError, match=r"cannot write .*eval.json: the disk is full"):
        training_errors.write_json(str(path), {"new": 2})
    assert path.read_text() == '{"old": 1}' and os.listdir(tmp_path) == ["eval.json"]


def test_progress_without_a_terminal_is_a_line_per_interval():
    log = Log()
    progress = training_job._PeriodicProgress(epochs=3, steps=10, log=log, interval=0.0)
    progress.on_epoch_begin(1)
    progress.on_train_batch_end(4, {"loss": 1.5})
    progress.interval = 3600.0
    progress.on_train_batch_end(5, {"loss": 1.4})  # within the interval: silent
    assert len(log) == 1 and log[0].startswith("epoch 2/3: step 5/10, loss 1.5000, ")


def test_ctrl_c_during_a_checkpoint_save_lets_it_finish(run_dir, monkeypatch):
    real_save = tf.train.CheckpointManager.save

    def save(self, checkpoint_number=None, **kw):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the save runs
        return real_save(self, checkpoint_number=checkpoint_number, **kw)
    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
    with pytest.raises(training.Interrupted, match=r"with 3 of 4 epochs done.*ckpt-3"):
        training.run(config(run_dir, epochs=4), log=Log())
    monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
    assert tf.train.latest_checkpoint(str(ckpt_dir(run_dir))).endswith("ckpt-3")
    assert not (ckpt_dir(run_dir) / "ckpt-4.index").exists()  # stopped right after the save
