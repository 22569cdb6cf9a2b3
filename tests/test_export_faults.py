"""Fault injection for the export and the anytime runner (issue 9).

Each case builds a state, injects one fault (a hostile flag, a folder that
must not be replaced, a killed export's leftovers, a corrupt file, a full
disk, an unwritable folder), then asserts the one-line message and the exit
code (or the ``ExportError`` / ``ValueError`` the CLI turns into exit code 1),
that every file that was good before is unchanged (sha256 of the whole tree
before and after), and that a rerun recovers.

Full disks use a small tmpfs where this process may mount one (root on
Linux), else a simulated ``ENOSPC``; unwritable folders use ``chattr +i``
(root ignores file modes), else the case is skipped.
"""

import errno
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from faults_util import checksums as sums
from kit import ROOT, run_cli

from hne_tf.export import exporter, publish
from hne_tf.export import manifest as mf
from hne_tf.export.anytime import StoppingRule
from hne_tf.export.anytime import run as run_anytime
from hne_tf.export.exporter import ExportConfig, ExportError, run_export

# One pytest-xdist worker runs this module: its module fixtures are costly to build twice.
pytestmark = pytest.mark.xdist_group("test_export_faults")


def _quiet(*_):
    pass


def _small(run_dir, out, **kw):
    """The cheapest complete export: prefix k=1, float32, no anytime file (``log=``: where its lines go)."""
    log = kw.pop("log", _quiet)
    config = dict(model_dir=str(run_dir), out_dir=str(out), prefixes=[1], precisions=("float32",), anytime=False,
                  members=[], eval_examples=32, parity_examples=16, latency_runs=2, latency_warmup=0)
    config.update(kw)
    return run_export(ExportConfig(**config), log=log)


def _cli(module, *flags):
    """``python -m module flags`` run in this process (kit.run_cli): exit code, stdout, stderr."""
    return run_cli(module, *flags, env={"HNE_TF_TRACEBACK": None})


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def small_export(hne_run, tmp_path_factory):
    """A complete small export of the tiny HNE, to be copied (never written) by the cases."""
    out = tmp_path_factory.mktemp("faults") / "export"
    _small(hne_run, out)
    return out


@pytest.fixture
def run_copy(hne_run, tmp_path):
    """A private copy of the trained run: the parent of ``run/`` is the case's tmp_path."""
    run = tmp_path / "run"
    shutil.copytree(hne_run, run)
    return run


# ------------------------------------------------- --overwrite and --out_dir

def test_cli_refuses_out_dir_that_contains_the_run(run_copy):
    before = sums(run_copy)
    r = _cli("hne_tf.export", f"--model_dir={run_copy}", f"--out_dir={run_copy.parent}", "--overwrite")
    assert r.returncode == 1, r.stderr[-2000:]
    assert "contains --model_dir" in _last_line(r.stderr) and _last_line(r.stderr).startswith("export: error:")
    assert sums(run_copy) == before
    # Rerun with a proper --out_dir: the run is intact and exports.
    _small(run_copy, run_copy.parent / "out")
    assert mf.load(str(run_copy.parent / "out"))


@pytest.mark.parametrize("where, message", [
    ("checkpoints", "is inside --model_dir"),
    (".", "is --model_dir"),
    ("sub/deeper", "is inside --model_dir"),
])
def test_out_dir_inside_the_run_is_refused(run_copy, where, message):
    before = sums(run_copy)
    with pytest.raises(ExportError, match=message):
        _small(run_copy, run_copy / where, overwrite=True)
    assert sums(run_copy) == before


