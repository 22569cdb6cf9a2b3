"""Input pipelines: Fashion-MNIST, CIFAR-10/100, ImageNet (ILSVRC-2012) and a synthetic task.

Every pipeline built by :func:`load` yields ``(images, labels)`` batches:

* ``images``: ``float32 [batch, H, W, C]``, normalized per channel as
  ``(pixel / 255 - mean) / std`` with the :class:`DatasetInfo` constants;
* ``labels``: ``int32 [batch]`` in ``[0, num_classes)``.

Where the data comes from:

* ``fashion_mnist``: the IDX ``.gz`` files in ``data_dir`` if given, else in
  :data:`FASHION_MNIST_DIR` (which ``apt-get install dataset-fashion-mnist``
  fills); failing that, an already prepared TFDS copy in the same place.
  Nothing is downloaded.
* ``cifar10`` / ``cifar100``: a prepared TFDS data dir (``download=False``).
* ``imagenet2012``: a prepared TFDS data dir, or one whose manual dir holds
  ``ILSVRC2012_img_train.tar`` and ``ILSVRC2012_img_val.tar`` (TFDS then
  prepares it once, offline). The ``"test"`` split is ILSVRC's validation set.
* ``synthetic``: generated in memory (see :func:`synthetic_arrays`).

When data is missing a :class:`DataError` says how to get it.

Training augmentation (``training=True``, which also shuffles):

* fashion_mnist: 2-pixel zero padding + random 28x28 crop + horizontal flip;
* cifar10/100: 4-pixel zero padding + random 32x32 crop + horizontal flip;
* imagenet2012: random-resized crop (area 8%-100%, aspect ratio 3/4-4/3) resized
  to 224x224 + horizontal flip; evaluation resizes the shorter side to 256 and
  center-crops 224x224;
* synthetic: zero padding of ``max(1, H // 14)`` pixels + random crop (no flip:
  the class textures are not mirror-symmetric).

``augmentation="flip"`` keeps only the horizontal flip (ImageNet: the evaluation
crop, flipped), and ``augmentation="none"`` only shuffles (ImageNet: the
evaluation crop). Short schedules fit better without the crops: on Fashion-MNIST
two epochs of ``hne_resnet_mini`` (lr 0.1, one seed) reached 87.2% (k = 16)
without augmentation against 85.9% with the flip only and about 85.8% with the
standard crop + flip. ``load``'s default is ``"standard"``; ``train.py``'s
default, ``"none"``, is the main job's.

Zero padding happens on raw pixels (black), before normalization. Random ops are
stateless and seeded per example from ``seed``, so a pipeline is reproducible.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import logging
import os
import zlib
from collections.abc import Callable

import numpy as np
import tensorflow as tf

DATASETS = ("fashion_mnist", "cifar10", "cifar100", "imagenet2012", "synthetic")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
SPLITS = ("train", "test")
# "validation" is not a split of its own: it is the last ``validation_examples`` of "train"
# (load(..., validation_examples=N)), and "train" is then the rest.
VALIDATION = "validation"
AUTOTUNE = tf.data.AUTOTUNE

SYNTHETIC_SEED = 0          # fixes the synthetic task (templates and samples)
SYNTHETIC_NOISE = 0.25      # std of the Gaussian pixel noise added to a template
SYNTHETIC_SIZES = (2048, 512)

_log = logging.getLogger(__name__)


class DataError(RuntimeError):
    """The data set is missing or malformed; the message says how to fix it."""


@dataclasses.dataclass
class DatasetInfo:
    """Static description of a data set as :func:`load` delivers it.

    ``mean`` and ``std`` are per channel, in ``[0, 1]`` pixel units.
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


FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]
CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                  "truck"]
CIFAR100_LABELS = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()

# Per-channel statistics of the training sets, in [0, 1] pixel units.
_STATS = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "synthetic": ((0.5,), (0.326,)),  # clip(U(0,1) + N(0, 0.25), 0, 1), per channel
}
_SIZES = {"fashion_mnist": (60000, 10000), "cifar10": (50000, 10000), "cifar100": (50000, 10000),
          "imagenet2012": (1281167, 50000), "synthetic": SYNTHETIC_SIZES}
