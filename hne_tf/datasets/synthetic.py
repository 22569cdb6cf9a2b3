"""A synthetic task, generated in memory: one fixed 3x3 texture per class plus Gaussian noise
(see :func:`synthetic_arrays`); 2,048 training and 512 test images, 28x28x1 unless ``image_size``
says otherwise (an int, ``(H, W)`` or ``(H, W, C)``).

Training augmentation (``standard``): zero padding of ``max(1, H // 14)`` pixels + random crop
(no flip: the class textures are not mirror-symmetric).
"""

from __future__ import annotations

import functools

import numpy as np

from hne_tf.datasets.base import (
    NORMALIZATION,
    SPLITS,
    Dataset,
    DatasetInfo,
    Source,
    array_source,
    pad_crop_flip,
    register,
)

SYNTHETIC_SEED = 0          # fixes the synthetic task (templates and samples)
SYNTHETIC_NOISE = 0.25      # std of the Gaussian pixel noise added to a template
SYNTHETIC_SIZES = (2048, 512)


def synthetic_shape(image_size) -> tuple[int, int, int]:
    """``None`` -> 28x28x1; ``s`` -> (s, s, 1); ``(h, w)`` -> (h, w, 1); ``(h, w, c)`` as is."""
    if image_size is None:
        return (28, 28, 1)
    if isinstance(image_size, (int, np.integer)):
        return (int(image_size), int(image_size), 1)
    dims = tuple(int(d) for d in image_size)
    if len(dims) == 2:
        return dims + (1,)
    if len(dims) == 3:
        return dims
    raise ValueError(f"image_size must be an int, (H, W) or (H, W, C), got {image_size!r}")


@register
class Synthetic(Dataset):
    name = "synthetic"
    summary = "a generated texture task, 28x28x1 (--image_size), 10 classes, 2048/512 images: for tests and demos"
    sources = ("auto", "synthetic")

    def _info(self) -> DatasetInfo:
        shape = synthetic_shape(self.opts.get("image_size"))
        # clip(U(0,1) + N(0, 0.25), 0, 1), per channel
        return DatasetInfo(name=self.name, input_shape=shape, num_classes=10,
                           labels=[f"class_{i}" for i in range(10)], mean=(0.5,) * shape[2], std=(0.326,) * shape[2],
                           train_size=SYNTHETIC_SIZES[0], test_size=SYNTHETIC_SIZES[1], normalization=NORMALIZATION,
                           augmentation="zero pad max(1, H // 14) + random crop")

    def source(self, split, *, seed, shuffle_files, take, holdout, source) -> Source:
        info = self.info
        images, labels = synthetic_arrays(split, info.input_shape, info.num_classes)
        if holdout is not None:
            images, labels = images[holdout], labels[holdout]
        pad = max(1, info.input_shape[0] // 14)
        return array_source(images, labels, pad_crop_flip(pad, flip=False), take)


@functools.lru_cache(maxsize=4)
def synthetic_arrays(split: str, shape: tuple[int, int, int] = (28, 28, 1),
                     num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic task: ``(images uint8 [N, H, W, C], labels uint8 [N])``.

    Each class has a fixed template: a random ``3 x 3 x C`` patch (uniform in
    [0, 1]) tiled over the image, i.e. a class-specific texture that small
    convolutions and global pooling pick up quickly and that random crops keep.
    An image is its class template plus Gaussian noise (std
    :data:`SYNTHETIC_NOISE`), clipped to [0, 1] and quantized to uint8. Both
    splits share the templates, so the task is learnable; everything is fixed by
    :data:`SYNTHETIC_SEED` (the ``seed`` of ``load`` only orders and
    augments it). Classes are balanced.
    """
    h, w, c = shape
    tiles = np.random.default_rng([SYNTHETIC_SEED, 0]).uniform(size=(num_classes, 3, 3, c))
    templates = tiles[:, np.arange(h) % 3][:, :, np.arange(w) % 3]  # [K, H, W, C]
    n = SYNTHETIC_SIZES[SPLITS.index(split)]
    rng = np.random.default_rng([SYNTHETIC_SEED, 1 + SPLITS.index(split)])
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.uint8)
    images = np.empty((n, h, w, c), np.uint8)
    for start in range(0, n, 256):  # chunks bound the float64 memory for large shapes
        y = labels[start:start + 256]
        x = templates[y] + rng.normal(0.0, SYNTHETIC_NOISE, size=(len(y), h, w, c))
        images[start:start + 256] = np.round(np.clip(x, 0.0, 1.0) * 255)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels
