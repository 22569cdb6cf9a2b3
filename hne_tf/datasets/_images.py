"""Data sets whose images come in any size and whose statistics come from the data: the base of
``folder:PATH``, ``tfds:NAME`` and ``npz:FILE`` (:class:`ImageDataset`).

Each image is decoded, resized and converted to the model's channels by its
:class:`~hne_tf.datasets.base.InputSpec` (:meth:`InputSpec.pixels`), then flows through the
pipeline of :class:`~hne_tf.datasets.base.Dataset` like any data set's. The spec's size, resize rule
and channels come from the options (``image_size``, ``resize``, ``channels``) or the data; its
per-channel mean and std are computed once, by :meth:`ImageDataset.prepare`, from every training
image as the model sees it. That pass also finds the images that cannot be decoded (they are
skipped, and counted in one warning line) and, without ``channels``, whether the images are
grayscale (every training image has R = G = B) or colour. It reports its progress with an estimate
of the time left: a line per :data:`PROGRESS_INTERVAL` seconds, or one line redrawn in a terminal.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from hne_tf import checks
from hne_tf.datasets.base import (
    AUTOTUNE,
    NORMALIZATION,
    RESIZE_RULES,
    DataError,
    Dataset,
    DatasetInfo,
    InputSpec,
    Source,
    image_size_pair,
    pad_crop_flip,
    resize_image,
    to_rgb,
)

DEFAULT_IMAGE_SIZE = 32
MAX_NATIVE_SIZE = 64             # data of one fixed size keep it by default up to this many pixels a side
CACHES = ("auto", "memory", "none")  # or a folder: tf.data's cache files go there
AUTO_CACHE_BYTES = 1 << 30       # "auto" keeps a split's decoded pixels in memory up to this size
SHUFFLE_BYTES = 256 << 20        # the shuffle buffer holds decoded images: at most about this much
PROGRESS_INTERVAL = 60.0         # seconds between progress lines when stdout is not a terminal
SCAN_BATCH = 64


def _interactive() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Progress:
    """``reading WHAT: 1,200 of 5,000 images (24%), 35 s, about 1 min 50 s left``: a line per
    ``interval`` seconds through ``log``, or one line redrawn in place when stdout is a terminal."""

    def __init__(self, what: str, total: int | None, log: Callable[[str], None], interval: float | None = None,
                 interactive: bool | None = None) -> None:
        self.what, self.total, self.log = what, total, log
        self.interactive = _interactive() if interactive is None else interactive
        self.interval = (1.0 if self.interactive else PROGRESS_INTERVAL) if interval is None else interval
        self.start = self.last = time.time()
        self.drawn = False

    def line(self, done: int) -> str:
        elapsed = time.time() - self.start
        text = f"reading {self.what}: {done:,}"
        if self.total:
            text += f" of {self.total:,} images ({100 * done / self.total:.0f}%), {_duration(elapsed)}"
            if done:
                text += f", about {_duration(elapsed / done * (self.total - done))} left"
        else:
            text += f" images, {_duration(elapsed)}"
        return text

    def update(self, done: int) -> None:
        now = time.time()
        if now - self.last < self.interval:
            return
        self.last = now
        if self.interactive:
            sys.stdout.write("\r" + self.line(done) + "\033[K")
            sys.stdout.flush()
            self.drawn = True
        else:
            self.log(self.line(done))

    def close(self) -> None:
        if self.drawn:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()


def rgb_and_gray(image: tf.Tensor, size: tuple[int, int], resize: str) -> tuple[tf.Tensor, tf.Tensor]:
    """A decoded image (uint8 ``[h, w, 1|3|4]``) as the model would see it in RGB and in gray: uint8
    ``[H, W, 3]`` and ``[H, W, 1]``, each exactly what :meth:`InputSpec.pixels` gives for 3 or 1 channels."""
    image = resize_image(to_rgb(image), size, resize)
    image.set_shape([*size, 3])

    def rounded(x):
        return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)
    return rounded(image), rounded(tf.image.rgb_to_grayscale(image))


class PixelStats:
    """Per-channel mean and std of images in RGB and in gray, and whether any image has colour
    (R, G, B not all equal): what an :class:`InputSpec` needs from the training data."""

    def __init__(self) -> None:
        self.sums = {c: np.zeros(c, np.float64) for c in (1, 3)}
        self.squares = {c: np.zeros(c, np.float64) for c in (1, 3)}
        self.pixels = 0
        self.colour = False

    def add(self, rgb: np.ndarray, gray: np.ndarray) -> None:
        """A batch of ``rgb_and_gray`` outputs: uint8 ``[b, H, W, 3]`` and ``[b, H, W, 1]``."""
        for c, x in ((3, rgb), (1, gray)):
            flat = x.reshape(-1, c).astype(np.float64)
            self.sums[c] += flat.sum(0)
            self.squares[c] += np.square(flat).sum(0)
        self.pixels += rgb.shape[0] * rgb.shape[1] * rgb.shape[2]
        self.colour = self.colour or bool(np.any(rgb[..., 0] != rgb[..., 1]) or np.any(rgb[..., 1] != rgb[..., 2]))

    def spec(self, size: tuple[int, int], channels: int | None, resize: str) -> InputSpec:
        """The spec; ``channels`` None: 1 when no image had colour, else 3."""
        channels = channels or (3 if self.colour else 1)
        mean = self.sums[channels] / self.pixels / 255.0
        var = self.squares[channels] / self.pixels / 255.0 ** 2 - mean ** 2
        std = np.maximum(np.sqrt(np.maximum(var, 0.0)), 1 / 255)  # a constant channel still divides safely
        return InputSpec(size=size, channels=channels, mean=tuple(np.round(mean, 6)), std=tuple(np.round(std, 6)),
                         resize=resize)


class ImageDataset(Dataset):
    """A data set of images of any size, resized by its :class:`InputSpec`, statistics from the data.

    Subclasses implement :meth:`_labels`, :meth:`_split_examples` and :meth:`_decode`, and may
    override :meth:`_native` (a size and channel count every image has) and :meth:`_sizes`.

    Options: ``image_size`` (an int, or ``(H, W)``; default the data's own size when every image
    has it and it is at most :data:`MAX_NATIVE_SIZE` a side, else :data:`DEFAULT_IMAGE_SIZE`),
    ``channels`` (1 or 3; default the data's own, else detected), ``resize``
    (:data:`~hne_tf.datasets.base.RESIZE_RULES`; default ``"stretch"``), ``cache`` (:data:`CACHES`
    or a folder), ``validation_split`` (a fraction of each class held out as the "test" split,
    where the data has no test split of its own).
    """

    options = ("image_size", "channels", "resize", "cache", "validation_split")
    sources = ("auto",)
    max_native_size: int | None = MAX_NATIVE_SIZE  # None: keep the data's own size, however large

    def __init__(self, argument: str | None = None, *, data_dir: str | None = None, **options) -> None:
        super().__init__(argument, data_dir=data_dir, **options)
        o = self.opts
        if "image_size" in o:
            size = o["image_size"]
            try:
                pair = image_size_pair(size)
            except (TypeError, ValueError):
                pair = ()
            if len(pair) != 2 or min(pair) < 1 or isinstance(size, bool):
                raise ValueError(f"--image_size must be an integer >= 1 (or (height, width)), got {size!r}")
            o["image_size"] = pair
        if "channels" in o and (isinstance(o["channels"], bool) or o["channels"] not in (1, 3)):
            raise ValueError(f"--channels must be 1 (grayscale) or 3 (RGB), got {o['channels']!r}")
        if "resize" in o:
            checks.choice(*RESIZE_RULES).check("--resize", o["resize"])
        if "validation_split" in o:
            checks.number(0, 1, low_open=True, high_open=True).check("--validation_split", o["validation_split"])
        if "cache" in o and not (isinstance(o["cache"], str) and o["cache"]):
            raise ValueError(f"--cache must be one of {', '.join(CACHES)} or a folder, got {o['cache']!r}")
        self._spec: InputSpec | None = None
        self._counts: dict[str, int] = {}

    # ------------------------------------------------------------------ what a subclass provides

    def _labels(self) -> list[str]:
        raise NotImplementedError

    def _native(self) -> tuple[tuple[int, int] | None, int | None]:
        """``(size, channels)`` that every image has, each None when they vary (then resized / detected)."""
        return None, None

    def _sizes(self) -> dict[str, int | None]:
        """Examples per split ("train", "test"), None where unknown until read."""
        return {"train": None, "test": None}

    def _split_examples(self, split: str, held: slice | None, shuffle_files: bool,
                        seed: int) -> tuple[tf.data.Dataset, int | None]:
        """``(raw image, label)`` of ``split`` ("train" or "test") with ``held`` sliced out, and their number."""
        raise NotImplementedError

    def _decode(self, raw: tf.Tensor) -> tf.Tensor:
        """A raw element -> uint8 ``[h, w, 1|3|4]`` (raises, and the element is skipped, when unreadable)."""
        return raw

    def _class_counts(self) -> dict[int, int] | None:
        """Training examples per class id, when known before reading (a folder's files); None otherwise."""
        return None

    def _other_files(self) -> list[str]:
        """Files the data set passed over without reading (not named as images), for the warning."""
        return []

    def _where(self, index: int, split: str) -> str | None:
        """A name for example ``index`` of ``split`` in the unreadable-file warning (a file path)."""
        return None

    # ------------------------------------------------------------------ the spec

    @property
    def spec(self) -> InputSpec:
        """The input spec; :meth:`prepare` computes it (with ``print`` for its progress) if nothing did."""
        if self._spec is None:
            self.prepare()
        return self._spec

    def _target(self) -> tuple[tuple[int, int], int | None, str]:
        native_size, native_channels = self._native()
        if native_size is not None and self.max_native_size and max(native_size) > self.max_native_size:
            native_size = None  # a model for 500x500 inputs is rarely what a default should build
        size = self.opts.get("image_size") or native_size or (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)
        return tuple(size), self.opts.get("channels") or native_channels, self.opts.get("resize", "stretch")

    def prepare(self, log: Callable[[str], None] = print, stored: dict | InputSpec | None = None) -> None:
        """Fixes the input spec: from ``stored`` (a run's ``dataset.json`` record, or its spec) when
        given, else by reading every training image once (statistics, channels, unreadable files)."""
        if self._spec is not None:
            return
        if stored is not None:  # nothing is read here: the data's errors come when it is
            record = stored if isinstance(stored, dict) else {"input_spec": stored.to_json()}
            self._adopt(record)
            return
        labels = self._labels()  # a malformed folder or unknown TFDS name fails before any reading
        if len(labels) < 2:
            raise DataError(f"{self.full_name} has {len(labels)} class{'es' if len(labels) != 1 else ''}; "
                            "a classifier needs at least 2")
        size, channels, resize = self._target()
        self._spec = self._scan(size, channels, resize, log)

    def _adopt(self, record: dict) -> None:
        spec = InputSpec.from_json(record["input_spec"])
        size, channels, resize = self._target()
        def show(hw):
            return str(hw[0]) if hw[0] == hw[1] else f"{hw[0]}x{hw[1]}"
        given = {"image_size": show(size) if "image_size" in self.opts else None,
                 "channels": channels if "channels" in self.opts else None,
                 "resize": resize if "resize" in self.opts else None}
        stored = {"image_size": show(spec.size), "channels": spec.channels, "resize": spec.resize}
        differ = [f"--{k}={v} (it has {stored[k]})" for k, v in given.items() if v is not None and v != stored[k]]
        if differ:
            raise DataError(f"--model_dir holds a run whose input is {spec.describe()}; this command asks for "
                            f"{', '.join(differ)}: use a new --model_dir, or the flags it was trained with")
        self._spec = spec
        for split, n in (record.get("splits") or {}).items():
            if isinstance(n, int) and self._sizes().get(split) is None:
                self._counts[split] = n

    def _info(self) -> DatasetInfo:
        spec = self.spec
        labels = self._labels()
        sizes = {split: n if n is not None else self._counts.get(split, 0) for split, n in self._sizes().items()}
        pad = max(1, spec.size[0] // 8)
        return DatasetInfo(name=self.full_name, input_shape=spec.input_shape, num_classes=len(labels), labels=labels,
                           mean=spec.mean, std=spec.std, train_size=sizes["train"], test_size=sizes["test"],
                           normalization=NORMALIZATION, resize=spec.resize, crop_fraction=spec.crop_fraction,
                           augmentation=f"{pad}-pixel zero pad + random crop + horizontal flip")

    # ------------------------------------------------------------------ reading

    def _scan(self, size, channels, resize, log) -> InputSpec:
        """One pass over the training and test examples: per-channel statistics of the training images
        (as the model sees them), grayscale detection, unreadable examples counted and named."""
        sizes = self._sizes()
        total = sum(sizes.values()) if all(n is not None for n in sizes.values()) else None
        log(f"computing the input statistics of {self.full_name}: reading its "
            f"{f'{total:,} ' if total else ''}images once")
        progress = Progress(self.full_name, total, log)
        done, started = 0, time.time()
        stats, bad, per_class = PixelStats(), [], {}
        for split in ("train", "test"):
            examples, n = self._split_examples(split, None, shuffle_files=False, seed=0)
            indexed = tf.data.Dataset.zip((examples, tf.data.Dataset.range(2 ** 62)))

            def read(example, index):
                return (*rgb_and_gray(self._decode(example[0]), size, resize), example[1], index)
            ds = indexed.map(read, num_parallel_calls=AUTOTUNE).ignore_errors().batch(SCAN_BATCH).prefetch(2)
            seen = 0
            read_indices = []
            for rgb, gray, labels, indices in ds:
                rgb, gray, labels = rgb.numpy(), gray.numpy(), labels.numpy()
                read_indices.append(indices.numpy())
                seen += len(labels)
                if split == "train":
                    stats.add(rgb, gray)
                    for label in labels:
                        per_class[int(label)] = per_class.get(int(label), 0) + 1
                progress.update(done + seen)
            found = np.concatenate(read_indices) if read_indices else np.zeros(0, np.int64)
            count = n if n is not None else (int(found.max()) + 1 if found.size else 0)
            if n is None:
                self._counts[split] = count
            missing = sorted(set(range(count)) - set(found.tolist()))
            bad += [self._where(i, split) or f"{split} example {i}" for i in missing]
            done += seen
        progress.close()
        labels = self._labels()
        if stats.pixels == 0:
            raise DataError(f"{self.full_name}: none of its training images could be read"
                            + (f" (e.g. {bad[0]})" if bad else ""))
        listed = self._class_counts() or {}
        empty = [labels[i] for i, n in sorted(listed.items()) if n and i not in per_class]
        if empty:
            raise DataError(f"{self.full_name}: no training image of class{'es' if len(empty) > 1 else ''} "
                            f"{', '.join(empty[:5])} could be read; fix or remove {'them' if len(empty) > 1 else 'it'}")
        spec = stats.spec(size, channels, resize)
        others = self._other_files()
        if bad or others:
            plural = lambda n: "s" if n != 1 else ""  # noqa: E731
            parts = [f"{len(bad):,} unreadable image{plural(len(bad))} (e.g. {', '.join(bad[:2])})"] if bad else []
            parts += [f"{len(others):,} file{plural(len(others))} not named as an image "
                      f"(e.g. {', '.join(others[:2])})"] if others else []
            log(f"warning: skipped {len(bad) + len(others):,} file{'s' if len(bad) + len(others) != 1 else ''} "
                f"of {self.full_name}: {'; '.join(parts)}")
        log(f"read {done:,} images of {self.full_name} in {_duration(time.time() - started)}: "
            f"{len(labels)} classes, input {spec.describe()}"
            + ("" if "channels" in self.opts or self._native()[1] else " (channels detected)"))
        return spec

    def source(self, split, *, seed, shuffle_files, take, holdout, source) -> Source:
        spec = self.spec
        cache = self._cache(split, holdout, take)
        examples, n = self._split_examples(split, holdout, shuffle_files=shuffle_files and not cache, seed=seed)
        ds = examples.map(lambda raw, label: (spec.pixels(self._decode(raw)), label),
                          num_parallel_calls=AUTOTUNE).ignore_errors()
        pad = max(1, spec.size[0] // 8)
        # The shuffle buffer holds decoded images: bound its memory.
        self.shuffle_cap = max(1000, SHUFFLE_BYTES // (spec.size[0] * spec.size[1] * spec.channels))
        return Source(ds=ds, size=n, batch_augment=pad_crop_flip(pad, flip=True), cache=cache)

    def _cache(self, split: str, held: slice | None, take: int | None) -> bool | str:
        """``True`` (memory), ``False`` or a file prefix (on disk) for the decoded pixels of a split."""
        choice = self.opts.get("cache", "auto")
        spec = self.spec
        if choice == "none":
            return False
        if choice == "memory":
            return True
        n = take or self._sizes().get(split) or self._counts.get(split) or 0
        if choice == "auto":
            return n * spec.size[0] * spec.size[1] * spec.channels <= AUTO_CACHE_BYTES
        os.makedirs(choice, exist_ok=True)
        # The key names everything the cached pixels depend on, so a changed spec or split never reads stale files.
        key = hashlib.sha256(repr((self.full_name, split, held, take, spec.size, spec.channels, spec.resize,
                                   self._fingerprint(split))).encode()).hexdigest()[:16]
        return os.path.join(choice, f"{split}-{key}")

    def _fingerprint(self, split: str) -> str:
        """What identifies the examples of ``split`` (a file list's hash); part of the on-disk cache key."""
        return ""


def fraction_count(n: int, fraction: float) -> int:
    """How many of a class's ``n`` examples ``validation_split=fraction`` holds out: at least 1 while
    ``n >= 2``, and never all of them."""
    if n < 2:
        return 0
    return min(n - 1, max(1, math.floor(n * fraction + 0.5)))