_AUGMENTATION = {
    "fashion_mnist": "2-pixel zero pad + random 28x28 crop + horizontal flip",
    "cifar10": "4-pixel zero pad + random 32x32 crop + horizontal flip",
    "cifar100": "4-pixel zero pad + random 32x32 crop + horizontal flip",
    "imagenet2012": ("random-resized crop (area 0.08-1, ratio 3/4-4/3) + horizontal flip; "
                     "eval: resize shorter side to 256/224 of the crop, center crop"),
    "synthetic": "zero pad max(1, H // 14) + random crop",
}
_TFDS_SPLITS = {"imagenet2012": {"train": "train", "test": "validation"}}
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


# ----------------------------------------------------------------------------- info


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    return name


def _synthetic_shape(image_size) -> tuple[int, int, int]:
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


def _input_shape(name: str, image_size) -> tuple[int, int, int]:
    native = {"fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "cifar100": (32, 32, 3),
              "imagenet2012": (224, 224, 3)}
    if name == "synthetic":
        return _synthetic_shape(image_size)
    if image_size is None:
        return native[name]
    h, w = ((int(image_size),) * 2 if isinstance(image_size, (int, np.integer))
            else tuple(int(d) for d in image_size)[:2])
    if name == "imagenet2012":
        return (h, w, 3)
    if (h, w) != native[name][:2]:
        raise ValueError(f"{name} has a fixed resolution {native[name][:2]}, got image_size={image_size!r}")
    return native[name]


@functools.cache
def _tfds_label_names(name: str, num_classes: int) -> tuple[str, ...]:
    """Class names that TFDS knows without data (ImageNet: WordNet ids), else ``class_i``."""
    try:
        import tensorflow_datasets as tfds
        names = tuple(tfds.builder(name).info.features["label"].names)
        if len(names) == num_classes:
            return names
    except Exception:  # names are cosmetic; never fail for them
        pass
    return tuple(f"class_{i}" for i in range(num_classes))


def dataset_info(name: str, image_size=None) -> DatasetInfo:
    """Describe ``name`` (one of :data:`DATASETS`).

    ``image_size`` sets the synthetic shape (int, ``(H, W)`` or ``(H, W, C)``;
    default 28x28x1) and the ImageNet crop size (default 224); the other data
    sets only accept their native size.
    """
    _check_name(name)
    shape = _input_shape(name, image_size)
    num_classes = {"cifar100": 100, "imagenet2012": 1000}.get(name, 10)
    if name == "fashion_mnist":
        labels = list(FASHION_LABELS)
    elif name == "cifar10":
        labels = list(CIFAR10_LABELS)
    elif name == "cifar100":
        labels = list(CIFAR100_LABELS)
    elif name == "imagenet2012":
        labels = list(_tfds_label_names(name, num_classes))
    else:
        labels = [f"class_{i}" for i in range(num_classes)]
    mean, std = _STATS[name]
    mean, std = (mean * shape[2], std * shape[2]) if len(mean) == 1 else (mean, std)
    train_size, test_size = _SIZES[name]
    return DatasetInfo(name=name, input_shape=shape, num_classes=num_classes, labels=labels,
                       mean=tuple(mean), std=tuple(std), train_size=train_size, test_size=test_size,
                       normalization="per channel: (pixel / 255 - mean) / std",
                       augmentation=_AUGMENTATION[name])


# ----------------------------------------------------------------------------- IDX files

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


