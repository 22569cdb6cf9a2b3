"""Data sets by name, one file each: ``hne_tf.datasets.get(name)`` (uncertainty-baselines' pattern).

Every module of this package that defines a :class:`~hne_tf.datasets.base.Dataset` subclass
registers it with :func:`~hne_tf.datasets.base.register`; :func:`get` imports them all once
(:func:`hne_tf.plugins.import_package`), so adding a data set is its file plus its test. Each
class knows its splits, label names, input spec and preprocessing:

>>> ds = hne_tf.datasets.get("cifar10", data_dir="~/tensorflow_datasets")
>>> ds.info.labels[:2], ds.info.input_spec.input_shape
(['airplane', 'automobile'], (32, 32, 3))
>>> batches = ds.load("train", 128, training=True)

Some take an argument after a colon: ``folder:PATH`` (class subfolders of images),
``tfds:NAME`` (any prepared TFDS image-classification data set), ``npz:FILE``. Those compute
their normalization statistics from the training data (:meth:`Dataset.prepare`); a training run
stores them, with the label names, in ``<model_dir>/dataset.json`` (:data:`RUN_FILE`), and
:func:`for_run` rebuilds the run's data set from it for evaluation, resume and export.
"""

from __future__ import annotations

import json
import os

from hne_tf.datasets.base import (
    AUGMENTATIONS,
    OPTIONS,
    REGISTRY,
    RESIZE_RULES,
    SPLITS,
    VALIDATION,
    DataError,
    Dataset,
    DatasetInfo,
    InputSpec,
    register,
)

RUN_FILE = "dataset.json"
RUN_FORMAT = "hne-tf-dataset"
_discovered = False


def _discover() -> None:
    global _discovered
    if not _discovered:
        from hne_tf.plugins import import_package

        import_package(__name__)
        _discovered = True


def names() -> list[str]:
    """Every registered data set, as ``--dataset`` takes it (``folder:PATH`` for one with an argument)."""
    _discover()
    ordered = sorted(REGISTRY.items(), key=lambda item: (item[1].argument is not None, item[0]))
    return [f"{n}:{cls.argument}" if cls.argument else n for n, cls in ordered]


def describe() -> str:
    """One line per data set: how to name it and what it is (``--dataset``'s help)."""
    _discover()
    return "\n".join(f"{name}: {REGISTRY[name.split(':')[0]].summary}" for name in names())


