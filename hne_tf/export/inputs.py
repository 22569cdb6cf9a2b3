"""Test and calibration images for the export and the runner, with one-line errors.

``hne_tf.data`` reports missing data itself (``DataError``); a file that is
there but unreadable (a truncated or corrupt ``.gz``) surfaces as whatever
the decompressor raises (``zlib.error``, ``EOFError``, ``gzip.BadGzipFile``).
Here both become :class:`InputError` naming the file and the flag to change.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

_READ_ERRORS = (zlib.error, EOFError, OSError, ValueError, struct.error)


class InputError(RuntimeError):
    """The data cannot be read; the message names the file or folder."""


def _bad_files(directory: str) -> list:
    """The ``.gz`` files in ``directory`` that do not decompress to the end."""
    bad = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return bad
    for name in names:
        if not name.endswith(".gz"):
            continue
        try:
            with gzip.open(os.path.join(directory, name), "rb") as f:
                while f.read(1 << 20):
                    pass
        except _READ_ERRORS:
            bad.append(os.path.join(directory, name))
    return bad


def _describe(e: BaseException, dataset, data_dir: str | None, flag: str, found_only: bool = False) -> str:
    """One line naming the corrupt file(s) and ``flag``; with ``found_only``, "" unless a corrupt file is found."""
    from hne_tf import data as data_lib

    dataset = str(dataset)  # a name or a hne_tf.datasets.Dataset

    directory = data_dir or (data_lib.FASHION_MNIST_DIR if dataset == "fashion_mnist" else None)
    bad = _bad_files(directory) if directory else []
    if bad:
        return (f"cannot read {dataset}: {', '.join(bad)} is corrupt or truncated "
                f"({type(e).__name__}: {e}); replace it, or point {flag} at a good copy")
    if found_only:
        return ""
    where = f" from {directory}" if directory else ""
    return f"cannot read {dataset}{where} ({type(e).__name__}: {e}); check the files, or point {flag} elsewhere"


def load_split(dataset, split: str, data_dir: str | None, take: int | None,
               flag: str = "--data_dir") -> tuple[np.ndarray, np.ndarray]:
    """``data.load_arrays`` (``take`` >= 1 or None) of ``dataset``, a name or a
    :class:`hne_tf.datasets.Dataset`; raises InputError."""
    from hne_tf.quiet import quiet_native_stderr

    with quiet_native_stderr():  # TensorFlow's start-up lines
        from hne_tf import data as data_lib

    try:
        return data_lib.load_arrays(dataset, split, data_dir=data_dir, take=take)
    except data_lib.DataError as e:
        raise InputError(_describe(e, dataset, data_dir, flag, found_only=True) or str(e)) from e
    except _READ_ERRORS as e:
        raise InputError(_describe(e, dataset, data_dir, flag)) from e


def calibration_images(dataset, num: int, data_dir: str | None, flag: str = "--data_dir") -> np.ndarray:
    """``data.representative_images``; raises InputError."""
    from hne_tf import data as data_lib

    try:
        return data_lib.representative_images(dataset, num, data_dir=data_dir)
    except data_lib.DataError as e:
        raise InputError(_describe(e, dataset, data_dir, flag, found_only=True) or str(e)) from e
    except ValueError as e:
        if "training images" in str(e):  # asked for more than the split holds
            raise InputError(f"--calibration_images: {e}") from e
        raise InputError(_describe(e, dataset, data_dir, flag)) from e
    except _READ_ERRORS as e:
        raise InputError(_describe(e, dataset, data_dir, flag)) from e


__all__ = ["InputError", "calibration_images", "load_split"]
