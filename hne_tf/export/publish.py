"""Where an export is written, and how it replaces the previous one.

An export is built in ``<out>.partial-<tag>/`` beside ``--out_dir`` (the tag
is its PID, with a suffix should a live export of another PID namespace use
that number too) and moved into place only after every check passed. For its
whole life it holds an exclusive ``flock`` on ``<out>.partial-<tag>.lock``,
which the kernel releases when the process dies, however it dies.

Publishing checks ``--out_dir`` again, atomically, at that moment:

* without ``--overwrite``: one ``rename(2)``. It moves the export in when
  ``--out_dir`` is missing or an empty folder, and fails on anything else, so
  a folder that appeared (or filled) meanwhile is never replaced: the export
  is refused, and of two exports started together into the same new
  ``--out_dir`` the second to finish is refused;
* with ``--overwrite``: ``renameat2(RENAME_EXCHANGE)`` swaps the two folders
  in one step (Linux >= 3.15, most local file systems), then the displaced
  folder is checked: an export (or an empty folder) is deleted; anything else
  is swapped back and the export refused, so only an export is ever
  replaced, even one that changed since the start. Where the file system
  cannot exchange, the folder is checked and then moved aside
  (``<out>.old-<tag>``) and the new one renamed in, which leaves a moment
  without ``--out_dir``.

A process killed at any point leaves only folders named after its tag, and
its lock file. The next export to the same ``--out_dir`` calls
:func:`recover` first: for every tag whose lock it can take (the export is
dead; the kernel, not a PID that another namespace may reuse, says so), if
``--out_dir`` is missing and ``.old-<tag>`` is there, it finishes that
publish (when the ``.partial-<tag>`` beside it is a complete, valid export)
or else restores the old export; then it deletes that tag's remaining
folders and its lock file. Folders whose lock is held are never touched.

``--overwrite`` replaces only a folder that is itself an export: our
``manifest.json``, the files it lists, and the files the runner and the
benchmark write beside it (:data:`COMPANIONS`), nothing else.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import socket
from collections.abc import Callable

from hne_tf.export import manifest as mf

# Files that the runner and the benchmark write into an export folder.
COMPANIONS = re.compile(r"^(anytime_eval_[A-Za-z0-9_.-]+\.(json|png)|latency\.json)$")


class PublishError(RuntimeError):
    """``--out_dir`` cannot be used; the message says why and what to do."""


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def foreign_entries(folder: str) -> list[str] | None:
    """Entries of ``folder`` that are not part of an export in it, or None if it holds no export manifest."""
    try:
        manifest = mf.read(os.path.join(folder, "manifest.json"))
    except mf.ManifestError:
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != mf.FORMAT:
        return None
    files = manifest.get("files")
    listed = {f.get("file") for f in files if isinstance(f, dict)} if isinstance(files, list) else set()
    foreign = []
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        ours = name == "manifest.json" or name in listed or COMPANIONS.match(name)
        if not ours or os.path.islink(full) or not os.path.isfile(full):
            foreign.append(name + ("/" if os.path.isdir(full) else ""))
    return foreign


def check_out_dir(out_dir: str, model_dir: str, overwrite: bool) -> None:
    """Raises PublishError unless ``out_dir`` may receive a new export."""
    out, model = _real(out_dir), _real(model_dir)
    if _within(out, model):
        where = "is" if out == model else "is inside"
        raise PublishError(f"--out_dir {out_dir} {where} --model_dir {model_dir}; write the export outside the "
                           "training run (default: <model_dir>_tflite)")
    if _within(model, out):
        raise PublishError(f"--out_dir {out_dir} contains --model_dir {model_dir}; write the export to a folder "
                           "of its own (default: <model_dir>_tflite)")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise PublishError(f"--out_dir {out_dir} exists and is not a directory")
    if not os.path.isdir(out) or not os.listdir(out):
        return
    if not overwrite:
        raise PublishError(f"--out_dir {out_dir} already holds files; pass --overwrite to replace the export "
                           "there (it is kept until the new one has passed every check)")
    problem = _not_an_export(out, out_dir)
    if problem:
        raise PublishError(problem)


def _not_an_export(folder: str, out_dir: str, when: str = "") -> str | None:
    """Why ``--overwrite`` may not replace ``folder`` (``--out_dir``), or None: it is empty, or an export."""
    try:
        if not os.listdir(folder):
            return None
    except OSError as e:
        return f"--out_dir {out_dir}{when} cannot be read ({e.strerror or e})"
    foreign = foreign_entries(folder)
    if foreign is None:
        return (f"--out_dir {out_dir}{when} is not an export (no readable manifest.json of format {mf.FORMAT!r}); "
                "--overwrite replaces only an earlier export: choose another --out_dir, or empty this one yourself")
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return (f"--out_dir {out_dir}{when} holds files that are not part of its export ({shown}); "
                "--overwrite replaces only an export's own files: move them away or choose another --out_dir")
    return None


def _take_lock(path: str) -> int | None:
    """An exclusive ``flock`` on ``path`` (created if missing): its descriptor, or None while another
    process holds it. Retries when the file was replaced between the open and the lock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:  # a recover() may have deleted the file between our open and flock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _drop_lock(path: str, fd: int) -> None:
    """Removes the lock file ``path`` (still locked by ``fd``, so no one is using it) and releases it."""
    try:
        os.remove(path)
    except OSError:
        pass
    os.close(fd)


