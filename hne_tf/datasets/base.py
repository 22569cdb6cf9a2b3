"""The data set base class, the input spec, the registry, and the ``tf.data`` pipeline every data set shares.

A data set is a :class:`Dataset` subclass in its own module of :mod:`hne_tf.datasets`,
registered with :func:`register`. It says what it is (:meth:`Dataset._info`: shape, label
names, normalization constants, split sizes) and where its examples come from
(:meth:`Dataset.source`); the base class turns a source into batches, the same way for all:

take -> cache -> seeded shuffle -> repeat -> per-example map (decode, crop) -> batch ->
batch augmentation (pad, crop, flip) -> normalize -> prefetch.

Every pipeline yields ``(images float32 [b, H, W, C], labels int32 [b])``, the images
normalized per channel as ``(pixel / 255 - mean) / std``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import tensorflow as tf

from hne_tf import checks

SPLITS = ("train", "test")
# "validation" is not a split of its own: it is the last ``validation_examples`` of "train"
# (load(..., validation_examples=N)), and "train" is then the rest.
VALIDATION = "validation"
AUTOTUNE = tf.data.AUTOTUNE
AUGMENTATIONS = ("standard", "flip", "none")
NORMALIZATION = "per channel: (pixel / 255 - mean) / std"
# How an image of any size becomes the model's H x W (InputSpec.resize).
RESIZE_RULES = ("stretch", "center_crop")
# The options a data set may take besides data_dir (Dataset.options says which); None means "not given".
OPTIONS = ("image_size", "channels", "resize", "cache", "validation_split")


class DataError(RuntimeError):
    """The data set is missing or malformed; the message says how to fix it."""


# ----------------------------------------------------------------------------- the input spec


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model takes and how a raw image becomes it; small and JSON-serialisable.

    A raw image (8-bit pixels, any size, grayscale or colour) becomes the model's input by:

    1. decoding it to RGB (a grayscale image repeats its channel);
    2. resizing it to ``size`` (bilinear, antialiased) by ``resize``: ``"stretch"`` scales each
       side to its target (the aspect ratio may change); ``"center_crop"`` scales the shorter side
       to ``min(size) / crop_fraction`` and cuts the centre ``size`` (ImageNet's evaluation:
       ``crop_fraction`` 0.875 = 224 / 256). Built-in data sets whose images all have the model's
       size record ``"stretch"``, which leaves them unchanged;
    3. with ``channels == 1``, converting to gray as ``0.2989 R + 0.5870 G + 0.1140 B``
       (``tf.image.rgb_to_grayscale``);
    4. rounding to 8 bits, then normalizing each channel: ``(pixel / 255 - mean[c]) / std[c]``.

    ``mean`` and ``std`` have ``channels`` values in 0..1 pixel units.
    """

    size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "stretch"
    crop_fraction: float = 1.0

    FORMULA: ClassVar[str] = "(pixel / 255 - mean) / std, per channel"
    GRAYSCALE: ClassVar[str] = "0.2989 R + 0.5870 G + 0.1140 B"

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        problems = []
        if len(self.size) != 2 or min(self.size) < 1:
            problems.append(f"size must be (height, width) >= 1, got {self.size}")
        if self.channels not in (1, 3):
            problems.append(f"channels must be 1 or 3, got {self.channels!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            problems.append(f"mean and std need {self.channels} values each, got {len(self.mean)} and {len(self.std)}")
        if not all(math.isfinite(s) and s > 0 for s in self.std) or not all(math.isfinite(m) for m in self.mean):
            problems.append(f"std must be finite and > 0 and mean finite, got mean {self.mean}, std {self.std}")
        if self.resize not in RESIZE_RULES:
            problems.append(f"resize must be one of {', '.join(RESIZE_RULES)}, got {self.resize!r}")
        if not 0 < self.crop_fraction <= 1:
            problems.append(f"crop_fraction must be in (0, 1], got {self.crop_fraction!r}")
        if problems:
            raise ValueError("input spec: " + "; ".join(problems))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.size, self.channels)

    def to_json(self) -> dict:
        """The spec as a JSON object (``eval.json``'s ``input_spec``; ``dataset.json``)."""
        return {"size": list(self.size), "channels": self.channels,
                "color": "grayscale" if self.channels == 1 else "rgb",
                "grayscale": self.GRAYSCALE if self.channels == 1 else None,
                "resize": {"rule": self.resize, "crop_fraction": self.crop_fraction,
                           "interpolation": "bilinear", "antialias": True},
                "normalization": {"formula": self.FORMULA, "mean": list(self.mean), "std": list(self.std)}}

    @classmethod
    def from_json(cls, obj: dict) -> InputSpec:
        """The inverse of :meth:`to_json`; ValueError naming what is missing or wrong."""
        try:
            resize = obj.get("resize") or {}
            return cls(size=tuple(obj["size"]), channels=int(obj["channels"]),
                       mean=tuple(obj["normalization"]["mean"]), std=tuple(obj["normalization"]["std"]),
                       resize=resize.get("rule", "stretch"), crop_fraction=float(resize.get("crop_fraction", 1.0)))
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not an input spec (size, channels, normalization.mean/std): {e!r}") from None

    def describe(self) -> str:
        """One line: ``32x32x3 (rgb, stretch), mean [..], std [..]``."""
        rule = self.resize if self.crop_fraction == 1 else f"{self.resize} {self.crop_fraction:g}"
        return (f"{self.size[0]}x{self.size[1]}x{self.channels} ({'grayscale' if self.channels == 1 else 'rgb'}, "
                f"{rule}), mean [{', '.join(f'{m:.4f}' for m in self.mean)}], "
                f"std [{', '.join(f'{s:.4f}' for s in self.std)}]")

    def pixels(self, image: tf.Tensor) -> tf.Tensor:
        """Steps 1-3 and the rounding of one decoded image: uint8 ``[h, w, 1|3|4]`` -> uint8 ``[H, W, channels]``."""
        image = to_rgb(image)
        image = resize_image(image, self.size, self.resize, self.crop_fraction)
        if self.channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)

    def normalize(self, pixels) -> tf.Tensor:
        """Step 4: pixels ``[..., H, W, channels]`` in 0..255 -> float32 model input."""
        mean = tf.constant(self.mean, tf.float32) * 255.0
        std = tf.constant(self.std, tf.float32) * 255.0
        return (tf.cast(pixels, tf.float32) - mean) / std

    def preprocess(self, image: tf.Tensor) -> tf.Tensor:
        """A decoded image of any size (uint8 ``[h, w, 1|3|4]``) -> float32 ``[H, W, channels]``: the whole rule."""
        return self.normalize(self.pixels(image))


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """uint8 ``[h, w, 1|3|4]`` -> ``[h, w, 3]``: gray repeated, alpha dropped."""
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        return image[..., :3]
    if channels is None:
        c = tf.shape(image)[-1]
        image = tf.cond(c == 1, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3])
        image.set_shape([None, None, 3])
    return image


