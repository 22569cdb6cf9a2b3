"""Drop the native libraries' known noise from stderr, keep everything else (issue 8 item 9).

TensorFlow's and the TFLite converter's C++ code write to file descriptor 2
directly, past Python's ``sys.stderr`` and ``TF_CPP_MIN_LOG_LEVEL``: on a
machine without a GPU a user sees ``E0000 ... failed call to cuInit``, which
reads like a failure, and every quantized conversion prints its
``fully_quantize: 0, inference_type: 6, ...`` settings. The filter sits below
Python, on the file descriptor, in one of two ways:

- :func:`quiet_native_stderr`, around a block (the export CLIs): fd 2 goes to a
  temporary file; when the block ends, every line that is not :data:`NOISE` is
  written to the real stderr (after the block rather than during it);
- :class:`StderrFilter`, for a whole process (``train.py``): fd 2 becomes a
  pipe, and a thread copies every line that is not :data:`STARTUP_NOISE` to the
  real stderr as it comes.

Plain Python: importing this module does not import TensorFlow, so a CLI can
start the filter before TensorFlow prints its start-up lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence

# Each message is informational output, not a problem:
MESSAGES = tuple(re.compile(p) for p in (
    # the MLIR quantizer's settings, printed by every quantized conversion
    r"^fully_quantize: \d+, inference_type: \d+",
    # absl's note that it was not initialised before the first log line
    r"All log messages before absl::InitializeLog\(\)",
    # no GPU here: TensorFlow then runs on the CPU, as intended on such a machine
    r"failed call to cuInit|cuda_diagnostics|Could not find cuda drivers|CUDA_ERROR_NO_DEVICE",
    # CUDA libraries registered twice (TensorFlow and XLA both try)
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered",
    # a graph attribute newer than the op registry's own definition; the op runs the same
    r"NodeDef mentions attribute",
    # build notes: CPU features this build does not use, oneDNN's round-off note
    r"oneDNN custom operations are on|cpu_feature_guard|To enable the following instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags",
    # LiteRT announcing its default CPU delegate (the manifest records the delegate used)
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU",
))
# A native INFO line ("I1122 16:16:12.7 1398 file.cc:12] ..."): TF_CPP_MIN_LOG_LEVEL does not reach
# every library. Python's absl prints the same shape, so only the block filter drops it.
NATIVE_INFO = re.compile(r"^I\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\]")
# A C++ INFO or WARNING line written before absl's logging is set up, which TF_CPP_MIN_LOG_LEVEL
# would have dropped ("I0000 00:00:1795364019.37 11889 port.cc:153] ..."; its date is zero, unlike
# the Python warnings absl prints, which stay).
EARLY_NATIVE_LOG = re.compile(r"^[IW]0000 00:00:[\d.]+\s+\d+ \S+:\d+\] ")

NOISE = MESSAGES + (NATIVE_INFO,)  # for a block (export)
STARTUP_NOISE = MESSAGES + (EARLY_NATIVE_LOG,)  # for a whole training process


def is_noise(line: str, noise: Sequence[re.Pattern] = NOISE) -> bool:
    return any(p.search(line) for p in noise)


@contextlib.contextmanager
def quiet_native_stderr(noise: Sequence[re.Pattern] = NOISE) -> Iterator[None]:
    """Runs the block with fd 2 captured; re-emits the lines that are not noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. an embedding host): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            kept = "".join(line for line in text.splitlines(keepends=True) if not is_noise(line, noise))
            if kept:
                os.write(2, kept.encode("utf-8"))


class StderrFilter:
    """Drops :data:`STARTUP_NOISE` from file descriptor 2 while it runs; every other line passes unchanged.

    C++ code writes to the descriptor directly, so the filter sits below
    Python: fd 2 becomes a pipe, and a thread copies its lines to the real
    stderr. Off with TF_CPP_MIN_LOG_LEVEL=0 (show everything) or
    HNE_TF_TRACEBACK (debugging).
    """

    def __init__(self) -> None:
        self.saved = None

    def start(self) -> StderrFilter:
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0" or os.environ.get("HNE_TF_TRACEBACK"):
            return self
        sys.stderr.flush()
        self.saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.thread = threading.Thread(target=self._copy, args=(read,), daemon=True)
        self.thread.start()
        return self

    def _keep(self, line: bytes) -> bool:
        text = line.decode(errors="replace")
        drop_early = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") >= "1"
        return not (is_noise(text, MESSAGES) or (drop_early and EARLY_NATIVE_LOG.match(text)))

    def _copy(self, read) -> None:
        pending = b""
        while True:
            chunk = os.read(read, 65536)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            out = b"".join(line + b"\n" for line in lines if self._keep(line))
            if pending and not is_noise(pending.decode(errors="replace"), MESSAGES) and pending[:1] not in b"IWE":
                out, pending = out + pending, b""  # a prompt or a progress bar: pass it on now
            if out:
                os.write(self.saved, out)
        if pending and self._keep(pending):
            os.write(self.saved, pending)
        os.close(read)

    def stop(self) -> None:
        if self.saved is None:
            return
        sys.stderr.flush()
        os.dup2(self.saved, 2)  # closes the pipe's last write end: the thread reads EOF
        self.thread.join(timeout=5)
        os.close(self.saved)
        self.saved = None


__all__ = ["EARLY_NATIVE_LOG", "MESSAGES", "NATIVE_INFO", "NOISE", "STARTUP_NOISE", "StderrFilter", "is_noise",
           "quiet_native_stderr"]