def test_overwrite_replaces_only_an_export(run_copy, small_export, tmp_path):
    # A folder of the user's own: refused, even with --overwrite.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="is not an export"):
        _small(run_copy, mine, overwrite=True)
    assert sums(mine) == {"notes.txt": hashlib.sha256(b"keep me").hexdigest()}

    # An export with a foreign file dropped into it: refused, naming the file.
    out = tmp_path / "out"
    shutil.copytree(small_export, out)
    (out / "thesis.tex").write_text("draft")
    (out / "figures").mkdir()
    before = sums(out)
    with pytest.raises(ExportError, match=r"not part of its export \(figures/, thesis.tex\)"):
        _small(run_copy, out, overwrite=True)
    assert sums(out) == before

    # A manifest.json that is not ours (another tool's): refused.
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"format": "something-else", "files": []}))
    with pytest.raises(ExportError, match="is not an export"):
        _small(run_copy, other, overwrite=True)

    # Rerun once the foreign files are moved away: the export (and the
    # runner's own result files) are replaced.
    (out / "thesis.tex").unlink()
    (out / "figures").rmdir()
    (out / "anytime_eval_float32.json").write_text("{}")
    old_created = json.loads((out / "manifest.json").read_text())["created"]
    _small(run_copy, out, overwrite=True, prefixes=[2])
    manifest = mf.load(str(out))
    assert [f["k"] for f in manifest["files"]] == [2]
    assert old_created <= manifest["created"]
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p or ".old-" in p]


# --------------------------------------------------------------- leftovers