def resize_image(image: tf.Tensor, size: tuple[int, int], rule: str, crop_fraction: float = 1.0) -> tf.Tensor:
    """One image ``[h, w, c]`` -> float32 ``[size[0], size[1], c]`` by ``rule`` (see :class:`InputSpec`)."""
    size = tuple(int(s) for s in size)
    if rule == "stretch":
        return tf.image.resize(image, size, method="bilinear", antialias=True)
    if rule != "center_crop":
        raise ValueError(f"resize must be one of {', '.join(RESIZE_RULES)}, got {rule!r}")
    # ImageNet's evaluation rule (crop_fraction 224/256): round(min(size) / crop_fraction) equals the
    # round(min(crop) * 256 / 224) it always computed (no ties: 16 x cannot be odd).
    shorter = round(min(size) / crop_fraction)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = shorter / tf.reduce_min(hw)
    new_hw = tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), size)
    image = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
    top, left = (new_hw[0] - size[0]) // 2, (new_hw[1] - size[1]) // 2
    return tf.image.crop_to_bounding_box(image, top, left, size[0], size[1])


# ----------------------------------------------------------------------------- what a data set is


@dataclasses.dataclass
class DatasetInfo:
    """Static description of a data set as its pipelines deliver it.

    ``mean`` and ``std`` are per channel, in ``[0, 1]`` pixel units. ``resize`` and
    ``crop_fraction`` are the resize rule of :class:`InputSpec` (``input_spec`` gathers them).
    """
    name: str
    input_shape: tuple[int, int, int]  # (H, W, C) of the images load() yields
    num_classes: int
    labels: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int
    test_size: int
    normalization: str
    augmentation: str
    resize: str = "stretch"
    crop_fraction: float = 1.0

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(size=self.input_shape[:2], channels=self.input_shape[2], mean=self.mean, std=self.std,
                         resize=self.resize, crop_fraction=self.crop_fraction)