def _tags(out: str) -> list[str]:
    """Tags of this ``out``'s staging folders, old folders and lock files, oldest name first."""
    parent, base = os.path.split(out)
    pattern = re.compile(re.escape(base) + r"\.(?:partial|old)-(\d+(?:-\d+)?)(?:\.lock)?")
    try:
        names = os.listdir(parent or ".")
    except OSError:
        return []
    return sorted({m.group(1) for m in map(pattern.fullmatch, names) if m})


def _complete(folder: str) -> bool:
    try:
        mf.load(folder)
    except mf.ManifestError:
        return False
    return True


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def recover(out_dir: str, log: Callable[[str], None] = print) -> None:
    """Finishes or rolls back a publish that a dead export left, and deletes dead exports' staging folders.

    An export is dead when its lock can be taken; the leftovers of live ones are left alone.
    """
    out = _real(out_dir)
    for tag in _tags(out):
        lock = f"{out}.partial-{tag}.lock"
        partial, old = f"{out}.partial-{tag}", f"{out}.old-{tag}"
        try:
            fd = _take_lock(lock)
        except OSError:
            continue  # a folder we cannot write to: not ours to clean
        if fd is None:
            continue  # a live export (in any PID namespace)
        try:
            if not os.path.lexists(out) and _is_dir(old):
                if _is_dir(partial) and _complete(partial):
                    os.replace(partial, out)
                    log(f"finished the publish of an export (tag {tag}) killed while replacing {out}: it holds "
                        "the new export")
                else:
                    os.replace(old, out)
                    log(f"restored the previous export to {out} (an export, tag {tag}, was killed while "
                        "replacing it)")
            for path in (partial, old):
                if _is_dir(path):
                    shutil.rmtree(path, ignore_errors=True)
                    log(f"removed {path}, left by an export (tag {tag}) that did not finish")
        finally:
            _drop_lock(lock, fd)


