"""Input pipelines by data set name: the functions every caller used before the registry, each a
look-up in :mod:`hne_tf.datasets` (one file per data set there; their docstrings say where the
data comes from and how it is augmented).

Every pipeline built by :func:`load` yields ``(images, labels)`` batches:

* ``images``: ``float32 [batch, H, W, C]``, normalized per channel as
  ``(pixel / 255 - mean) / std`` with the :class:`DatasetInfo` constants;
* ``labels``: ``int32 [batch]`` in ``[0, num_classes)``.

``name`` may be any name :func:`hne_tf.datasets.get` takes (``"folder:PATH"``, ``"tfds:NAME"``) or
a :class:`~hne_tf.datasets.base.Dataset` itself. When data is missing a :class:`DataError` says how
to get it.

``augmentation="flip"`` keeps only the horizontal flip (ImageNet: the evaluation crop, flipped),
and ``augmentation="none"`` only shuffles (ImageNet: the evaluation crop). Short schedules fit
better without the crops: on Fashion-MNIST two epochs of ``hne_resnet_mini`` (lr 0.1, one seed)
reached 87.2% (k = 16) without augmentation against 85.9% with the flip only and about 85.8% with
the standard crop + flip. ``load``'s default is ``"standard"``; ``train.py``'s default, ``"none"``,
is the main job's.

Zero padding happens on raw pixels (black), before normalization. Random ops are stateless and
seeded per example from ``seed``, so a pipeline is reproducible.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from hne_tf import datasets
from hne_tf.datasets.base import (
    AUGMENTATIONS,
    AUTOTUNE,
    SPLITS,
    VALIDATION,
    DataError,
    Dataset,
    DatasetInfo,
    check_validation_examples,
)
from hne_tf.datasets.cifar10 import CIFAR10_LABELS
from hne_tf.datasets.cifar100 import CIFAR100_LABELS
from hne_tf.datasets.fashion_mnist import (
    _IDX_FILES,
    FASHION_LABELS,
    FASHION_MNIST_DIR,
    parse_idx,
    read_fashion_mnist,
    read_idx,
)
from hne_tf.datasets.synthetic import SYNTHETIC_NOISE, SYNTHETIC_SEED, SYNTHETIC_SIZES, synthetic_arrays

# The data sets named without an argument (folder:PATH, tfds:NAME and npz:FILE take one).
DATASETS = tuple(n for n in datasets.names() if ":" not in n)


def _get(name: str | Dataset, data_dir: str | None = None, image_size=None) -> Dataset:
    return datasets.get(name, data_dir=data_dir, image_size=image_size)


def dataset_info(name: str | Dataset, image_size=None) -> DatasetInfo:
    """Describe ``name``.

    ``image_size`` sets the synthetic shape (int, ``(H, W)`` or ``(H, W, C)``;
    default 28x28x1) and the ImageNet crop size (default 224); Fashion-MNIST and
    CIFAR only accept their native size.
    """
    return _get(name, image_size=image_size).info


def load(name: str | Dataset, split: str, batch_size: int, *, data_dir: str | None = None, training: bool = False,  # noqa: PLR0913, E501 -- keyword-only pipeline options, Dataset.load's
         seed: int = 0, source: str = "auto", drop_remainder: bool | None = None,
         take: int | None = None, repeat: bool = False, image_size=None,
         augmentation: str = "standard", validation_examples: int = 0) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of ``(images float32 [b, H, W, C], labels int32 [b])``: see
    :meth:`hne_tf.datasets.base.Dataset.load`. ``data_dir``: IDX directory (Fashion-MNIST) or TFDS
    data dir (ImageNet's manual tars may sit in it or in its ``downloads/manual``)."""
    return _get(name, data_dir, image_size).load(
        split, batch_size, training=training, seed=seed, source=source, drop_remainder=drop_remainder, take=take,
        repeat=repeat, augmentation=augmentation, validation_examples=validation_examples)


def load_arrays(name: str | Dataset, split: str, *, data_dir: str | None = None, take: int | None = None,
                image_size=None) -> tuple[np.ndarray, np.ndarray]:
    """A whole split (or its first ``take`` examples) in memory, as :func:`load`
    delivers it for evaluation: ``(images float32 [n, H, W, C], labels int32 [n])``."""
    return _get(name, data_dir, image_size).load_arrays(split, take)


def representative_images(name: str | Dataset, num: int, data_dir: str | None = None, seed: int = 0,
                          image_size=None, source: str = "auto") -> np.ndarray:
    """``num`` normalized training images, float32 ``[num, H, W, C]``, without augmentation.

    A seeded random sample (evaluation preprocessing), e.g. for int8 calibration.
    """
    return _get(name, data_dir, image_size).representative_images(num, seed=seed, source=source)


__all__ = ["AUGMENTATIONS", "AUTOTUNE", "CIFAR100_LABELS", "CIFAR10_LABELS", "DATASETS", "FASHION_LABELS",
           "FASHION_MNIST_DIR", "SPLITS", "SYNTHETIC_NOISE", "SYNTHETIC_SEED", "SYNTHETIC_SIZES", "VALIDATION",
           "DataError", "DatasetInfo", "_IDX_FILES", "check_validation_examples", "dataset_info", "load", "load_arrays",
           "parse_idx", "read_fashion_mnist", "read_idx", "representative_images", "synthetic_arrays"]
