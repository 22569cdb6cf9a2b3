"""ImageNet (ILSVRC-2012): 1,281,167 training images of 1000 classes; the ``"test"`` split is ILSVRC's
50,000-image validation set.

Read from a prepared TFDS data dir, or one whose manual dir holds ``ILSVRC2012_img_train.tar`` and
``ILSVRC2012_img_val.tar`` (TFDS then prepares it once, offline). Images are ``image_size`` crops
(default 224). Training augmentation (``standard``): random-resized crop (area 8%-100%, aspect ratio
3/4-4/3) + horizontal flip; evaluation resizes the shorter side to ``256/224`` of the crop and
center-crops it (the ``center_crop`` rule of :class:`~hne_tf.datasets.base.InputSpec`, crop fraction
0.875). ``augmentation="flip"`` is the evaluation crop, flipped; ``"none"`` the evaluation crop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import tensorflow as tf

from hne_tf.datasets import _tfds
from hne_tf.datasets.base import (
    NORMALIZATION,
    DataError,
    Dataset,
    DatasetInfo,
    Source,
    holdout_size,
    image_size_pair,
    register,
    resize_image,
)

_log = logging.getLogger(__name__)
_IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
CROP_FRACTION = 224 / 256


@register
class Imagenet2012(Dataset):
    name = "imagenet2012"
    summary = ("ImageNet ILSVRC-2012, 224x224x3 crops (--image_size), 1000 classes: a prepared TFDS data dir, "
               "or the ILSVRC2012_img_{train,val}.tar files in --data_dir (prepared once, offline)")
    shuffle_cap = 10_000

    def _info(self) -> DatasetInfo:
        size = self.opts.get("image_size")
        shape = (224, 224, 3) if size is None else (*image_size_pair(size), 3)
        return DatasetInfo(name=self.name, input_shape=shape, num_classes=1000,
                           labels=list(_tfds.label_names(self.name, 1000)),
                           mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), train_size=1281167, test_size=50000,
                           normalization=NORMALIZATION,
                           augmentation=("random-resized crop (area 0.08-1, ratio 3/4-4/3) + horizontal flip; "
                                         "eval: resize shorter side to 256/224 of the crop, center crop"),
                           resize="center_crop", crop_fraction=CROP_FRACTION)

    def source(self, split, *, seed, shuffle_files, take, holdout, source) -> Source:
        import tensorflow_datasets as tfds
        data_dir = self.data_dir
        decoders = {"image": tfds.decode.SkipDecoding()}
        tfds_split = _tfds.tfds_split(split, holdout)  # tfds_load maps "test" to ILSVRC's validation set
        try:
            ds = _tfds.tfds_load(self.name, tfds_split, data_dir, shuffle_files, seed, decoders)
        except _tfds.TFDS_MISSING as e:
            _prepare_imagenet(data_dir, e)
            ds = _tfds.tfds_load(self.name, tfds_split, data_dir, shuffle_files, seed, decoders)
        crop = self.info.input_shape[:2]
        return Source(ds=ds, size=holdout_size(_tfds.split_size(self.name, split, data_dir), holdout),
                      train_map=_imagenet_train_map(crop), eval_map=_imagenet_eval_map(crop))


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
            f"imagenet2012 is not prepared in {_tfds.dir_text(data_dir)}, and no "
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
    def preprocess(jpeg: tf.Tensor) -> tf.Tensor:
        return resize_image(tf.io.decode_jpeg(jpeg, channels=3), crop, "center_crop", CROP_FRACTION)
    return preprocess
