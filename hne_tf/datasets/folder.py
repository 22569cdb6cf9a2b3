"""Your own images: ``folder:PATH`` (or ``folder`` with ``--data_dir=PATH``), one subfolder per class.

Two layouts::

  PATH/train/<class>/*.jpg  with  PATH/val/<class>/ or PATH/test/<class>/   (test/ wins if both)
  PATH/<class>/*.jpg        with  --validation_split=0.2                   (20% of each class held out)

The label names are the class folders' names, sorted. Images (JPEG, PNG, BMP, GIF: its first frame,
WebP) may have any size, in subfolders of a class folder too; hidden files are ignored, other files
skipped and counted. They stream from the files through ``tf.data``, so the data set may be larger
than memory; the decoded, resized pixels are cached per ``--cache``. Every image is resized to
``--image_size`` (default 32) by ``--resize`` (``stretch`` or ``center_crop``: shorter side, then the
centre) and given ``--channels`` (default: 1 when every training image is grayscale, else 3). The
normalization statistics are computed from the training images once (see
:mod:`hne_tf.datasets._images`).

Order: each split lists its files sorted, then in a fixed shuffle (seed 0), so ``--validation_examples``
(its last N) and ``--eval_examples`` (the first N) take a mix of classes. ``--validation_split``
shuffles each class (seed 0) and holds out its last ``round(n x fraction)`` files (at least one of
a class of two or more).

Training augmentation (``standard``): zero padding of ``max(1, size // 8)`` pixels + random crop +
horizontal flip.
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np
import tensorflow as tf

from hne_tf.datasets._images import ImageDataset, fraction_count
from hne_tf.datasets.base import DataError, register

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
EVAL_FOLDERS = ("test", "val")  # the first that exists is the evaluation ("test") split
_KINDS = "JPEG, PNG, BMP, GIF or WebP"
_LAYOUT = ("one subfolder of images per class (PATH/<class>/*.jpg, with --validation_split=0.2), or "
           "PATH/train/<class>/ with PATH/val/<class>/ or PATH/test/<class>/")


def _visible(names):
    return sorted(n for n in names if not n.startswith("."))


def _class_dirs(path: str) -> list[str]:
    return [n for n in _visible(os.listdir(path)) if os.path.isdir(os.path.join(path, n))]


def _images(folder: str) -> tuple[list[str], list[str]]:
    """``(image files, other files)`` under ``folder``, recursively, sorted; hidden ones left out."""
    images, others = [], []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = _visible(dirs)
        for name in _visible(files):
            path = os.path.join(root, name)
            (images if name.lower().endswith(IMAGE_EXTENSIONS) else others).append(path)
    return sorted(images), sorted(others)


def _split_folders(root: str, split: float | None) -> tuple[str, str | None]:
    """The training folder of ``root`` and its evaluation folder (None: ``split`` holds out part of training);
    DataError (one line) for a root that is missing, not a folder, unreadable or empty, or a layout and
    ``--validation_split`` that do not go together."""
    if not os.path.exists(root):
        raise DataError(f"folder dataset: {root} does not exist")
    if not os.path.isdir(root):
        raise DataError(f"folder dataset: {root} is a file, not a folder of class folders")
    try:
        entries = _visible(os.listdir(root))
    except OSError as e:
        raise DataError(f"folder dataset: cannot read {root} ({e.strerror or e})") from None
    if not entries:
        raise DataError(f"{root} is empty: expected {_LAYOUT}")
    if os.path.isdir(os.path.join(root, "train")):
        train_dir = os.path.join(root, "train")
        eval_dir = next((os.path.join(root, d) for d in EVAL_FOLDERS if os.path.isdir(os.path.join(root, d))), None)
        if eval_dir is None and split is None:
            raise DataError(f"{root} has train/ but no val/ or test/ folder: add PATH/val/<class>/, or pass "
                            "--validation_split=0.2 to hold out 20% of each class of train/ for evaluation")
        if eval_dir is not None and split is not None:
            raise DataError(f"--validation_split applies to a folder without val/ or test/, and {root} has "
                            f"{os.path.basename(eval_dir)}/: drop the flag")
    else:
        train_dir, eval_dir = root, None
        if split is None:
            raise DataError(f"{root} has no train/ with val/ or test/: pass --validation_split=0.2 to hold out "
                            "20% of each class for evaluation, or arrange it as PATH/train/<class>/ and "
                            "PATH/val/<class>/")
    return train_dir, eval_dir


@register
class Folder(ImageDataset):
    name = "folder"
    argument = "PATH"
    summary = ("your images in class subfolders: PATH/<class>/ with --validation_split, or PATH/train/<class>/ with "
               "PATH/val/ or PATH/test/; JPEG, PNG, BMP, GIF, WebP of any size, resized to --image_size (default 32)")

    def __init__(self, argument=None, *, data_dir=None, **options) -> None:
        super().__init__(os.path.abspath(os.path.expanduser(argument)), data_dir=data_dir, **options)
        if data_dir and os.path.abspath(os.path.expanduser(data_dir)) != self.arg:
            raise ValueError(f"--dataset=folder:{argument} and --data_dir={data_dir} name different folders; "
                             "give the folder once")

    @classmethod
    def argument_default(cls, data_dir: str | None) -> str | None:
        return data_dir

    @functools.cached_property
    def _layout(self) -> dict:
        """The class folders and files of each split; DataError (one line) for a folder that cannot be a data set."""
        root = self.arg
        train_dir, eval_dir = _split_folders(root, self.opts.get("validation_split"))
        split = self.opts.get("validation_split")
        classes = _class_dirs(train_dir)
        if not classes:
            loose = _images(train_dir)[0]
            raise DataError(f"{train_dir} has {'images but ' if loose else ''}no class folders: expected {_LAYOUT}")
        if len(classes) < 2:
            raise DataError(f"{train_dir} has 1 class folder ({classes[0]}); a classifier needs at least 2")
        skipped: list[str] = []

        def files_of(folder: str, names: list[str]) -> list[list[str]]:
            per_class, empty = [], []
            for name in names:
                images, others = _images(os.path.join(folder, name))
                skipped.extend(others)
                per_class.append(images)
                if not images:
                    empty.append(name)
            if empty:
                raise DataError(f"class folder{'s' if len(empty) > 1 else ''} {', '.join(empty[:5])} in {folder} "
                                f"hold{'' if len(empty) > 1 else 's'} no images ({_KINDS}); add images or remove "
                                f"{'them' if len(empty) > 1 else 'it'}")
            return per_class

        train = files_of(train_dir, classes)
        if eval_dir is not None:
            eval_classes = _class_dirs(eval_dir)
            absent = [c for c in classes if c not in eval_classes]
            if absent:
                raise DataError(f"class{'es' if len(absent) > 1 else ''} {', '.join(absent[:5])} "
                                f"{'are' if len(absent) > 1 else 'is'} in {train_dir} but not in {eval_dir}: every "
                                "class needs a folder of the same name in both")
            extra = [c for c in eval_classes if c not in classes]
            if extra:
                raise DataError(f"{eval_dir} has class folder{'s' if len(extra) > 1 else ''} {', '.join(extra[:5])} "
                                f"that {train_dir} lacks: every class needs a folder of the same name in both")
            test = files_of(eval_dir, classes)
        else:
            test = []
            for c, files in enumerate(train):
                order = np.random.default_rng(0).permutation(len(files))
                k = fraction_count(len(files), split)
                held = sorted(order[len(files) - k:].tolist()) if k else []
                test.append([files[i] for i in held])
                train[c] = [files[i] for i in sorted(order[:len(files) - k].tolist())]

        def ordered(per_class):
            rows = [(path, c) for c, files in enumerate(per_class) for path in files]
            rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
            return [p for p, _ in rows], np.array([c for _, c in rows], np.int32)

        return {"labels": classes, "train": ordered(train), "test": ordered(test), "skipped": skipped,
                "train_counts": {c: len(files) for c, files in enumerate(train)}}

    def _labels(self) -> list[str]:
        return list(self._layout["labels"])

    def _sizes(self) -> dict[str, int | None]:
        return {split: len(self._layout[split][0]) for split in ("train", "test")}

    def _class_counts(self) -> dict[int, int]:
        return dict(self._layout["train_counts"])

    def _split_examples(self, split, held, shuffle_files, seed):
        paths, labels = self._layout[split]
        if held is not None:
            paths, labels = paths[held], labels[held]
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), labels))
        if shuffle_files:
            ds = ds.shuffle(max(1, len(paths)), seed=seed, reshuffle_each_iteration=True)
        return ds, len(paths)

    def _decode(self, raw):
        return tf.io.decode_image(tf.io.read_file(raw), channels=3, expand_animations=False)

    def _where(self, index, split):
        return self._layout[split][0][index]

    def _fingerprint(self, split):
        paths, labels = self._layout[split]
        return hashlib.sha256(repr((paths, labels.tolist())).encode()).hexdigest()

    def _other_files(self) -> list[str]:
        return list(self._layout["skipped"])
