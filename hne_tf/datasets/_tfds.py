"""TensorFlow Datasets, offline: loading a prepared data set (never downloading), its split sizes and
label names, and the errors that say how to prepare one. Shared by every data set that reads TFDS."""

from __future__ import annotations

import functools

import tensorflow as tf

# TFDS split names that differ from ours, per data set: ImageNet's "test" is ILSVRC's validation set.
TFDS_SPLITS = {"imagenet2012": {"train": "train", "test": "validation"}}
# What tfds.load raises when a data set is not prepared and downloads are off.
TFDS_MISSING = (AssertionError, FileNotFoundError, tf.errors.NotFoundError)


def dir_text(data_dir: str | None) -> str:
    return data_dir or "the default TFDS data dir ($TFDS_DATA_DIR or ~/tensorflow_datasets)"


def prepare_help(name: str) -> str:
    """How to prepare TFDS data set ``name`` without downloads here."""
    return (f"Prepare it on a machine with internet: `tfds build {name} --data_dir DIR` (or "
            f"tfds.builder('{name}', data_dir=DIR).download_and_prepare()), then copy DIR here and "
            f"pass --data_dir DIR.")


def tfds_load(name: str, split: str, data_dir: str | None, shuffle_files: bool, seed: int, decoders=None,
              as_supervised: bool = True) -> tf.data.Dataset:
    """``tfds.load(..., download=False)``; ``AssertionError`` etc. pass through."""
    import tensorflow_datasets as tfds
    read_config = tfds.ReadConfig(shuffle_seed=seed) if shuffle_files else None
    return tfds.load(name, split=TFDS_SPLITS.get(name, {}).get(split, split), data_dir=data_dir,
                     download=False, as_supervised=as_supervised, shuffle_files=shuffle_files,
                     read_config=read_config, decoders=decoders)


def tfds_split(split: str, held: slice | None) -> str:
    """A TFDS split string for a slice made by :func:`holdout` (``train[:-5000]``, ``train[-5000:]``)."""
    if held is None:
        return split
    start = "" if held.start is None else str(held.start)
    stop = "" if held.stop is None else str(held.stop)
    return f"{split}[{start}:{stop}]"


def split_size(name: str, split: str, data_dir: str | None) -> int | None:
    try:
        import tensorflow_datasets as tfds
        splits = tfds.builder(name, data_dir=data_dir).info.splits
        return int(splits[TFDS_SPLITS.get(name, {}).get(split, split)].num_examples) or None
    except Exception:  # unknown size only costs a default shuffle buffer
        return None


@functools.cache
def label_names(name: str, num_classes: int) -> tuple[str, ...]:
    """Class names that TFDS knows without data (ImageNet: WordNet ids), else ``class_i``."""
    try:
        import tensorflow_datasets as tfds
        names = tuple(tfds.builder(name).info.features["label"].names)
        if len(names) == num_classes:
            return names
    except Exception:  # names are cosmetic; never fail for them
        pass
    return tuple(f"class_{i}" for i in range(num_classes))