def _hold_stage_lock(out, tag):
    """What a live export holds: the flock on ``<out>.partial-<tag>.lock`` (released by closing the fd)."""
    fd = os.open(f"{out}.partial-{tag}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_stale_staging_folders_of_dead_exports_are_removed(run_copy, small_export, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(small_export, out)
    dead = _dead_pid()
    stale = tmp_path / f"out.partial-{dead}"
    stale.mkdir()
    (stale / "prefix_k01_float32.tflite").write_bytes(b"\0" * 4096)
    (tmp_path / f"out.partial-{dead}.lock").write_text(f"{dead} host\n")  # its lock file, no longer locked
    stale_old = tmp_path / f"out.old-{_dead_pid()}"
    shutil.copytree(small_export, stale_old)
    # A running export's folder is judged by its lock, not by its PID: never touched, even when the PID in
    # its name means nothing here (an export in another PID namespace).
    busy = [str(os.getppid()), str(_dead_pid())]
    for tag in busy:
        (tmp_path / f"out.partial-{tag}").mkdir()
        (tmp_path / f"out.partial-{tag}" / "x").write_text("in progress")
    fds = [_hold_stage_lock(out, tag) for tag in busy]
    before = sums(out)
    try:
        with pytest.raises(ExportError, match="already holds files"):  # no --overwrite: the export itself stops
            _small(run_copy, out)
        assert not stale.exists() and not stale_old.exists()
        assert not (tmp_path / f"out.partial-{dead}.lock").exists()
        for tag in busy:
            assert (tmp_path / f"out.partial-{tag}" / "x").read_text() == "in progress"
        assert sums(out) == before
    finally:
        for fd in fds:
            os.close(fd)


def test_export_in_another_pid_namespace_leaves_a_live_stage_alone(run_copy, tmp_path):
    """Issue 23: ``unshare --pid --fork --mount-proc python3 -m export ... --precisions=bogus`` deleted a live
    export's staging folder, whose PID does not exist in the new namespace. The lock the live export holds
    keeps it."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                                                          capture_output=True).returncode != 0:
        pytest.skip("cannot create a PID namespace here")
    out = tmp_path / "out"
    live = tmp_path / f"out.partial-{os.getpid()}"  # this process plays the live export
    live.mkdir()
    (live / "prefix_k01_float32.tflite").write_bytes(b"\1" * 1024)
    fd = _hold_stage_lock(out, os.getpid())
    dead = tmp_path / f"out.partial-{_dead_pid()}"  # and a dead one, which the other namespace does clean up
    dead.mkdir()
    try:
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "hne_tf.export",
                            f"--model_dir={run_copy}", f"--out_dir={out}", "--precisions=bogus"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1 and "unknown precision(s) 'bogus'" in _last_line(r.stderr), r.stderr[-2000:]
        assert (live / "prefix_k01_float32.tflite").read_bytes() == b"\1" * 1024
        assert not dead.exists()
    finally:
        os.close(fd)


# ------------------------------------------------------ --out_dir re-checked at publish

def _export_with_hook(run_dir, out, hook, **kw):
    """``_small`` with ``hook()`` run in the middle of the export (after every file is measured, before the
    timing and the publish): the moment another process acts on --out_dir."""
    real = exporter._time_files

    def timed(*args, **kwargs):
        hook()
        return real(*args, **kwargs)
    exporter._time_files = timed
    try:
        return _small(run_dir, out, **kw)
    finally:
        exporter._time_files = real


def test_folder_created_mid_export_is_never_replaced(run_copy, tmp_path):
    """Issue 23: ``mkdir OUT; echo notes > OUT/notes.txt`` while the export runs: refused at publish, with and
    without --overwrite, and notes.txt survives."""
    out = tmp_path / "out"

    def user_makes_a_folder():
        assert [p for p in os.listdir(tmp_path) if p.startswith("out.partial-")]  # the export is under way
        out.mkdir(exist_ok=True)
        (out / "notes.txt").write_text("notes\n")

    for overwrite, message in [(False, "appeared or filled while this export ran"),
                               (True, r"changed while this export ran\) is not an export")]:
        shutil.rmtree(out, ignore_errors=True)  # --out_dir is free when the export starts
        with pytest.raises(ExportError, match=message) as info:
            _export_with_hook(run_copy, out, user_makes_a_folder, overwrite=overwrite)
        assert "\n" not in str(info.value) and "nothing was published" in str(info.value)
        assert sums(out) == {"notes.txt": hashlib.sha256(b"notes\n").hexdigest()}
        assert not [p for p in os.listdir(tmp_path) if ".partial-" in p or ".old-" in p]


def test_two_exports_into_one_new_out_dir_do_not_both_succeed(run_copy, small_export, tmp_path):
    """Issue 23: two exports to the same new --out_dir, started 2 s apart: the one that publishes second is
    refused without --overwrite, and the first export stays (with --overwrite it would replace that export
    only: test_publish_rechecks_out_dir_atomically)."""
    out = tmp_path / "out"

    def another_export_publishes():
        shutil.copytree(small_export, out)  # what the other export's publish leaves

    with pytest.raises(ExportError, match="appeared or filled while this export ran"):
        _export_with_hook(run_copy, out, another_export_publishes, prefixes=[2])
    assert sums(out) == sums(small_export)
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p or ".old-" in p]


def test_publish_rechecks_out_dir_atomically(tmp_path, small_export):
    """publish() on its own: what it does with each state --out_dir can reach while an export runs."""
    out = tmp_path / "out"

    def staged():
        stage = publish.Stage(str(out))
        for name in os.listdir(small_export):
            shutil.copy(small_export / name, stage.path)
        return stage

    first, second = staged(), staged()
    assert first.path != second.path  # one process, two live stages: each has its own name and lock
    out.mkdir()  # an empty folder that appeared is no loss: the export moves in
    publish.publish(first, overwrite=False)
    first.close()
    with pytest.raises(publish.PublishError, match="appeared or filled"):
        publish.publish(second, overwrite=False)
    assert os.path.isdir(second.path) and sums(out) == sums(small_export)
    (out / "extra.txt").write_text("mine")  # an export that gained a foreign file: swapped back, untouched
    before = sums(out)
    with pytest.raises(publish.PublishError, match=r"not part of its export \(extra.txt\)"):
        publish.publish(second, overwrite=True)
    assert sums(out) == before and sums(second.path) == sums(small_export)
    (out / "extra.txt").unlink()
    publish.publish(second, overwrite=True)
    second.close()
    assert sums(out) == sums(small_export)
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no stage, old folder or lock file left


@pytest.fixture(scope="module")
def newer_export(hne_run, tmp_path_factory):
    """Another complete small export (prefix k=2, so its files differ from ``small_export``'s), to be copied."""
    out = tmp_path_factory.mktemp("faults") / "newer"
    _small(hne_run, out, prefixes=[2])
    return out


@pytest.mark.parametrize("new_export_complete", [True, False])
def test_publish_killed_between_its_renames_is_finished_or_rolled_back(run_copy, small_export, newer_export,
                                                                       tmp_path, new_export_complete):
    """The state a kill between ``out -> out.old-PID`` and ``out.partial-PID -> out`` leaves."""
    pid = _dead_pid()
    old = tmp_path / f"out.old-{pid}"
    shutil.copytree(small_export, old)
    old_sums = sums(old)
    partial = tmp_path / f"out.partial-{pid}"
    shutil.copytree(newer_export, partial)
    if not new_export_complete:
        (partial / "manifest.json").unlink()  # killed before the staging folder was complete
    new_sums = sums(partial)
    out = tmp_path / "out"
    messages = []
    with pytest.raises(ExportError, match="already holds files"):
        run_export(ExportConfig(model_dir=str(run_copy), out_dir=str(out)), log=messages.append)
    assert sums(out) == (new_sums if new_export_complete else old_sums)
    assert any(("finished the publish" if new_export_complete else "restored the previous export") in m
               for m in messages), messages
    assert not old.exists() and not partial.exists()


def test_publish_swaps_atomically(tmp_path):
    """With a previous export, one exchange: there is no moment without --out_dir."""
    out, stage = tmp_path / "out", tmp_path / "stage"
    out.mkdir()
    (out / "manifest.json").write_text("old")
    stage.mkdir()
    (stage / "manifest.json").write_text("new")
    assert publish._exchange(str(stage), str(out)), "renameat2(RENAME_EXCHANGE) unavailable here"
    assert (out / "manifest.json").read_text() == "new" and (stage / "manifest.json").read_text() == "old"


@pytest.mark.slow  # ~30 s: a real export process, killed while it writes
def test_export_killed_mid_run_keeps_the_old_export(run_copy, small_export, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(small_export, out)
    before = sums(out)
    p = subprocess.Popen([sys.executable, "-m", "hne_tf.export", f"--model_dir={run_copy}", f"--out_dir={out}",
                          "--overwrite", "--precisions=float32", "--prefixes=1,2,4", "--noanytime",
                          "--eval_examples=64", "--latency_runs=5"], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    partial = tmp_path / f"out.partial-{p.pid}"
    deadline = time.time() + 240
    while time.time() < deadline and not (partial.exists() and os.listdir(partial)):
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert partial.exists(), "the export never reached its staging folder"
    assert sums(out) == before
    _small(run_copy, out, overwrite=True)  # the rerun cleans up and publishes
    assert not partial.exists()
    mf.load(str(out))


# --------------------------------------------------------------- full disk

def _mount_tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def _fill(folder, leave=0):
    """Fills the file system of ``folder`` up to ``leave`` bytes."""
    chunk = b"\0" * 65536
    with open(os.path.join(folder, "filler"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    if leave:
        with open(os.path.join(folder, "filler"), "r+b") as f:
            f.truncate(max(0, os.path.getsize(os.path.join(folder, "filler")) - leave))


def test_disk_full_while_exporting_keeps_the_previous_export(run_copy, small_export, tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "4m")
    try:
        if not mounted:
            disk.mkdir(exist_ok=True)
        out = disk / "out"
        shutil.copytree(small_export, out)
        before = sums(out)
        if mounted:
            _fill(disk, leave=8192)
        else:  # simulated: the second file written hits ENOSPC
            real = exporter._write
            calls = []

            def full(stage, name, buf):
                calls.append(name)
                if len(calls) > 1:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(stage, name))
                return real(stage, name, buf)
            monkeypatch.setattr(exporter, "_write", full)
        with pytest.raises(ExportError, match="disk full") as info:
            _small(run_copy, out, overwrite=True, prefixes=[1, 2])
        assert "unchanged" in str(info.value) and "\n" not in str(info.value)
        assert sums(out) == before
        assert not [p for p in os.listdir(disk) if ".partial-" in p]
        # Space again: the rerun exports.
        if mounted:
            os.remove(disk / "filler")
        else:
            monkeypatch.setattr(exporter, "_write", real)
        _small(run_copy, out, overwrite=True, prefixes=[1, 2])
        assert [f["k"] for f in mf.load(str(out))["files"]] == [1, 2]
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


# ------------------------------------------------------- unwritable folders

def _immutable(path) -> bool:
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_unwritable_export_parent_is_reported_before_any_work(run_copy, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    if not _immutable(parent):
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(ExportError, match="cannot create .* the folder that holds --out_dir must be writable"):
            _small(run_copy, parent / "out")
    finally:
        subprocess.run(["chattr", "-i", str(parent)], check=True)
    assert os.listdir(parent) == []
    _small(run_copy, parent / "out")


def test_runner_output_not_writable_fails_before_the_run(hne_export, tmp_path):
    out, _ = hne_export
    results = tmp_path / "results"
    results.mkdir()
    (results / "eval.json").write_text('{"earlier": true}')
    before = sums(results)
    if not _immutable(results):
        pytest.skip("chattr +i is not available here")
    try:
        started = time.time()
        with pytest.raises(ValueError, match=r"--output .*: cannot write to .*results"):
            run_anytime(str(out / "manifest.json"), output=str(results / "eval"), log=_quiet)
        assert time.time() - started < 2  # refused before loading the model or the data
    finally:
        subprocess.run(["chattr", "-i", str(results)], check=True)
    assert sums(results) == before
    file_in_the_way = tmp_path / "a_file"
    file_in_the_way.write_text("x")
    with pytest.raises(ValueError, match="a_file is a file, not a folder"):
        run_anytime(str(out / "manifest.json"), output=str(file_in_the_way / "eval"), log=_quiet)
    result = run_anytime(str(out / "manifest.json"), output=str(results / "eval"), num_images=8, log=_quiet)
    assert json.loads((results / "eval.json").read_text())["num_images"] == result["num_images"] == 8


def test_runner_disk_full_keeps_earlier_results(hne_export, tmp_path, monkeypatch):
    out, _ = hne_export
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "1m")
    try:
        if not mounted:
            disk.mkdir(exist_ok=True)
        (disk / "eval.json").write_text('{"earlier": true}')
        before = sums(disk)
        if mounted:
            _fill(disk)  # an empty probe file still fits (check_output passes); the results do not
        else:
            from hne_tf import osutil

            def full(path, write):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            monkeypatch.setattr(osutil, "replace_atomically", full)
        with pytest.raises(OSError) as info:
            run_anytime(str(out / "manifest.json"), output=str(disk / "eval"), num_images=4, log=_quiet)
        assert info.value.errno == errno.ENOSPC
        assert {k: v for k, v in sums(disk).items() if k != "filler"} == before
        assert not [p for p in os.listdir(disk) if ".tmp-" in p]
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


def test_runner_cli_disk_full_message(hne_export, tmp_path):
    out, _ = hne_export
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        (disk / "eval.json").write_text('{"earlier": true}')
        _fill(disk)
        r = _cli("hne_tf.export.anytime", f"--manifest={out / 'manifest.json'}", "--num_images=4",
                 f"--output={disk / 'eval'}")
        assert r.returncode == 1 and "disk full" in _last_line(r.stderr), r.stderr[-2000:]
        assert "earlier results there are unchanged" in _last_line(r.stderr)
        assert (disk / "eval.json").read_text() == '{"earlier": true}'
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# ------------------------------------------------------- bad runner input

def test_runner_rejects_counts_it_cannot_honour(hne_export):
    out, _ = hne_export
    manifest = str(out / "manifest.json")
    for kwargs, message in [
        (dict(rule=StoppingRule("leaves", 17)), "--leaves=17: the anytime file has only 16 leaves"),
        (dict(num_images=0), "--num_images must be an integer >= 1, got 0"),
        (dict(num_images=-3), "--num_images must be an integer >= 1"),
        (dict(threads=0), "--threads must be an integer >= 1"),
        (dict(num_images=10 ** 7), "--num_images=10000000: the synthetic test split has only"),
    ]:
        with pytest.raises(ValueError, match=message):
            run_anytime(manifest, log=_quiet, **kwargs)
    from hne_tf.export.anytime import AnytimeEngine, replay

    engine = AnytimeEngine(manifest)
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match="only 16 leaves"):
        engine.classify(x[0], StoppingRule("leaves", 40))
    with pytest.raises(ValueError, match="repeats"):
        engine.calibrate(x, repeats=0)
    trace = engine.trace(x)
    with pytest.raises(ValueError, match="only 16 leaves"):
        replay(trace, StoppingRule("leaves", 17), engine.predicted_ms)
    assert replay(trace, StoppingRule("leaves", 16), engine.predicted_ms)["steps"].tolist() == [16, 16]


def test_runner_cli_counts(hne_export, tmp_path):
    out, _ = hne_export
    r = _cli("hne_tf.export.anytime", f"--manifest={out / 'manifest.json'}", "--num_images=0",
             f"--output={tmp_path / 'eval'}")
    assert r.returncode == 1 and _last_line(r.stderr) == (
        "export.anytime: error: --num_images must be an integer >= 1, got 0"), r.stderr[-2000:]
    r = _cli("hne_tf.export.anytime", f"--manifest={out / 'manifest.json'}", "--rule=leaves", "--leaves=17",
             f"--output={tmp_path / 'eval'}")
    assert r.returncode == 1 and "--leaves=17: the anytime file has only 16 leaves" in _last_line(r.stderr)
    assert not os.path.exists(tmp_path / "eval.json")


def _export_copy(hne_export, tmp_path):
    out, _ = hne_export
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    return copy


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.write_text('{"format": "hne-tf-manifest", "version": 1, '), "is not valid JSON"),
    (lambda m: m.write_bytes(b"\x89PNG\r\n\x1a\n\0\0"), "is not valid JSON"),
    (lambda m: m.write_text("[]"), "expected a JSON object"),
    (lambda m: m.write_text(json.dumps({**json.loads(m.read_text()), "anytime": []})), "anytime: expected object"),
    (lambda m: m.write_text(json.dumps({**json.loads(m.read_text()), "files": [3]})), r"files\[0\]: expected"),
    (lambda m: (m.unlink(), m.mkdir()), "does not exist"),
    (lambda m: m.write_text("[" * 200_000), "is not valid JSON: nested more than 64 levels deep"),
])
def test_malformed_manifest_is_one_clear_error(hne_export, tmp_path, damage, message):
    export_dir = _export_copy(hne_export, tmp_path)
    damage(export_dir / "manifest.json")
    before = sums(export_dir)
    with pytest.raises(mf.ManifestError, match=message):
        run_anytime(str(export_dir / "manifest.json"), output=str(export_dir / "eval"), log=_quiet)
    assert sums(export_dir) == before


def test_deeply_nested_manifest_is_one_line_everywhere(hne_export, run_copy, tmp_path):
    """Issue 23: a manifest.json of 200,000 nested '[' was a RecursionError: now one line from the runner's
    CLI, and --overwrite on a folder holding it says it is not an export."""
    export_dir = _export_copy(hne_export, tmp_path)
    (export_dir / "manifest.json").write_text("[" * 200_000)
    r = _cli("hne_tf.export.anytime", f"--manifest={export_dir / 'manifest.json'}")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "RecursionError" not in r.stderr
    assert _last_line(r.stderr).endswith("is not valid JSON: nested more than 64 levels deep")
    before = sums(export_dir)
    r = _cli("hne_tf.export", f"--model_dir={run_copy}", f"--out_dir={export_dir}", "--overwrite")
    assert r.returncode == 1 and "is not an export" in _last_line(r.stderr), r.stderr[-2000:]
    assert sums(export_dir) == before


def test_malformed_manifest_cli(hne_export, tmp_path):
    export_dir = _export_copy(hne_export, tmp_path)
    manifest = export_dir / "manifest.json"
    manifest.write_text(manifest.read_text()[:200])  # truncated
    r = _cli("hne_tf.export.anytime", f"--manifest={manifest}")
    assert r.returncode == 1, r.stderr[-2000:]
    line = _last_line(r.stderr)
    assert line.startswith("export.anytime: error:") and str(manifest) in line and "not valid JSON" in line
    assert "Traceback" not in r.stderr


# ----------------------------------------------------- the checkpoint exported

def _checkpoints(run_dir, epochs):
    """Replaces the run's checkpoints by ``ckpt-E`` for each E in ``epochs``: the run's weights, its epoch
    counter set to E (what train.py saves after epoch E)."""
    import tensorflow as tf

    from hne_tf.training import load_run

    model = load_run(str(run_dir)).model
    folder = run_dir / "checkpoints"
    shutil.rmtree(folder)
    folder.mkdir()
    for e in epochs:
        ckpt = tf.train.Checkpoint(model=model.checkpoint_variables(), epoch=tf.Variable(e, dtype=tf.int64))
        ckpt.save_counter.assign(e - 1)
        assert ckpt.save(str(folder / "ckpt")).endswith(f"ckpt-{e}")  # as CheckpointManager.save names it
    return folder


def test_manifest_records_the_checkpoint_exported(run_copy, tmp_path, capfd):
    """Issue 23: after a truncated ckpt-4 the export uses ckpt-3, and the manifest says 3, not eval.json's 4."""
    folder = _checkpoints(run_copy, [3, 4])
    data = next(folder.glob("ckpt-4.data-*"))
    data.write_bytes(data.read_bytes()[:100])
    evaluated = json.loads((run_copy / "eval.json").read_text())
    (run_copy / "eval.json").write_text(json.dumps({**evaluated, "epochs_trained": 4}))
    lines = []
    manifest = _small(run_copy, tmp_path / "out", log=lines.append)
    assert manifest["model"]["epochs_trained"] == 3 and manifest["model"]["checkpoint"] == "ckpt-3"
    assert mf.load(str(tmp_path / "out"))["model"]["epochs_trained"] == 3
    assert any(line.endswith("ckpt-3 (3 epochs trained)") and line.startswith("using ") for line in lines), lines
    assert any("eval.json is for 4 epochs, the checkpoint exported for 3" in line for line in lines), lines
    assert "skipped checkpoint" in capfd.readouterr().err  # restore's own warning names ckpt-4


def test_export_refuses_a_run_that_is_training(run_copy, tmp_path):
    """Issue 23: while train.py holds the run's lock, the export refuses unless --allow_training, and then
    warns and records the checkpoint it took."""
    from hne_tf.training import RunLock

    before = sums(run_copy)
    with RunLock(str(run_copy)):  # what a live train.py holds
        with pytest.raises(ExportError, match=r"is being trained right now \(train.py, PID \d+\).*"
                                              "--allow_training") as info:
            _small(run_copy, tmp_path / "out")
        assert "\n" not in str(info.value) and not (tmp_path / "out").exists()
        r = _cli("hne_tf.export", f"--model_dir={run_copy}", f"--out_dir={tmp_path / 'out'}",
                 "--precisions=float32", "--prefixes=1", "--noanytime", "--eval_examples=32", "--latency_runs=2")
        assert r.returncode == 1 and "is being trained right now" in _last_line(r.stderr), r.stderr[-2000:]
        lines = []
        manifest = _small(run_copy, tmp_path / "out", allow_training=True, log=lines.append)
        assert any(line.startswith("WARNING: --model_dir") and "--allow_training" in line for line in lines)
        assert manifest["model"]["checkpoint"] == "ckpt-1"
    assert {k: v for k, v in sums(run_copy).items() if k != "train.lock"} == before


def test_eval_json_that_is_not_utf8_is_one_line(run_copy, tmp_path):
    """Issue 23: eval.json with non-UTF-8 bytes: one line naming the file and what to do, exit 1."""
    (run_copy / "eval.json").write_bytes(b'{"epochs_trained": 1, "note": "\xff\xfe"}')
    with pytest.raises(ExportError, match=r"eval.json cannot be read \(not UTF-8 text \(byte 0xff at offset "
                                          r"\d+\)\): rewrite it with train.py .*--eval_only, or move it away"):
        _small(run_copy, tmp_path / "out")
    r = _cli("hne_tf.export", f"--model_dir={run_copy}", f"--out_dir={tmp_path / 'out'}", "--precisions=float32",
             "--prefixes=1", "--noanytime")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert _last_line(r.stderr).startswith("export: error:") and "eval.json cannot be read" in _last_line(r.stderr)
    assert not (tmp_path / "out").exists()
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]