class Stage:
    """A new, empty ``<out>.partial-<tag>`` folder, with its lock held until :meth:`close`.

    Raises PublishError if it cannot be made.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.out = _real(out_dir)
        pid = os.getpid()
        for n in range(1000):
            tag = str(pid) if n == 0 else f"{pid}-{n}"
            self.lock = f"{self.out}.partial-{tag}.lock"
            try:
                fd = _take_lock(self.lock)
            except OSError as e:
                raise PublishError(f"--out_dir {out_dir}: cannot create {self.lock} ({e.strerror or e}); "
                                   "the folder that holds --out_dir must be writable") from None
            if fd is not None:
                break  # else a live export elsewhere (another PID namespace) has this tag
        else:
            raise PublishError(f"--out_dir {out_dir}: no free staging name beside it")
        self.fd: int | None = fd
        self.tag = tag
        self.path = f"{self.out}.partial-{tag}"
        self.old_path = f"{self.out}.old-{tag}"
        os.write(fd, f"{pid} {socket.gethostname()}\n".encode())
        try:
            for leftover in (self.path, self.old_path):  # a dead export's of the same tag
                if _is_dir(leftover):
                    shutil.rmtree(leftover)
                elif os.path.lexists(leftover):
                    os.remove(leftover)
            os.makedirs(self.path)
        except OSError as e:
            self.close()
            raise PublishError(f"--out_dir {out_dir}: cannot create {self.path} ({e.strerror or e}); "
                               "the folder that holds --out_dir must be writable") from None

    def close(self) -> None:
        """Deletes what is left of the staging folder, then the lock file, and releases the lock."""
        if self.fd is None:
            return
        if _is_dir(self.path):
            shutil.rmtree(self.path, ignore_errors=True)
        _drop_lock(self.lock, self.fd)
        self.fd = None

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# rename(2) onto a path that holds something other than an empty folder.
_OCCUPIED = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR)


def _exchange(a: str, b: str) -> bool:
    """Atomically swaps folders ``a`` and ``b``; False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), b)


def publish(stage: Stage, overwrite: bool) -> None:
    """Moves the checked export in ``stage`` to ``--out_dir``, re-checking ``--out_dir`` at that moment.

    Raises PublishError, leaving ``--out_dir`` as it is, when something other than an empty folder is
    there without ``overwrite``, or something other than an export (or an empty folder) with it.
    """
    out, out_dir = stage.out, stage.out_dir
    try:
        os.rename(stage.path, out)  # missing or an empty folder: moved in; anything else: an error
        return
    except OSError as e:
        if e.errno not in _OCCUPIED:
            raise
    if not overwrite:
        raise PublishError(f"--out_dir {out_dir} appeared or filled while this export ran, and --overwrite "
                           "was not given: nothing was published and what is there is unchanged; rerun "
                           "with --overwrite to replace an export there, or choose another --out_dir")
    if not _is_dir(out):
        raise PublishError(f"--out_dir {out_dir} is no longer a folder: nothing was published")
    when = " (changed while this export ran)"
    if _exchange(stage.path, out):
        problem = _not_an_export(stage.path, out_dir, when)  # what was at --out_dir, now in the stage's place
        if problem:
            _exchange(stage.path, out)  # put it back, untouched
            raise PublishError(problem + "; nothing was published")
        shutil.rmtree(stage.path, ignore_errors=True)  # the previous export
        return
    problem = _not_an_export(out, out_dir, when)
    if problem:
        raise PublishError(problem + "; nothing was published")
    os.replace(out, stage.old_path)
    try:
        os.rename(stage.path, out)
    except OSError:
        os.rename(stage.old_path, out)  # something took --out_dir meanwhile: the old export goes back
        raise
    shutil.rmtree(stage.old_path, ignore_errors=True)


def reject(stage: Stage) -> str:
    """Moves a failed export to ``<out>.rejected`` for inspection (replacing an earlier rejected export only)."""
    rejected = stage.out + ".rejected"
    if os.path.lexists(rejected) and foreign_entries(rejected) != []:
        rejected = f"{rejected}-{stage.tag}"  # not ours: leave it alone
    shutil.rmtree(rejected, ignore_errors=True)
    os.replace(stage.path, rejected)
    return rejected


__all__ = ["COMPANIONS", "PublishError", "Stage", "check_out_dir", "foreign_entries", "publish", "recover",
           "reject"]
