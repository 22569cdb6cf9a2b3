"""Any TFDS image-classification data set prepared locally: ``tfds:NAME`` (``tfds:oxford_flowers102``).

The image and label features and the label names come from the data set's ``info`` (its supervised
keys, else its one ``Image`` and one ``ClassLabel`` feature). Nothing is downloaded: a data set that is
not prepared in ``--data_dir`` (default ``~/tensorflow_datasets``) fails with how to prepare it.

Splits: "train" trains; "test" evaluates, or "validation" where there is no "test", or
``--validation_split`` of "train" where there is neither. Images keep their own size and channels
where every image has them and they are at most 64 pixels a side (``tfds:mnist``: 28x28x1); otherwise
they are resized to ``--image_size`` (default 32) by ``--resize``, and the channels detected (1 when
every training image is grayscale). The normalization statistics are computed from the training
images once (see :mod:`hne_tf.datasets._images`).
"""

from __future__ import annotations

import functools

from hne_tf.datasets import _tfds
from hne_tf.datasets._images import ImageDataset
from hne_tf.datasets.base import DataError, holdout_size, register


@register
class Tfds(ImageDataset):
    name = "tfds"
    argument = "NAME"
    summary = ("any TFDS image-classification data set prepared in --data_dir (no downloads), e.g. "
               "tfds:oxford_flowers102; images resized to --image_size (default: their own size when fixed and "
               "<= 64, else 32)")

    @functools.cached_property
    def _builder(self):
        import tensorflow_datasets as tfds

        try:
            return tfds.builder(self.arg, data_dir=self.data_dir)
        except tfds.core.registered.DatasetNotFoundError:
            raise DataError(f"unknown TFDS dataset {self.arg!r}: tensorflow_datasets {tfds.__version__} has no "
                            "builder of that name (tfds.list_builders() lists them)") from None
        except Exception as e:  # a malformed name, a broken data dir: one line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise DataError(f"tfds:{self.arg}: {first}") from None

    @functools.cached_property
    def _keys(self) -> tuple[str, str]:
        """The names of the image and the label feature."""
        import tensorflow_datasets as tfds

        features = self._builder.info.features
        keys = self._builder.info.supervised_keys
        if (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) for k in keys)
                and isinstance(features[keys[0]], tfds.features.Image)
                and isinstance(features[keys[1]], tfds.features.ClassLabel)):
            return keys
        images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
        labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
        if len(images) != 1 or len(labels) != 1:
            kinds = ", ".join(f"{k} ({type(f).__name__})" for k, f in features.items())
            raise DataError(f"tfds:{self.arg} is not an image-classification data set: it needs one Image and one "
                            f"ClassLabel feature, and has {kinds}")
        return images[0], labels[0]

    @functools.cached_property
    def _splits(self) -> dict[str, tuple[str, int | None, slice | None]]:
        """Our split -> (the TFDS split, its size or None, the slice of it that is ours)."""
        known = {name: int(s.num_examples) for name, s in self._builder.info.splits.items()}
        fraction = self.opts.get("validation_split")
        # Not prepared (or TFDS mock data): no split is known; assume train and test, and let
        # reading fail with how to prepare it.
        evaluate = next((s for s in ("test", "validation") if s in known), None if known else "test")
        if known and "train" not in known:
            raise DataError(f"tfds:{self.arg} has no 'train' split (it has {', '.join(known)})")
        if fraction is None:
            if evaluate is None:
                raise DataError(f"tfds:{self.arg} has no 'test' or 'validation' split: pass --validation_split=0.2 "
                                "to hold out 20% of 'train' for evaluation")
            return {"train": ("train", known.get("train"), None), "test": (evaluate, known.get(evaluate), None)}
        if evaluate is not None and known:
            raise DataError(f"--validation_split applies to a TFDS data set without a test or validation split, and "
                            f"tfds:{self.arg} has '{evaluate}': drop the flag")
        n = known.get("train")
        if n is None:  # sizes unknown: percent slices
            cut = round(100 * (1 - fraction))
            return {"train": (f"train[:{cut}%]", None, None), "test": (f"train[{cut}%:]", None, None)}
        held = max(1, round(n * fraction))
        return {"train": ("train", n - held, slice(0, n - held)), "test": ("train", held, slice(n - held, n))}

    def _labels(self) -> list[str]:
        return list(self._builder.info.features[self._keys[1]].names)

    def _native(self):
        shape = self._builder.info.features[self._keys[0]].shape
        size = tuple(shape[:2]) if None not in shape[:2] else None
        channels = shape[2] if shape[2] in (1, 3) else None
        return size, channels

    def _sizes(self):
        return {split: self._splits[split][1] for split in ("train", "test")}

    def _split_examples(self, split, held, shuffle_files, seed):
        name, size, base = self._splits[split]
        if base is not None:  # our split is a slice of a TFDS split: compose the hold-out with it
            part = range(base.start, base.stop)[held] if held is not None else range(base.start, base.stop)
            tfds_split = f"{name}[{part.start}:{part.stop}]"
        else:
            tfds_split = _tfds.tfds_split(name, held)
        image_key, label_key = self._keys
        try:
            ds = _tfds.tfds_load(self.arg, tfds_split, self.data_dir, shuffle_files, seed, as_supervised=False)
        except _tfds.TFDS_MISSING as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise DataError(f"tfds:{self.arg} is not prepared in {_tfds.dir_text(self.data_dir)} and downloads are "
                            f"disabled. {_tfds.prepare_help(self.arg)} (TFDS: {first})") from None
        ds = ds.map(lambda example: (example[image_key], example[label_key]))
        return ds, holdout_size(size, held)