# ----------------------------------------------------------------------------- synthetic


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
    :data:`SYNTHETIC_SEED` (the ``seed`` of :func:`load` only orders and
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


# ----------------------------------------------------------------------------- sources


@dataclasses.dataclass
class _Source:
    """Raw examples plus how to turn them into pixels.

    ``ds`` yields ``(raw image, integer label)``. ``train_map(raw, seed [2])``
    and ``eval_map(raw)`` return ``[H, W, C]`` pixels in ``[0, 255]`` (any
    numeric dtype); ``eval_map=None`` means the raw image already is that.
    ``batch_augment(pixels [b, H, W, C], seed [2])`` augments whole batches;
    a source has either it or ``train_map``.
    """
    ds: tf.data.Dataset
    size: int | None
    train_map: Callable | None = None
    eval_map: Callable | None = None
    batch_augment: Callable | None = None
    cache: bool = False


def _pad_crop_flip(pad: int, flip: bool) -> Callable:
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


def _array_source(images: np.ndarray, labels: np.ndarray, augment: Callable, take: int | None) -> _Source:
    if take is not None:
        images, labels = images[:take], labels[:take]
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return _Source(ds=ds, size=len(labels), batch_augment=augment)


_FASHION_HELP = (
    "To get Fashion-MNIST: `apt-get install dataset-fashion-mnist` (puts the IDX files in "
    f"{FASHION_MNIST_DIR}), or pass --data_dir (data_dir=) pointing to a directory with "
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz, or, on a machine with internet, prepare it with TFDS "
    "(`tfds build fashion_mnist`, i.e. tfds.builder('fashion_mnist').download_and_prepare()) and "
    "pass --data_dir to that TFDS data dir if it is not the default (~/tensorflow_datasets).")


def _tfds_dir_text(data_dir: str | None) -> str:
    return data_dir or "the default TFDS data dir ($TFDS_DATA_DIR or ~/tensorflow_datasets)"


def _tfds_load(name: str, split: str, data_dir: str | None, shuffle_files: bool, seed: int,
               decoders=None) -> tf.data.Dataset:
    """``tfds.load(..., download=False, as_supervised=True)``; ``AssertionError`` etc. pass through."""
    import tensorflow_datasets as tfds
    read_config = tfds.ReadConfig(shuffle_seed=seed) if shuffle_files else None
    return tfds.load(name, split=_TFDS_SPLITS.get(name, {}).get(split, split), data_dir=data_dir,
                     download=False, as_supervised=True, shuffle_files=shuffle_files,
                     read_config=read_config, decoders=decoders)


_TFDS_MISSING = (AssertionError, FileNotFoundError, tf.errors.NotFoundError)


def _tfds_split_size(name: str, split: str, data_dir: str | None) -> int | None:
    try:
        import tensorflow_datasets as tfds
        splits = tfds.builder(name, data_dir=data_dir).info.splits
        return int(splits[_TFDS_SPLITS.get(name, {}).get(split, split)].num_examples) or None
    except Exception:  # unknown size only costs a default shuffle buffer
        return None


def _fashion_source(split, data_dir, source, seed, shuffle_files, take, holdout=None) -> _Source:
    augment = _pad_crop_flip(2, flip=True)
    if source in ("auto", "idx"):
        # An explicit data_dir is where the user wants the data from: no
        # silent fallback to the system copy.
        directory = data_dir or FASHION_MNIST_DIR
        if source == "idx" or _has_idx_files(directory):
            images, labels = read_fashion_mnist(directory, split)
            if holdout is not None:
                images, labels = images[holdout], labels[holdout]
            return _array_source(images, labels, augment, take)
    try:
        ds = _tfds_load("fashion_mnist", _tfds_split(split, holdout), data_dir, shuffle_files, seed)
    except _TFDS_MISSING as e:
        looked = "" if source == "tfds" else (
            f"no IDX files in {data_dir or FASHION_MNIST_DIR!r} and ")
        raise DataError(f"Fashion-MNIST not found: {looked}not prepared in {_tfds_dir_text(data_dir)} "
                        f"(TFDS: {e}). {_FASHION_HELP}") from e
    size = _SIZES["fashion_mnist"][SPLITS.index(split)]
    return _Source(ds=ds, size=_holdout_size(size, holdout), batch_augment=augment)


def _cifar_source(name, split, data_dir, seed, shuffle_files, holdout=None) -> _Source:
    try:
        ds = _tfds_load(name, _tfds_split(split, holdout), data_dir, shuffle_files, seed)
    except _TFDS_MISSING as e:
        raise DataError(
            f"{name} is not prepared in {_tfds_dir_text(data_dir)} and downloads are disabled. "
            f"Prepare it on a machine with internet: `tfds build {name} --data_dir DIR` (or "
            f"tfds.builder('{name}', data_dir=DIR).download_and_prepare()), then copy DIR here and "
            f"pass --data_dir DIR. (TFDS: {e})") from e
    return _Source(ds=ds, size=_holdout_size(_tfds_split_size(name, split, data_dir), holdout),
                   batch_augment=_pad_crop_flip(4, flip=True), cache=True)


_IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


def _imagenet_manual_dir(data_dir: str | None) -> str | None:
    """``data_dir`` or ``data_dir/downloads/manual``, whichever holds the ILSVRC-2012 tars."""
    for d in ([data_dir, os.path.join(data_dir, "downloads", "manual")] if data_dir else []):
        if any(os.path.isfile(os.path.join(d, t)) for t in _IMAGENET_TARS):
            return d
    return None


def _prepare_imagenet(data_dir: str | None, error: Exception) -> None:
    """Build the TFDS ImageNet from the manual tars (offline, hours) or raise :class:`DataError`."""
    import tensorflow_datasets as tfds
    manual_dir = _imagenet_manual_dir(data_dir)
    if manual_dir is None:
        raise DataError(
            f"imagenet2012 is not prepared in {_tfds_dir_text(data_dir)}, and no "
            f"{' / '.join(_IMAGENET_TARS)} found in data_dir or data_dir/downloads/manual. ImageNet "
            "cannot be downloaded automatically: register at https://image-net.org/download-images, "
            "download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar, put them in DIR/downloads/"
            "manual (the TFDS manual_dir) or in DIR itself, and pass --data_dir DIR; the first run "
            "then prepares the TFDS dataset offline via tfds.download.DownloadConfig(manual_dir=...) "
            "(hours, ~150 GB). Or copy an already prepared TFDS data dir and pass --data_dir. "
            f"(TFDS: {error})") from error
    _log.warning("preparing imagenet2012 in %s from %s (this takes hours)", data_dir, manual_dir)
    tfds.builder("imagenet2012", data_dir=data_dir).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))


