"""Your own ``tf.data.Dataset`` of ``(image, label)``, in Keras' terms: compile, fit, export.

::

    import keras
    import hne_tf
    from hne_tf import api

    # train, test: tf.data.Dataset of (image [H, W, C] pixels 0..255, integer label), batched or not
    spec = api.input_spec(train)                      # per-channel mean and std of the training images
    model = hne_tf.build_model("hne_resnet_mini", spec.input_shape, num_classes=len(labels))
    trainer = api.EnsembleTrainer(model, "hierarchical_distillation", weight_decay=5e-4)
    trainer.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    trainer.fit(api.batches(train, spec, 64, shuffle=True), epochs=3)
    trainer.evaluate(api.batches(test, spec, 256))    # acc_k1, acc_k2, ... for every ensemble size
    api.save_run("runs/mine", trainer, spec, labels, train=train, test=test)
    api.export("runs/mine", precisions=["float32", "int8"])   # runs/mine_tflite/manifest.json, *.tflite

The model takes normalized float32 images (:meth:`InputSpec.normalize`); :func:`batches` turns
raw ``(image, label)`` pairs into them, resizing an image of another size by the spec's rule.
:func:`save_run` writes a folder like ``train.py``'s ``--model_dir`` (``config.json``,
``dataset.json``, ``checkpoints/``, and the images the export evaluates and calibrates on in
``data.npz``, an ``npz:FILE`` data set), so that ``hne-export``, :func:`export` and
:func:`hne_tf.training.load_trained` read it as they read any run.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from hne_tf import datasets
from hne_tf.datasets import npz
from hne_tf.datasets._images import PixelStats, rgb_and_gray
from hne_tf.datasets.base import RESIZE_RULES, InputSpec, pad_crop_flip
from hne_tf.models import TreeEnsemble
from hne_tf.training import CHECKPOINT_PREFIX, EnsembleTrainer, TrainConfig
from hne_tf.training.errors import write_json

DATA_FILE = "data.npz"


def _unbatched(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``(image [H, W, C], label)`` pairs, whether ``ds`` yields them or batches of them."""
    image_spec = ds.element_spec[0]
    if image_spec.shape.rank == 4:
        return ds.unbatch()
    if image_spec.shape.rank != 3:
        raise ValueError(f"expected (image [H, W, C], label) pairs or batches of them, got images of shape "
                         f"{image_spec.shape}")
    return ds


def _raw(image: tf.Tensor) -> tf.Tensor:
    """Pixels 0..255 of any dtype -> uint8."""
    if image.dtype == tf.uint8:
        return image
    return tf.cast(tf.round(tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 255.0)), tf.uint8)


def input_spec(train: tf.data.Dataset, *, size: tuple[int, int] | int | None = None, channels: int | None = None,
               resize: str = "stretch") -> InputSpec:
    """The :class:`InputSpec` of a model for ``train``: its images' size and channels (or ``size``,
    ``channels``) and the per-channel mean and std of every training image, resized by ``resize``
    where its size differs. ``train`` yields ``(image, label)`` with pixels in 0..255 (uint8, or
    floats as ``keras.utils.image_dataset_from_directory`` gives), one by one or in batches."""
    if resize not in RESIZE_RULES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_RULES)}, got {resize!r}")
    ds = _unbatched(train)
    shape = ds.element_spec[0].shape
    if size is None:
        if shape[0] is None or shape[1] is None:
            first = next(iter(ds))[0]
            size = tuple(first.shape[:2])
        else:
            size = (shape[0], shape[1])
    size = (size, size) if isinstance(size, int) else tuple(size)
    native = shape[2] if shape[2] in (1, 3) else None
    stats = PixelStats()
    for rgb, gray in ds.map(lambda image, label: rgb_and_gray(_raw(image), size, resize)).batch(256):
        stats.add(rgb.numpy(), gray.numpy())
    if not stats.pixels:
        raise ValueError("the training data set is empty")
    return stats.spec(size, channels or native, resize)


