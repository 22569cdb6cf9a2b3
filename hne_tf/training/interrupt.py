"""Ctrl-C or SIGTERM during training: stop after the current step and keep the checkpoints."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import keras


class SigintGuard:
    """Ctrl-C (SIGINT) or SIGTERM during ``fit``: finish the current step, keep the checkpoints, stop.

    SIGTERM (what ``kill``, systemd and Kubernetes send) is treated as Ctrl-C.
    The first signal asks the trainer to stop after its step (the partial
    epoch is not saved); a signal while a checkpoint is being saved waits for
    the save to finish; a second one, or one outside ``fit``, raises
    KeyboardInterrupt as usual. Installed only in the main thread.
    """

    def __init__(self) -> None:
        self.requested = False
        self.trainer: keras.Model | None = None
        self._saving = False
        self.signal_name = "Ctrl-C"
        self._previous: dict = {}

    def __enter__(self) -> SigintGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> bool:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False

    def _handle(self, signum, frame) -> None:
        self.signal_name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if self._saving:
            self.requested = True
            return
        if self.trainer is None or self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.trainer.stop_training = True

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
            if self.requested and self.trainer is not None:  # Ctrl-C came during the save
                self.trainer.stop_training = True
