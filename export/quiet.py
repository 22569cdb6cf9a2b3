"""Drop the native libraries' noise from stderr, keep everything else.

TensorFlow's and the TFLite converter's C++ code write to file descriptor 2
directly, past Python's ``sys.stderr`` and ``TF_CPP_MIN_LOG_LEVEL``: on a
machine without a GPU a user sees ``E0000 ... failed call to cuInit``, which
reads like a failure, and every quantized conversion prints its
``fully_quantize: 0, inference_type: 6, ...`` settings. Inside
:func:`quiet_native_stderr`, fd 2 goes to a temporary file; when the block
ends, every line that does not match :data:`NOISE` is written to the real
stderr, so real warnings and errors still show (after the block rather than
during it).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence

# Each pattern is informational output, not a problem:
NOISE = tuple(re.compile(p) for p in (
    # the MLIR quantizer's settings, printed by every quantized conversion
    r"^fully_quantize: \d+, inference_type: \d+",
    # absl's note that it was not initialised before the first log line
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    # no GPU here: TensorFlow then runs on the CPU, as intended on such a machine
    r"failed call to cuInit",
    r"Could not find cuda drivers on your machine, GPU will not be used",
    # native INFO lines (TF_CPP_MIN_LOG_LEVEL does not reach every library), and the second
    # line of the CPU-feature note
    r"^I\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\]",
    r"^To enable the following instructions: .*rebuild TensorFlow",
    # a graph attribute newer than the op registry's own definition; the op runs the same
    r"NodeDef mentions attribute Truncate",
    # LiteRT announcing its default CPU delegate (the manifest records the delegate used)
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU",
    # oneDNN's note about round-off differences
    r"oneDNN custom operations are on",
))


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


__all__ = ["NOISE", "is_noise", "quiet_native_stderr"]
