"""One ``train.py`` per ``--model_dir``: the run lock."""

from __future__ import annotations

import fcntl
import os
import socket

from hne_tf.osutil import os_reason
from hne_tf.training.errors import TrainingError

LOCK_FILE = "train.lock"


class RunLock:
    """One ``train.py`` per ``--model_dir``: an exclusive ``flock`` on ``<model_dir>/train.lock``.

    The file holds the holder's PID and host, for the message a second run
    gets. The kernel drops the lock when its process dies, so the lock of a
    killed run (a dead PID left in the file) is simply taken over.
    """

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        self.path = os.path.join(model_dir, LOCK_FILE)
        self.fd: int | None = None
        self.stale_pid: int | None = None
        self.created_dir = False

    def acquire(self) -> RunLock:
        if not os.path.isdir(self.model_dir):
            try:
                os.makedirs(self.model_dir)
            except FileExistsError:
                if not os.path.isdir(self.model_dir):
                    raise TrainingError(f"--model_dir {self.model_dir} is a file, not a folder") from None
            except OSError as e:
                raise TrainingError(f"cannot create --model_dir {self.model_dir}: {os_reason(e)}") from None
            else:
                self.created_dir = True
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                self._undo_dir()
                raise TrainingError(f"--model_dir {self.model_dir} is not writable ({os_reason(e)}); "
                                    "pass a folder you can write to") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").split()
                os.close(fd)
                pid = holder[0] if holder else "unknown"
                host = f" on {holder[1]}" if len(holder) > 1 and holder[1] != socket.gethostname() else ""
                raise TrainingError(
                    f"--model_dir {self.model_dir} is in use by another train.py (PID {pid}{host}); wait for it "
                    f"to finish, stop it, or use another --model_dir") from None
            try:  # the previous holder may have removed the file between our open and flock
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = os.read(fd, 200).decode(errors="replace").split()
        if previous and previous[0].isdigit() and int(previous[0]) != os.getpid():
            self.stale_pid = int(previous[0])
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self.fd)  # closing drops the flock
        self.fd = None
        self._undo_dir()

    def _undo_dir(self) -> None:
        # A run that failed before writing anything leaves no empty folder behind.
        if self.created_dir:
            try:
                os.rmdir(self.model_dir)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def trainer_holding(model_dir: str) -> str | None:
    """Who holds ``model_dir``'s run lock (``"PID 123"``, ``"PID 123 on host"``) while a ``train.py`` runs
    there, else None.

    Asks the kernel (a non-blocking shared ``flock`` on ``train.lock``, released at once), not the PID in
    the file: a lock left by a killed run is free, and a live run in another PID namespace is still seen.
    Nothing is created or written. The probe holds the lock for microseconds; a ``train.py`` starting at
    that very instant is told the run is in use, and a rerun starts it.
    """
    try:
        fd = os.open(os.path.join(model_dir, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return None  # no lock file: no train.py has the run
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").split()
            pid = holder[0] if holder else "unknown"
            return f"PID {pid}" + (f" on {holder[1]}" if len(holder) > 1 and holder[1] != socket.gethostname() else "")
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
