"""Ctrl-C during training: stop after the current step and keep the checkpoints."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import keras


class _SigintGuard:
    """Ctrl-C during ``fit``: finish the current step, keep the checkpoints, stop.

    The first SIGINT asks the trainer to stop after its step (the partial
    epoch is not saved); a SIGINT while a checkpoint is being saved waits for
    the save to finish; a second SIGINT, or one outside ``fit``, raises
    KeyboardInterrupt as usual. Installed only in the main thread.
    """

    def __init__(self) -> None:
        self.requested = False
        self.trainer: keras.Model | None = None
        self._saving = False
        self._previous = None
        self._installed = False

    def __enter__(self) -> _SigintGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> bool:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        return False

    def _handle(self, signum, frame) -> None:
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