@dataclasses.dataclass
class Source:
    """Raw examples plus how to turn them into pixels.

    ``ds`` yields ``(raw image, integer label)``. ``train_map(raw, seed [2])``
    and ``eval_map(raw)`` return ``[H, W, C]`` pixels in ``[0, 255]`` (any
    numeric dtype); ``eval_map=None`` means the raw image already is that.
    ``batch_augment(pixels [b, H, W, C], seed [2])`` augments whole batches;
    a source has either it or ``train_map``. ``cache``: ``False``, ``True`` (in
    memory) or a file name prefix (``tf.data``'s on-disk cache), applied after
    ``take``. ``in_memory``: the examples are numpy arrays (a shuffle buffer
    over all of them costs nothing extra).
    """
    ds: tf.data.Dataset
    size: int | None
    train_map: Callable | None = None
    eval_map: Callable | None = None
    batch_augment: Callable | None = None
    cache: bool | str = False
    in_memory: bool = False


REGISTRY: dict[str, type[Dataset]] = {}


def register(cls: type[Dataset]) -> type[Dataset]:
    """Class decorator: adds a :class:`Dataset` subclass to the registry under ``cls.name``."""
    if not cls.name or not cls.summary:
        raise ValueError(f"{cls.__name__}: a data set needs a name and a summary")
    if cls.name in REGISTRY:
        raise ValueError(f"data set {cls.name!r} is registered twice")
    unknown = set(cls.options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"{cls.name}: unknown options {sorted(unknown)}; known: {', '.join(OPTIONS)}")
    REGISTRY[cls.name] = cls
    return cls


