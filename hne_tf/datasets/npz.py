"""Images in a NumPy ``.npz`` file: ``npz:FILE``, with arrays ``x_train``, ``y_train``, ``x_test``,
``y_test`` (images uint8 ``[n, H, W, C]``, C = 1 or 3; labels integers in ``[0, num_classes)``) and
optionally ``label_names`` (strings).

:func:`hne_tf.api.save_run` writes one beside a model trained from the Python API, so that the
export and the host runner can read its test images like any data set's. Images keep their size
unless ``--image_size`` says otherwise; the normalization statistics come from ``x_train`` (see
:mod:`hne_tf.datasets._images`). Training augmentation (``standard``): zero padding of
``max(1, size // 8)`` pixels + random crop + horizontal flip.
"""

from __future__ import annotations

import functools
import hashlib
import os
import zipfile

import numpy as np
import tensorflow as tf

from hne_tf.datasets._images import ImageDataset
from hne_tf.datasets.base import DataError, register

KEYS = ("x_train", "y_train", "x_test", "y_test")


def write(path: str, x_train, y_train, x_test, y_test, label_names=None) -> None:
    """Writes ``path`` in the layout :class:`Npz` reads (atomically: a temporary file, then a rename)."""
    arrays = {"x_train": np.asarray(x_train, np.uint8), "y_train": np.asarray(y_train, np.int32),
              "x_test": np.asarray(x_test, np.uint8), "y_test": np.asarray(y_test, np.int32)}
    if label_names is not None:
        arrays["label_names"] = np.asarray([str(n) for n in label_names])
    temp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez_compressed(temp, **arrays)
    os.replace(temp, path)


@register
class Npz(ImageDataset):
    name = "npz"
    argument = "FILE"
    summary = ("images in a NumPy .npz file: x_train, y_train, x_test, y_test (uint8 [n, H, W, C]; integer labels), "
               "optionally label_names (what hne_tf.api.save_run writes)")
    options = ("image_size", "channels", "resize", "cache")
    max_native_size = None

    def __init__(self, argument=None, *, data_dir=None, **options) -> None:
        super().__init__(os.path.abspath(os.path.expanduser(argument)), data_dir=data_dir, **options)

    @functools.cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        path = self.arg
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except FileNotFoundError:
            raise DataError(f"npz dataset: {path} does not exist") from None
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise DataError(f"npz dataset: cannot read {path} ({e})") from None
        missing = [k for k in KEYS if k not in arrays]
        if missing:
            raise DataError(f"npz dataset: {path} lacks {', '.join(missing)} (it needs {', '.join(KEYS)})")
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3) or not len(x):
                raise DataError(f"npz dataset: {path}: x_{split} must be uint8 pixels [n >= 1, H, W, 1 or 3], got "
                                f"{x.dtype} {list(x.shape)}")
            if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
                raise DataError(f"npz dataset: {path}: y_{split} must be {len(x)} integer labels >= 0, got "
                                f"{y.dtype} {list(y.shape)}")
        if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
            raise DataError(f"npz dataset: {path}: x_train and x_test images differ in shape")
        return arrays

    def _labels(self) -> list[str]:
        a = self._arrays
        if "label_names" in a:
            names = [str(n) for n in a["label_names"]]
            top = max(int(a["y_train"].max()), int(a["y_test"].max()))
            if top >= len(names):
                raise DataError(f"npz dataset: {self.arg}: label {top} but only {len(names)} label_names")
            return names
        return [f"class_{i}" for i in range(max(int(a["y_train"].max()), int(a["y_test"].max())) + 1)]

    def _native(self):
        shape = self._arrays["x_train"].shape
        return tuple(shape[1:3]), shape[3]

    def _sizes(self):
        return {split: len(self._arrays[f"y_{split}"]) for split in ("train", "test")}

    def _split_examples(self, split, held, shuffle_files, seed):
        x, y = self._arrays[f"x_{split}"], self._arrays[f"y_{split}"].astype(np.int32)
        if held is not None:
            x, y = x[held], y[held]
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle_files:
            ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        return ds, len(y)

    def _fingerprint(self, split):
        return hashlib.sha256(self._arrays[f"x_{split}"].tobytes() + self._arrays[f"y_{split}"].tobytes()).hexdigest()
