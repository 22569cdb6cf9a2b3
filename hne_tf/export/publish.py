"""Where an export is written, and how it replaces the previous one.

An export is built in ``<out>.partial-<pid>/`` beside ``--out_dir`` and moved
into place only after every check passed:

* no previous export: one rename;
* a previous export: ``renameat2(RENAME_EXCHANGE)`` swaps the two folders in
  one step where the kernel and file system allow it (Linux >= 3.15, most
  local file systems), so ``--out_dir`` always holds a complete export. The
  old one, now in ``.partial-<pid>``, is then deleted. Elsewhere two renames
  (old export to ``<out>.old-<pid>``, new one into place) leave a moment
  without ``--out_dir``.

A process killed at any point leaves only folders named after its PID. The
next export to the same ``--out_dir`` calls :func:`recover` first: if
``--out_dir`` is missing and a dead process's ``.old-<pid>`` is there, it
finishes that publish (when the ``.partial-<pid>`` beside it is a complete,
valid export) or else restores the old export; then it deletes the dead
processes' remaining ``.partial-`` and ``.old-`` folders. Folders of live
processes are never touched.

``--overwrite`` replaces only a folder that is itself an export: our
``manifest.json``, the files it lists, and the files the runner and the
benchmark write beside it (:data:`COMPANIONS`), nothing else.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
from collections.abc import Callable

from hne_tf.export import manifest as mf
from hne_tf.osutil import pid_alive

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
    foreign = foreign_entries(out)
    if foreign is None:
        raise PublishError(f"--out_dir {out_dir} is not an export (no readable manifest.json of format "
                           f"{mf.FORMAT!r}); --overwrite replaces only an earlier export: choose another "
                           "--out_dir, or empty this one yourself")
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise PublishError(f"--out_dir {out_dir} holds files that are not part of its export ({shown}); "
                           "--overwrite replaces only an export's own files: move them away or choose "
                           "another --out_dir")


def _leftovers(out: str) -> list[tuple]:
    """``(kind, pid, path)`` of this ``out``'s ``.partial-PID`` / ``.old-PID`` folders of dead processes."""
    parent, base = os.path.split(out)
    pattern = re.compile(re.escape(base) + r"\.(partial|old)-(\d+)")
    found = []
    try:
        names = os.listdir(parent or ".")
    except OSError:
        return found
    for name in sorted(names):
        m = pattern.fullmatch(name)
        path = os.path.join(parent, name)
        if m and os.path.isdir(path) and not os.path.islink(path) and not pid_alive(int(m.group(2))):
            found.append((m.group(1), int(m.group(2)), path))
    return found


def _complete(folder: str) -> bool:
    try:
        mf.load(folder)
    except mf.ManifestError:
        return False
    return True


def recover(out_dir: str, log: Callable[[str], None] = print) -> None:
    """Finishes or rolls back a publish that a killed export left, and deletes dead exports' staging folders."""
    out = _real(out_dir)
    leftovers = _leftovers(out)
    if not os.path.lexists(out):
        olds = [(pid, path) for kind, pid, path in leftovers if kind == "old"]
        if olds:
            pid, old = olds[-1]
            partial = f"{out}.partial-{pid}"
            if os.path.isdir(partial) and _complete(partial):
                os.replace(partial, out)
                log(f"finished the publish of an export killed at PID {pid}: {out} now holds it")
            else:
                os.replace(old, out)
                log(f"restored the previous export to {out} (an export, PID {pid}, was killed while replacing it)")
            leftovers = _leftovers(out)
    for _kind, pid, path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
        log(f"removed {path}, left by an export (PID {pid}) that did not finish")


def make_stage(out_dir: str) -> str:
    """A new, empty ``<out>.partial-<pid>`` folder; raises PublishError if it cannot be made."""
    out = _real(out_dir)
    stage = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        os.makedirs(stage)
    except OSError as e:
        raise PublishError(f"--out_dir {out_dir}: cannot create {stage} ({e.strerror or e}); "
                           "the folder that holds --out_dir must be writable") from None
    return stage


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


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


def publish(stage: str, out_dir: str) -> None:
    """Moves the checked export in ``stage`` to ``out_dir``, replacing the one there."""
    out = _real(out_dir)
    if not os.path.lexists(out):
        os.replace(stage, out)
        return
    if _exchange(stage, out):
        shutil.rmtree(stage, ignore_errors=True)  # now the previous export
        return
    old = f"{out}.old-{os.getpid()}"
    os.replace(out, old)
    os.replace(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def reject(stage: str, out_dir: str) -> str:
    """Moves a failed export to ``<out>.rejected`` for inspection (replacing an earlier rejected export only)."""
    rejected = _real(out_dir) + ".rejected"
    if os.path.lexists(rejected) and foreign_entries(rejected) != []:
        rejected = f"{rejected}-{os.getpid()}"  # not ours: leave it alone
    shutil.rmtree(rejected, ignore_errors=True)
    os.replace(stage, rejected)
    return rejected


__all__ = ["COMPANIONS", "PublishError", "check_out_dir", "foreign_entries", "make_stage", "pid_alive", "publish",
           "recover", "reject"]