# ------------------------------------------------------------ corrupt data

def _idx_folder(folder, n=64):
    """A Fashion-MNIST-shaped IDX folder (n images per split), gzip-compressed."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 0x0803, n, 28, 28) + images.tobytes())
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 0x0801, n) + labels.tobytes())
    return folder


def _corrupt(path):
    data = bytearray(path.read_bytes())
    for i in range(40, min(len(data) - 8, 400)):  # the deflate stream, not the gzip header
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("fault", ["corrupt", "truncated"])
def test_corrupt_dataset_is_named_by_the_export(run_copy, tmp_path, fault):
    data = _idx_folder(tmp_path / "fmnist")
    bad = data / "t10k-images-idx3-ubyte.gz"
    if fault == "corrupt":
        _corrupt(bad)
    else:
        bad.write_bytes(bad.read_bytes()[:len(bad.read_bytes()) // 2])
    config = json.loads((run_copy / "config.json").read_text())
    config.update(dataset="fashion_mnist", data_dir=str(data))
    (run_copy / "config.json").write_text(json.dumps(config))
    before = sums(data)
    with pytest.raises(ExportError) as info:
        _small(run_copy, tmp_path / "out")
    message = str(info.value)
    assert str(bad) in message and "\n" not in message, message
    assert not (tmp_path / "out").exists() and sums(data) == before
    # A good copy of the file: the export reads it.
    shutil.rmtree(data)
    _idx_folder(data)
    assert _small(run_copy, tmp_path / "out")["evaluation"]["num_examples"] == 32


def test_corrupt_dataset_is_named_by_the_runner(hne_export, tmp_path):
    export_dir = _export_copy(hne_export, tmp_path)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["model"]["dataset"] = "fashion_mnist"
    (export_dir / "manifest.json").write_text(json.dumps(manifest))
    data = _idx_folder(tmp_path / "fmnist")
    _corrupt(data / "t10k-labels-idx1-ubyte.gz")
    r = _cli("hne_tf.export.anytime", f"--manifest={export_dir / 'manifest.json'}", f"--data_dir={data}",
             "--num_images=8", f"--output={tmp_path / 'eval'}")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    line = _last_line(r.stderr)
    assert str(data / "t10k-labels-idx1-ubyte.gz") in line and "--data_dir" in line, line


# ------------------------------------------------------------ export flags

def test_export_cli_counts_and_empty_lists(run_copy, tmp_path):
    out = tmp_path / "out"
    for flag, message in [("--prefixes=", "--prefixes must be a comma list of integers"),
                          ("--eval_examples=0", "--eval_examples must be at least 1, got 0")]:
        r = _cli("hne_tf.export", f"--model_dir={run_copy}", f"--out_dir={out}", flag)
        assert r.returncode == 1 and message in _last_line(r.stderr), (flag, r.stderr[-1500:])
        assert not out.exists()
    with pytest.raises(ExportError, match="--prefixes is empty"):
        _small(run_copy, out, prefixes=[])
    with pytest.raises(ExportError, match="--latency_runs must be at least 1, got 0"):
        _small(run_copy, out, latency_runs=0)
    assert not out.exists()