def get(name: str | Dataset, *, data_dir: str | None = None, **options) -> Dataset:
    """The data set ``name`` (``"cifar10"``, ``"folder:PATH"``, ``"tfds:NAME"``, ...) with ``options``.

    ``options`` are those of :data:`~hne_tf.datasets.base.OPTIONS` (``image_size``, ``channels``,
    ``resize``, ``cache``, ``validation_split``); None means not given. Raises ValueError for an
    unknown name or an option the data set does not take. Touches no data: missing data fails
    when the data set is first read, with a :class:`DataError` that says how to get it.
    """
    if isinstance(name, Dataset):
        return name
    _discover()
    base, sep, argument = str(name).partition(":")
    cls = REGISTRY.get(base)
    if cls is None:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(names())}")
    if cls.argument is None and sep:
        raise ValueError(f"dataset {base} takes no argument, got {name!r}")
    if cls.argument is not None and not argument:
        argument = cls.argument_default(data_dir)
        if not argument:
            raise ValueError(f"dataset {base} needs its {cls.argument}: --dataset={base}:{cls.argument}"
                             + (f" (or --dataset={base} --data_dir={cls.argument})" if cls.argument == "PATH" else ""))
    given = {k: v for k, v in options.items() if v is not None}
    unknown = [k for k in given if k not in OPTIONS]
    if unknown:
        raise ValueError(f"unknown dataset option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    foreign = [k for k in given if k not in cls.options]
    if foreign:
        takers = [n for n in names() if set(foreign) <= set(REGISTRY[n.split(':')[0]].options)]
        raise ValueError(f"--{' and --'.join(foreign)} do{'es' if len(foreign) == 1 else ''} not apply to "
                         f"--dataset={base} (its options: {', '.join('--' + o for o in cls.options) or 'none'})"
                         + (f"; {', '.join(takers)} take{'s' if len(takers) == 1 else ''} it" if takers else ""))
    return cls(argument or None, data_dir=data_dir, **given)


# ----------------------------------------------------------------------------- a run's data set


def run_record(info: DatasetInfo, name: str | None = None) -> dict:
    """What ``dataset.json`` holds: the data set, its label names, input spec and split sizes."""
    return {"format": RUN_FORMAT, "version": 1, "dataset": name or info.name, "labels": list(info.labels),
            "input_spec": info.input_spec.to_json(),
            "splits": {"train": info.train_size, "test": info.test_size},
            "augmentation": info.augmentation}


def read_run_record(model_dir: str) -> dict | None:
    """``<model_dir>/dataset.json``, or None when there is none (a run from before it existed).
    Raises DataError when it is there but unreadable."""
    path = os.path.join(model_dir, RUN_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        InputSpec.from_json(record["input_spec"])
        if not isinstance(record.get("labels"), list):
            raise ValueError("no labels list")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DataError(f"{path} is not a dataset record ({e}); restore it, or delete it to have the "
                        "data set described again") from None
    return record


def record_mismatch(record: dict, info: DatasetInfo) -> str | None:
    """Why the data (``info``) cannot continue the run that ``record`` describes; None when it can."""
    stored = InputSpec.from_json(record["input_spec"])
    now = info.input_spec
    if stored != now:
        return (f"--model_dir holds a run whose input is {stored.describe()}, but the data now gives "
                f"{now.describe()}; use a new --model_dir, or the flags (--image_size, --channels, --resize) "
                "and data it was trained with")
    labels = list(record["labels"])
    if labels != list(info.labels):
        added = [x for x in info.labels if x not in labels]
        missing = [x for x in labels if x not in info.labels]
        detail = "; ".join(filter(None, (f"new: {', '.join(added[:5])}" if added else "",
                                         f"missing: {', '.join(missing[:5])}" if missing else ""))) or "reordered"
        return (f"--model_dir holds a run trained on {len(labels)} classes, but the data now has "
                f"{len(info.labels)} ({detail}); use a new --model_dir, or restore the data's classes")
    return None


def for_run(model_dir: str, data_dir: str | None = None) -> Dataset:
    """The data set of a ``train.py`` run, with the input spec its ``dataset.json`` recorded (no data
    is read to describe it): for evaluation, export and the host runner. ``data_dir`` overrides the
    run's. Raises DataError for a missing or malformed config.json or dataset.json."""
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        name = config["dataset"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: cannot read the run's dataset ({e})") from None
    record = read_run_record(model_dir)
    _discover()
    cls = REGISTRY.get(str(name).partition(":")[0])
    options = {k: config.get(k) for k in (cls.options if cls else ())}
    dataset = get(name, data_dir=data_dir if data_dir is not None else config.get("data_dir"), **options)
    if record is not None:
        dataset.prepare(log=lambda *_: None, stored=InputSpec.from_json(record["input_spec"]))
    return dataset


def for_manifest(manifest: dict, data_dir: str | None = None) -> Dataset:
    """The data set an export's ``manifest.json`` names, preprocessed as its ``input`` says: its own
    ``input_spec`` where the manifest carries one, else the shape, normalization and resize rule
    (default ``stretch``) of its ``input``. For the host runner's test images; reads no data."""
    dataset = get(manifest["model"]["dataset"], data_dir=data_dir)
    inp = manifest["input"]
    if "input_spec" in inp:
        spec = InputSpec.from_json(inp["input_spec"])
    else:
        shape, norm = inp["shape"], inp["normalization"]
        resize = inp.get("resize") if isinstance(inp.get("resize"), dict) else {}
        spec = InputSpec(size=tuple(shape[1:3]), channels=int(shape[3]), mean=tuple(norm["mean"]),
                         std=tuple(norm["std"]), resize=resize.get("rule", "stretch"),
                         crop_fraction=float(resize.get("crop_fraction", 1.0)))
    dataset.prepare(log=lambda *_: None, stored=spec)
    return dataset


__all__ = ["AUGMENTATIONS", "OPTIONS", "RESIZE_RULES", "RUN_FILE", "SPLITS", "VALIDATION", "DataError", "Dataset",
           "DatasetInfo", "InputSpec", "describe", "for_manifest", "for_run", "get", "names", "read_run_record",
           "record_mismatch", "register", "run_record"]
