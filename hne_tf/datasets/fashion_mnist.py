"""Fashion-MNIST (Xiao et al. 2017): 28x28 grayscale images of 10 kinds of clothing, 60,000 for training
and 10,000 for testing.

Read from the IDX files (``.gz`` or raw) in ``data_dir`` if given, else in :data:`FASHION_MNIST_DIR`
(which ``apt-get install dataset-fashion-mnist`` fills); failing that, from an already prepared TFDS
copy in the same place. Nothing is downloaded. An explicit ``data_dir`` never falls back silently to
the system copy. A malformed IDX file (bad header, size or label) raises :class:`DataError`.

Training augmentation (``standard``): 2-pixel zero padding + random 28x28 crop + horizontal flip.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib

import numpy as np

from hne_tf.datasets import _tfds
from hne_tf.datasets.base import (
    NORMALIZATION,
    SPLITS,
    DataError,
    Dataset,
    DatasetInfo,
    Source,
    array_source,
    holdout_size,
    image_size_pair,
    pad_crop_flip,
    register,
)

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]
SIZES = (60000, 10000)
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@register
class FashionMnist(Dataset):
    name = "fashion_mnist"
    summary = ("Fashion-MNIST, 28x28x1, 10 classes: IDX files in --data_dir or /usr/share/datasets/fashion-mnist "
               "(apt-get install dataset-fashion-mnist), else a prepared TFDS copy")
    sources = ("auto", "idx", "tfds")

    def _info(self) -> DatasetInfo:
        size = self.opts.get("image_size")
        if size is not None and image_size_pair(size) != (28, 28):
            raise ValueError(f"fashion_mnist has a fixed resolution (28, 28), got image_size={size!r}")
        return DatasetInfo(name=self.name, input_shape=(28, 28, 1), num_classes=10, labels=list(FASHION_LABELS),
                           mean=(0.2860,), std=(0.3530,), train_size=SIZES[0], test_size=SIZES[1],
                           normalization=NORMALIZATION,
                           augmentation="2-pixel zero pad + random 28x28 crop + horizontal flip")

    def source(self, split, *, seed, shuffle_files, take, holdout, source) -> Source:
        augment = pad_crop_flip(2, flip=True)
        data_dir = self.data_dir
        if source in ("auto", "idx"):
            # An explicit data_dir is where the user wants the data from: no
            # silent fallback to the system copy.
            directory = data_dir or FASHION_MNIST_DIR
            if source == "idx" or _has_idx_files(directory):
                images, labels = read_fashion_mnist(directory, split)
                if holdout is not None:
                    images, labels = images[holdout], labels[holdout]
                return array_source(images, labels, augment, take)
        try:
            ds = _tfds.tfds_load("fashion_mnist", _tfds.tfds_split(split, holdout), data_dir, shuffle_files, seed)
        except _tfds.TFDS_MISSING as e:
            looked = "" if source == "tfds" else (
                f"no IDX files in {data_dir or FASHION_MNIST_DIR!r} and ")
            raise DataError(f"Fashion-MNIST not found: {looked}not prepared in {_tfds.dir_text(data_dir)} "
                            f"(TFDS: {e}). {_FASHION_HELP}") from e
        size = SIZES[SPLITS.index(split)]
        return Source(ds=ds, size=holdout_size(size, holdout), batch_augment=augment, in_memory=True)


# ----------------------------------------------------------------------------- IDX files

_FASHION_HELP = (
    "To get Fashion-MNIST: `apt-get install dataset-fashion-mnist` (puts the IDX files in "
    f"{FASHION_MNIST_DIR}), or pass --data_dir (data_dir=) pointing to a directory with "
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz, or, on a machine with internet, prepare it with TFDS "
    "(`tfds build fashion_mnist`, i.e. tfds.builder('fashion_mnist').download_and_prepare()) and "
    "pass --data_dir to that TFDS data dir if it is not the default (~/tensorflow_datasets).")


_REPLACE_HELP = ("Replace the file with a good copy (Debian: `apt-get install --reinstall "
                 "dataset-fashion-mnist`)")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, what: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array of its dims.

    Header: two zero bytes, a type code, the number of dims, then one
    big-endian uint32 per dim. Raises :class:`DataError` if anything is off.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{what}: not an IDX file (bad magic number {data[:4].hex() or 'empty'}). "
                        f"{_REPLACE_HELP}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{what}: truncated IDX header. {_REPLACE_HELP}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{what}: IDX header says {dims} ({expected} bytes of data), "
                        f"file has {len(data) - header}. {_REPLACE_HELP}")
    return np.frombuffer(data, dtype, offset=header).reshape(dims)


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not; :class:`DataError` when malformed."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise DataError(f"{path}: corrupt or truncated gzip file ({e}). {_REPLACE_HELP}") from None
    return parse_idx(data, path)


def _idx_path(directory: str, stem: str) -> str | None:
    for candidate in (stem + ".gz", stem):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _has_idx_files(directory: str | None) -> bool:
    return bool(directory) and os.path.isdir(directory) and any(
        _idx_path(directory, stem) for pair in _IDX_FILES.values() for stem in pair)


@functools.lru_cache(maxsize=4)
def _read_fashion_idx_cached(images_path: str, labels_path: str, stamp) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images [N, 28, 28], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{labels_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} {len(labels)} labels")
    if labels.size and labels.max() >= 10:
        raise DataError(f"{labels_path}: label {labels.max()} out of range [0, 10)")
    images = images[..., None]
    images.setflags(write=False)
    return images, labels


def read_fashion_mnist(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 28, 28, 1], labels uint8 [N])`` from the IDX files in ``directory``."""
    stems = _IDX_FILES[split]
    paths = [_idx_path(directory, stem) for stem in stems]
    missing = [stem + ".gz" for stem, path in zip(stems, paths, strict=True) if path is None]
    if missing:
        raise DataError(f"{directory}: missing Fashion-MNIST IDX files {missing}. " + _FASHION_HELP)
    stamp = tuple((os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths)
    return _read_fashion_idx_cached(paths[0], paths[1], stamp)