def batches(ds: tf.data.Dataset, spec: InputSpec, batch_size: int, *, shuffle: bool = False, seed: int = 0,
            augment: bool = False) -> tf.data.Dataset:
    """``(image, label)`` pairs (or batches) -> the model's batches ``(float32 [b, H, W, C], int32 [b])``:
    each image resized, converted and normalized as ``spec`` says; ``shuffle`` (seeded, a buffer of
    10,000) and ``augment`` (zero pad of ``max(1, H // 8)`` pixels, random crop, horizontal flip) for training."""
    ds = _unbatched(ds).map(lambda image, label: (spec.pixels(_raw(image)), tf.cast(label, tf.int32)),
                            num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment:
        crop = pad_crop_flip(max(1, spec.size[0] // 8), flip=True)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(lambda batch, s: (crop(batch[0], s), batch[1]))
    return ds.map(lambda x, y: (spec.normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _arrays(ds: tf.data.Dataset, spec: InputSpec, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    ds = _unbatched(ds).map(lambda image, label: (spec.pixels(_raw(image)), tf.cast(label, tf.int32)))
    if limit is not None:
        ds = ds.take(limit)
    images, labels = [], []
    for x, y in ds.batch(256):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        raise ValueError("a data set given to save_run is empty")
    return np.concatenate(images), np.concatenate(labels)


def save_run(model_dir: str, model: TreeEnsemble | EnsembleTrainer, spec: InputSpec, labels, *,  # noqa: PLR0913 -- keyword-only, each a documented part of the run
             train: tf.data.Dataset, test: tf.data.Dataset, loss: str | None = None, epochs: int = 1,
             train_images: int = 1024, test_images: int | None = None, overwrite: bool = False) -> str:
    """Writes ``model`` (an ensemble, or the trainer around it) as a ``train.py`` run in ``model_dir``.

    ``labels``: the class names, ``labels[i]`` for class i. ``test`` (its first ``test_images``, default
    all) is what the export measures accuracy on; the first ``train_images`` of ``train`` calibrate the
    int8 export. Both are stored resized, as 8-bit pixels, in ``model_dir/data.npz``. ``loss``: the
    loss's registry name for the records (default: the trainer's). Returns ``model_dir``.
    """
    trainer = model if isinstance(model, EnsembleTrainer) else None
    ensemble = trainer.ensemble if trainer is not None else model
    if not isinstance(ensemble, TreeEnsemble):
        raise TypeError(f"model must be a hne_tf TreeEnsemble or an EnsembleTrainer, got {type(model).__name__}")
    if tuple(ensemble.image_shape) != spec.input_shape:
        raise ValueError(f"the model takes {tuple(ensemble.image_shape)} images, the spec says {spec.input_shape}")
    labels = [str(label) for label in labels]
    if len(labels) != ensemble.num_classes:
        raise ValueError(f"{len(labels)} labels for a model of {ensemble.num_classes} classes")
    if os.path.isdir(model_dir) and os.listdir(model_dir) and not overwrite:
        raise ValueError(f"{model_dir} is not empty; pass a new folder, or overwrite=True")
    os.makedirs(os.path.join(model_dir, "checkpoints"), exist_ok=True)
    x_train, y_train = _arrays(train, spec, train_images)
    x_test, y_test = _arrays(test, spec, test_images)
    data_file = os.path.join(os.path.abspath(model_dir), DATA_FILE)
    npz.write(data_file, x_train, y_train, x_test, y_test, labels)
    dataset = datasets.get(f"npz:{data_file}")
    dataset.prepare(log=lambda *_: None, stored=spec)
    loss = loss or (trainer.loss_name if trainer is not None else None)
    config = TrainConfig(model=ensemble.preset, loss=loss, dataset=dataset.full_name, model_dir=model_dir,
                         epochs=epochs, model_options=dict(ensemble.options)).to_json()
    write_json(os.path.join(model_dir, "config.json"), {**config, "written_by": "hne_tf.api.save_run"})
    write_json(os.path.join(model_dir, datasets.RUN_FILE), datasets.run_record(dataset.info, dataset.full_name))
    checkpoint = tf.train.Checkpoint(model=ensemble.checkpoint_variables())
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, "checkpoints"), max_to_keep=1,
                                         checkpoint_name=CHECKPOINT_PREFIX)
    manager.save(checkpoint_number=epochs)
    return model_dir


def export(model_dir: str, out_dir: str | None = None, log=print, **options) -> dict:
    """``hne-export`` of a run (:func:`save_run`'s, or ``train.py``'s): TFLite files and ``manifest.json`` in
    ``out_dir`` (default ``<model_dir>_tflite``); ``options`` are :class:`hne_tf.export.exporter.ExportConfig`'s
    (``precisions``, ``prefixes``, ``eval_examples``, ...). Returns the manifest; raises ``ExportError``."""
    from hne_tf.export.exporter import ExportConfig, run_export

    out_dir = out_dir or model_dir.rstrip("/") + "_tflite"
    return run_export(ExportConfig(model_dir=model_dir, out_dir=out_dir, **options), log=log)


__all__ = ["DATA_FILE", "EnsembleTrainer", "InputSpec", "batches", "export", "input_spec", "save_run"]
