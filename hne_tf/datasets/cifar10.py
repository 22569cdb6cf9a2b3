"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images of 10 classes, 50,000 for training and 10,000 for testing.

Read from a prepared TFDS data dir (``download=False``). Training augmentation (``standard``):
4-pixel zero padding + random 32x32 crop + horizontal flip.
"""

from __future__ import annotations

from hne_tf.datasets import _tfds
from hne_tf.datasets.base import (
    NORMALIZATION,
    DataError,
    Dataset,
    DatasetInfo,
    Source,
    holdout_size,
    image_size_pair,
    pad_crop_flip,
    register,
)

CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                  "truck"]


@register
class Cifar10(Dataset):
    name = "cifar10"
    summary = "CIFAR-10, 32x32x3, 10 classes: a prepared TFDS data dir (--data_dir)"
    labels: tuple[str, ...] = tuple(CIFAR10_LABELS)
    # Per-channel statistics of the training set, in [0, 1] pixel units.
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)

    def _info(self) -> DatasetInfo:
        size = self.opts.get("image_size")
        if size is not None and image_size_pair(size) != (32, 32):
            raise ValueError(f"{self.name} has a fixed resolution (32, 32), got image_size={size!r}")
        return DatasetInfo(name=self.name, input_shape=(32, 32, 3), num_classes=len(self.labels),
                           labels=list(self.labels), mean=self.mean, std=self.std, train_size=50000, test_size=10000,
                           normalization=NORMALIZATION,
                           augmentation="4-pixel zero pad + random 32x32 crop + horizontal flip")

    def source(self, split, *, seed, shuffle_files, take, holdout, source) -> Source:
        name, data_dir = self.name, self.data_dir
        try:
            ds = _tfds.tfds_load(name, _tfds.tfds_split(split, holdout), data_dir, shuffle_files, seed)
        except _tfds.TFDS_MISSING as e:
            raise DataError(
                f"{name} is not prepared in {_tfds.dir_text(data_dir)} and downloads are disabled. "
                f"{_tfds.prepare_help(name)} (TFDS: {e})") from e
        return Source(ds=ds, size=holdout_size(_tfds.split_size(name, split, data_dir), holdout),
                      batch_augment=pad_crop_flip(4, flip=True), cache=True)