class Dataset:
    """One data set: its splits, label names, input spec and pipelines.

    Subclasses set the class attributes, implement :meth:`_info` and :meth:`source`, and
    are decorated with :func:`register`. ``argument`` is what follows the name in
    ``NAME:ARGUMENT`` (a folder, a TFDS name) for data sets with an ``argument``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""          # one line for --dataset's help
    argument: ClassVar[str | None] = None  # e.g. "PATH": the data set is named "NAME:PATH"
    options: ClassVar[tuple[str, ...]] = ("image_size",)  # which of OPTIONS it takes
    sources: ClassVar[tuple[str, ...]] = ("auto", "tfds")  # load(source=...)
    shuffle_cap: ClassVar[int | None] = None  # largest shuffle buffer (ImageNet: its examples are JPEG bytes)

    def __init__(self, argument: str | None = None, *, data_dir: str | None = None, **options) -> None:
        self.arg = argument
        self.data_dir = data_dir
        self.opts = {k: v for k, v in options.items() if v is not None}

    @classmethod
    def argument_default(cls, data_dir: str | None) -> str | None:
        """The argument when ``--dataset`` names none (``folder`` takes ``--data_dir``); None: it is required."""
        return None

    def __str__(self) -> str:
        return self.full_name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.full_name}>"

    @property
    def full_name(self) -> str:
        """``name``, or ``name:argument``: what ``--dataset`` and config.json hold."""
        return f"{self.name}:{self.arg}" if self.argument else self.name

    @functools.cached_property
    def info(self) -> DatasetInfo:
        return self._info()

    def _info(self) -> DatasetInfo:
        raise NotImplementedError

    def prepare(self, log: Callable[[str], None] = print, stored: InputSpec | None = None) -> None:
        """Whatever must happen before :attr:`info` is final: data sets that compute their statistics
        from the data do it here (or take ``stored``, those of an earlier run). Built-ins need nothing."""

    def source(self, split: str, *, seed: int, shuffle_files: bool, take: int | None, holdout: slice | None,
               source: str) -> Source:
        """The examples of ``split`` ("train" or "test"), ``holdout`` sliced out of it (see :func:`holdout`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared by every data set

    def check_validation_examples(self, validation_examples: int) -> None:
        """ValueError unless ``0 <= validation_examples < train_size`` (an integer)."""
        check_validation_examples(self.info, validation_examples)

    def _source(self, split, source, seed, shuffle_files, take, validation_examples=0) -> Source:
        split, held = holdout(split, validation_examples)
        if source not in self.sources:
            raise ValueError(f"source {source!r} not available for {self.name}; choose from {self.sources}")
        return self.source(split, seed=seed, shuffle_files=shuffle_files, take=take, holdout=held, source=source)

    def load(self, split: str, batch_size: int, *, training: bool = False, seed: int = 0, source: str = "auto",  # noqa: PLR0913 -- keyword-only pipeline options
             drop_remainder: bool | None = None, take: int | None = None, repeat: bool = False,
             augmentation: str = "standard", validation_examples: int = 0) -> tf.data.Dataset:
        """A ``tf.data`` pipeline of ``(images float32 [b, H, W, C], labels int32 [b])``.

        Args:
          split: ``"train"``, ``"test"`` (ImageNet: the validation set) or ``"validation"``
            (the last ``validation_examples`` of the training split, in its stored order).
          batch_size: examples per batch.
          training: shuffle (seeded) and augment (see the data set's ``augmentation``).
          seed: seeds shuffling and augmentation; the same seed gives the same stream.
          source: ``"auto"``; ``"idx"`` or ``"tfds"`` force a Fashion-MNIST source.
          drop_remainder: default ``training``, except when fewer than ``batch_size``
            examples are known to exist (then the partial batch is kept).
          take: use only the first ``take`` examples of the split.
          repeat: repeat indefinitely (reshuffled and re-augmented every pass).
          augmentation: with ``training``: ``"standard"`` (the data set's), ``"flip"``
            (horizontal flip only) or ``"none"``.
          validation_examples: hold out the last N training examples: ``"train"`` is
            then the rest and ``"validation"`` those N (0: no hold-out).
        """
        info = self.info
        checks.choice(*AUGMENTATIONS).check("augmentation", augmentation)
        checks.choice(*SPLITS, VALIDATION).check("split", split)
        self.check_validation_examples(validation_examples)
        if split == VALIDATION and not validation_examples:
            raise ValueError("split 'validation' needs validation_examples >= 1 (the examples held out of 'train')")
        checks.count("batch_size", batch_size)
        checks.or_none(checks.integer(1), "all").check("take (the number of examples to use)", take)
        src = self._source(split, source, seed, shuffle_files=training, take=take,
                           validation_examples=validation_examples)
        if drop_remainder is None:
            known = min(x for x in (src.size, take, float("inf")) if x)
            drop_remainder = training and known >= batch_size
        return self._pipeline(src, info, batch_size, shuffle=training, augment=training, seed=seed,
                              drop_remainder=drop_remainder, take=take, repeat=repeat, augmentation=augmentation)

    def load_arrays(self, split: str, take: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A whole split (or its first ``take`` examples) in memory, as :meth:`load` delivers it for
        evaluation: ``(images float32 [n, H, W, C], labels int32 [n])``."""
        images, labels = [], []
        for x, y in self.load(split, 500, take=take):
            images.append(x.numpy())
            labels.append(y.numpy())
        return np.concatenate(images), np.concatenate(labels)

    def raw_arrays(self, split: str, take: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The pixels before normalization: ``(uint8 [n, H, W, C], int32 [n])``, as :meth:`load_arrays`
        delivers them for evaluation (the images the demos preprocess themselves)."""
        spec = self.info.input_spec
        images, labels = self.load_arrays(split, take)
        pixels = images * np.array(spec.std, np.float32) * 255 + np.array(spec.mean, np.float32) * 255
        return np.round(np.clip(pixels, 0, 255)).astype(np.uint8), labels

    def representative_images(self, num: int, seed: int = 0, source: str = "auto") -> np.ndarray:
        """``num`` normalized training images, float32 ``[num, H, W, C]``, without augmentation.

        A seeded random sample (evaluation preprocessing), e.g. for int8 calibration.
        """
        info = self.info
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
            raise ValueError(f"num (the number of images) must be an integer >= 1, got {num!r}")
        src = self._source("train", source, seed, shuffle_files=True, take=None)
        if src.size is not None and num > src.size:
            raise ValueError(f"{self.full_name} has only {src.size} training images, asked for {num}")
        in_memory = src.in_memory and src.size is not None
        ds = self._pipeline(src, info, num, shuffle=True, augment=False, seed=seed, drop_remainder=False,
                            take=None, repeat=False, max_buffer=50_000 if in_memory else max(10 * num, 1000))
        images, _ = next(iter(ds))
        return images.numpy()

    def _pipeline(self, src: Source, info: DatasetInfo, batch_size: int, *, shuffle: bool, augment: bool,  # noqa: PLR0913 -- keyword-only, the options load resolved
                  seed: int, drop_remainder: bool, take: int | None, repeat: bool,
                  max_buffer: int = 50_000, augmentation: str = "standard") -> tf.data.Dataset:
        """take -> cache -> shuffle -> repeat -> per-example map -> batch -> batch augment -> normalize."""
        if augment and augmentation != "standard":
            # Only the flip, or nothing: the per-example map becomes the evaluation one.
            flip = pad_crop_flip(0, flip=True) if augmentation == "flip" else None
            src = dataclasses.replace(src, train_map=None, batch_augment=flip)
        ds = src.ds if take is None else src.ds.take(take)
        if src.cache is True:
            ds = ds.cache()
        elif src.cache:
            ds = ds.cache(src.cache)
        if shuffle:
            cap = max_buffer if self.shuffle_cap is None else min(max_buffer, self.shuffle_cap)
            buffer = min(x for x in (src.size, take, cap) if x)
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        if augment and src.train_map is not None:
            ds = tf.data.Dataset.zip((ds, seeds)).map(
                lambda example, s: (src.train_map(example[0], s), example[1]), num_parallel_calls=AUTOTUNE)
        elif src.eval_map is not None:
            ds = ds.map(lambda image, label: (src.eval_map(image), label), num_parallel_calls=AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
        if augment and src.batch_augment is not None:
            ds = tf.data.Dataset.zip((ds, seeds)).map(
                lambda batch, s: (src.batch_augment(batch[0], s), batch[1]), num_parallel_calls=AUTOTUNE)
        ds = ds.map(normalizer(info), num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)


# ----------------------------------------------------------------------------- pieces the data sets share


def check_validation_examples(info: DatasetInfo, validation_examples: int) -> None:
    """ValueError unless ``0 <= validation_examples < info.train_size`` (an integer)."""
    n = validation_examples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n < info.train_size:
        raise ValueError(f"validation_examples must be an integer in [0, {info.train_size}) for {info.name} "
                         f"({info.train_size} training examples), got {n!r}")


def normalizer(info: DatasetInfo) -> Callable:
    """``(pixels [b, H, W, C], labels [b]) -> (float32 normalized, int32)``."""
    mean = tf.constant(info.mean, tf.float32) * 255.0
    std = tf.constant(info.std, tf.float32) * 255.0

    def normalize(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return (tf.cast(images, tf.float32) - mean) / std, tf.cast(labels, tf.int32)
    return normalize


def pad_crop_flip(pad: int, flip: bool) -> Callable:
    """Batch augmentation ``(images [b, H, W, C], seed [2]) -> [b, H, W, C]``.

    Zero pads ``pad`` pixels on each side, crops a random ``H x W`` window per
    image and, if ``flip``, mirrors each image left-right with probability 1/2.
    Vectorized over the batch (per-example maps are slow for small images).
    """
    def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(images)
        b, h, w = shape[0], shape[1], shape[2]
        seeds = tf.random.split(seed, 2)
        offsets = tf.random.stateless_uniform([2, b], seeds[0], minval=0, maxval=2 * pad + 1, dtype=tf.int32)
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        rows = offsets[0][:, None] + tf.range(h)[None]                  # [b, H]
        cols = offsets[1][:, None] + tf.range(w)[None]                  # [b, W]
        images = tf.gather(padded, rows, axis=1, batch_dims=1)          # [b, H, W + 2 pad, C]
        images = tf.gather(images, cols, axis=2, batch_dims=1)          # [b, H, W, C]
        if flip:
            mirror = tf.random.stateless_uniform([b], seeds[1]) < 0.5
            images = tf.where(mirror[:, None, None, None], tf.reverse(images, axis=[2]), images)
        return images
    return augment


def array_source(images: np.ndarray, labels: np.ndarray, augment: Callable, take: int | None) -> Source:
    """Examples held in numpy arrays (``take`` sliced before ``tf.data`` sees them)."""
    if take is not None:
        images, labels = images[:take], labels[:take]
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return Source(ds=ds, size=len(labels), batch_augment=augment, in_memory=True)


def holdout(split: str, validation_examples: int) -> tuple[str, slice | None]:
    """``(the split to read, the slice of it)`` for ``split`` with ``validation_examples`` held out of "train"."""
    if split == VALIDATION:
        return "train", slice(-validation_examples, None)
    if split == "train" and validation_examples:
        return "train", slice(None, -validation_examples)
    return split, None


def holdout_size(size: int | None, held: slice | None) -> int | None:
    if size is None or held is None:
        return size
    return len(range(size)[held])


def image_size_pair(image_size) -> tuple[int, int]:
    """``s`` -> (s, s); ``(h, w, ...)`` -> (h, w)."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        return (int(image_size), int(image_size))
    return tuple(int(d) for d in image_size)[:2]


__all__ = ["AUGMENTATIONS", "AUTOTUNE", "NORMALIZATION", "OPTIONS", "REGISTRY", "RESIZE_RULES", "SPLITS",
           "VALIDATION", "DataError", "Dataset", "DatasetInfo", "InputSpec", "Source", "array_source",
           "check_validation_examples", "holdout",
           "holdout_size", "image_size_pair", "normalizer", "pad_crop_flip", "register", "resize_image", "to_rgb"]