def _imagenet_train_map(crop: tuple[int, int]) -> Callable:
    """``(jpeg bytes, seed [2]) -> float32 [h, w, 3]``: random-resized crop + flip."""
    def augment(jpeg: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        seeds = tf.random.split(seed, 2)
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.image.extract_jpeg_shape(jpeg), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=seeds[0], min_object_covered=0.0, aspect_ratio_range=(3 / 4, 4 / 3),
            area_range=(0.08, 1.0), max_attempts=10, use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        image = tf.image.decode_and_crop_jpeg(jpeg, window, channels=3)
        image = tf.image.resize(image, crop, method="bilinear")
        return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    return augment


def _imagenet_eval_map(crop: tuple[int, int]) -> Callable:
    """``jpeg bytes -> float32 [h, w, 3]``: shorter side to ``256/224 * crop``, center crop."""
    resize = round(min(crop) * 256 / 224)

    def preprocess(jpeg: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_jpeg(jpeg, channels=3)
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = resize / tf.reduce_min(hw)
        new_hw = tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), crop)
        image = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
        top, left = (new_hw[0] - crop[0]) // 2, (new_hw[1] - crop[1]) // 2
        return tf.image.crop_to_bounding_box(image, top, left, crop[0], crop[1])
    return preprocess


def _imagenet_source(split, data_dir, seed, shuffle_files, shape, holdout=None) -> _Source:
    import tensorflow_datasets as tfds
    decoders = {"image": tfds.decode.SkipDecoding()}
    tfds_split = _tfds_split(split, holdout)  # _tfds_load maps "test" to ILSVRC's validation set
    try:
        ds = _tfds_load("imagenet2012", tfds_split, data_dir, shuffle_files, seed, decoders)
    except _TFDS_MISSING as e:
        _prepare_imagenet(data_dir, e)
        ds = _tfds_load("imagenet2012", tfds_split, data_dir, shuffle_files, seed, decoders)
    crop = shape[:2]
    return _Source(ds=ds, size=_holdout_size(_tfds_split_size("imagenet2012", split, data_dir), holdout),
                   train_map=_imagenet_train_map(crop), eval_map=_imagenet_eval_map(crop))


def _holdout(split: str, validation_examples: int) -> tuple[str, slice | None]:
    """``(the split to read, the slice of it)`` for ``split`` with ``validation_examples`` held out of "train"."""
    if split == VALIDATION:
        return "train", slice(-validation_examples, None)
    if split == "train" and validation_examples:
        return "train", slice(None, -validation_examples)
    return split, None


def _tfds_split(split: str, holdout: slice | None) -> str:
    """A TFDS split string for a slice made by :func:`_holdout` (``train[:-5000]``, ``train[-5000:]``)."""
    if holdout is None:
        return split
    start = "" if holdout.start is None else str(holdout.start)
    stop = "" if holdout.stop is None else str(holdout.stop)
    return f"{split}[{start}:{stop}]"


def _holdout_size(size: int | None, holdout: slice | None) -> int | None:
    if size is None or holdout is None:
        return size
    return len(range(size)[holdout])


def _source(info: DatasetInfo, split, data_dir, source, seed, shuffle_files, take, validation_examples=0) -> _Source:
    split, holdout = _holdout(split, validation_examples)
    allowed = {"fashion_mnist": ("auto", "idx", "tfds"), "synthetic": ("auto", "synthetic")}
    if source not in allowed.get(info.name, ("auto", "tfds")):
        raise ValueError(f"source {source!r} not available for {info.name}; "
                         f"choose from {allowed.get(info.name, ('auto', 'tfds'))}")
    if info.name == "fashion_mnist":
        return _fashion_source(split, data_dir, source, seed, shuffle_files, take, holdout)
    if info.name in ("cifar10", "cifar100"):
        return _cifar_source(info.name, split, data_dir, seed, shuffle_files, holdout)
    if info.name == "imagenet2012":
        return _imagenet_source(split, data_dir, seed, shuffle_files, info.input_shape, holdout)
    images, labels = synthetic_arrays(split, info.input_shape, info.num_classes)
    if holdout is not None:
        images, labels = images[holdout], labels[holdout]
    pad = max(1, info.input_shape[0] // 14)
    return _array_source(images, labels, _pad_crop_flip(pad, flip=False), take)


# ----------------------------------------------------------------------------- pipeline


def _normalizer(info: DatasetInfo) -> Callable:
    """``(pixels [b, H, W, C], labels [b]) -> (float32 normalized, int32)``."""
    mean = tf.constant(info.mean, tf.float32) * 255.0
    std = tf.constant(info.std, tf.float32) * 255.0

    def normalize(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return (tf.cast(images, tf.float32) - mean) / std, tf.cast(labels, tf.int32)
    return normalize


AUGMENTATIONS = ("standard", "flip", "none")


def _pipeline(src: _Source, info: DatasetInfo, batch_size: int, *, shuffle: bool, augment: bool,
              seed: int, drop_remainder: bool, take: int | None, repeat: bool,
              max_buffer: int = 50_000, augmentation: str = "standard") -> tf.data.Dataset:
    """take -> cache -> shuffle -> repeat -> per-example map -> batch -> batch augment -> normalize."""
    if augment and augmentation != "standard":
        # Only the flip, or nothing: the per-example map becomes the evaluation one.
        flip = _pad_crop_flip(0, flip=True) if augmentation == "flip" else None
        src = dataclasses.replace(src, train_map=None, batch_augment=flip)
    ds = src.ds if take is None else src.ds.take(take)
    if src.cache:
        ds = ds.cache()
    if shuffle:
        cap = max_buffer if info.name != "imagenet2012" else min(max_buffer, 10_000)
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
    ds = ds.map(_normalizer(info), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def load(name: str, split: str, batch_size: int, *, data_dir: str | None = None, training: bool = False,
         seed: int = 0, source: str = "auto", drop_remainder: bool | None = None,
         take: int | None = None, repeat: bool = False, image_size=None,
         augmentation: str = "standard", validation_examples: int = 0) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of ``(images float32 [b, H, W, C], labels int32 [b])``.

    Args:
      name: one of :data:`DATASETS`.
      split: ``"train"``, ``"test"`` (ImageNet: the validation set) or ``"validation"``
        (the last ``validation_examples`` of the training split, in its stored order).
      batch_size: examples per batch.
      data_dir: IDX directory (Fashion-MNIST) or TFDS data dir; ImageNet's manual
        tars may sit in it or in its ``downloads/manual``.
      training: shuffle (seeded) and augment (see the module docstring).
      seed: seeds shuffling and augmentation; the same seed gives the same stream.
      source: ``"auto"``; ``"idx"`` or ``"tfds"`` force a Fashion-MNIST source.
      drop_remainder: default ``training``, except when fewer than ``batch_size``
        examples are known to exist (then the partial batch is kept).
      take: use only the first ``take`` examples of the split.
      repeat: repeat indefinitely (reshuffled and re-augmented every pass).
      image_size: see :func:`dataset_info`.
      augmentation: with ``training``: ``"standard"`` (the data set's, above),
        ``"flip"`` (horizontal flip only) or ``"none"``.
      validation_examples: hold out the last N training examples: ``"train"`` is
        then the rest and ``"validation"`` those N (0: no hold-out).
    """
    info = dataset_info(name, image_size)
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}")
    if split not in SPLITS + (VALIDATION,):
        raise ValueError(f"split must be one of {SPLITS + (VALIDATION,)}, got {split!r}")
    check_validation_examples(info, validation_examples)
    if split == VALIDATION and not validation_examples:
        raise ValueError("split 'validation' needs validation_examples >= 1 (the examples held out of 'train')")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if take is not None and (isinstance(take, bool) or not isinstance(take, (int, np.integer)) or take < 1):
        raise ValueError(f"take (the number of examples to use; None for all) must be an integer >= 1, "
                         f"got {take!r}")
    src = _source(info, split, data_dir, source, seed, shuffle_files=training, take=take,
                  validation_examples=validation_examples)
    if drop_remainder is None:
        known = min(x for x in (src.size, take, float("inf")) if x)
        drop_remainder = training and known >= batch_size
    return _pipeline(src, info, batch_size, shuffle=training, augment=training, seed=seed,
                     drop_remainder=drop_remainder, take=take, repeat=repeat, augmentation=augmentation)


def check_validation_examples(info: DatasetInfo, validation_examples: int) -> None:
    """ValueError unless ``0 <= validation_examples < info.train_size`` (an integer)."""
    n = validation_examples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n < info.train_size:
        raise ValueError(f"validation_examples must be an integer in [0, {info.train_size}) for {info.name} "
                         f"({info.train_size} training examples), got {n!r}")


def load_arrays(name: str, split: str, *, data_dir: str | None = None, take: int | None = None,
                image_size=None) -> tuple[np.ndarray, np.ndarray]:
    """A whole split (or its first ``take`` examples) in memory, as :func:`load`
    delivers it for evaluation: ``(images float32 [n, H, W, C], labels int32 [n])``."""
    images, labels = [], []
    for x, y in load(name, split, 500, data_dir=data_dir, take=take, image_size=image_size):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def representative_images(name: str, num: int, data_dir: str | None = None, seed: int = 0,
                          image_size=None, source: str = "auto") -> np.ndarray:
    """``num`` normalized training images, float32 ``[num, H, W, C]``, without augmentation.

    A seeded random sample (evaluation preprocessing), e.g. for int8 calibration.
    """
    info = dataset_info(name, image_size)
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num (the number of images) must be an integer >= 1, got {num!r}")
    src = _source(info, "train", data_dir, source, seed, shuffle_files=True, take=None)
    if src.size is not None and num > src.size:
        raise ValueError(f"{name} has only {src.size} training images, asked for {num}")
    in_memory = info.name in ("fashion_mnist", "synthetic") and src.size is not None
    ds = _pipeline(src, info, num, shuffle=True, augment=False, seed=seed, drop_remainder=False,
                   take=None, repeat=False, max_buffer=50_000 if in_memory else max(10 * num, 1000))
    images, _ = next(iter(ds))
    return images.numpy()
