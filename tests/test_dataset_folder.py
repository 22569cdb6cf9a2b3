"""folder:PATH, images in class subfolders: layouts, formats and sizes, grayscale detection, the resize
rules, skipped files, progress, caching, and a one-line error (and non-zero exit) for each bad folder."""

import json
import re

import numpy as np
import pytest
from kit import run_cli, write_image, write_image_folder

from hne_tf import datasets
from hne_tf.datasets import _images
from hne_tf.datasets._images import fraction_count


class Log(list):
    def __call__(self, line):
        self.append(line)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """train/ and val/ of 3 classes, every format at two sizes, one undecodable .jpg and a text file."""
    root = tmp_path_factory.mktemp("photos")
    write_image_folder(root, splits=(("train", 10), ("val", 3)), formats=("jpg", "png", "bmp", "gif", "webp"))
    (root / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"hidden: ignored")
    return root


def test_reads_every_format_and_size_and_counts_what_it_skips(photos):
    log = Log()
    ds = datasets.get(f"folder:{photos}")
    ds.prepare(log)
    info = ds.info
    assert info.labels == ["cat", "dog", "fish"] and info.input_shape == (32, 32, 3)
    assert (info.train_size, info.test_size) == (31, 9)  # the broken .jpg is listed, and skipped when read
    start, warning, done = log
    assert re.fullmatch(r"computing the input statistics of folder:\S+: reading its 40 images once", start), start
    assert re.fullmatch(r"warning: skipped 2 files of folder:\S+: 1 unreadable image \(e\.g\. \S+/broken\.jpg\); "
                        r"1 file not named as an image \(e\.g\. \S+/notes\.txt\)", warning), warning
    assert re.fullmatch(r"read 39 images of folder:\S+ in \d+ s: 3 classes, input 32x32x3 \(rgb, stretch\), "
                        r"mean \[[\d., ]+\], std \[[\d., ]+\] \(channels detected\)", done), done
    x, y = ds.load_arrays("train")
    assert x.shape == (30, 32, 32, 3) and sorted(np.bincount(y)) == [10, 10, 10]
    assert abs(x.mean()) < 0.1 and abs(x.std() - 1) < 0.1  # normalized with the statistics it computed
    raw, _ = ds.raw_arrays("test")
    assert raw.dtype == np.uint8 and raw.shape == (9, 32, 32, 3)
    # A class's colour survives decoding and resizing: the red class (cat) is red.
    assert raw[_ == 0][..., 0].mean() > 150 > raw[_ == 0][..., 2].mean()
    (xb, yb), = ds.load("train", 30, training=True, seed=1, augmentation="standard").take(1)
    assert xb.shape == (30, 32, 32, 3) and sorted(np.bincount(yb.numpy())) == [10, 10, 10]


def test_grayscale_is_detected_or_forced_and_center_crop_is_chosen(tmp_path):
    root = write_image_folder(tmp_path / "gray", classes=("dark", "light"), splits=((None, 6),), gray=True)
    ds = datasets.get(f"folder:{root}", validation_split=0.5, resize="center_crop", image_size=16)
    ds.prepare(Log())
    spec = ds.info.input_spec
    assert spec.channels == 1 and spec.resize == "center_crop" and spec.size == (16, 16)
    assert 0.3 < spec.mean[0] < 0.5  # gray levels 60 and 120, equally many
    assert ds.load_arrays("test")[0].shape == (6, 16, 16, 1)
    forced = datasets.get(f"folder:{root}", validation_split=0.5, channels=3)
    forced.prepare(Log())
    assert forced.info.input_shape == (32, 32, 3) and len(set(forced.info.mean)) == 1


def test_validation_split_holds_out_each_class_and_the_order_is_fixed(tmp_path):
    root = write_image_folder(tmp_path / "flat", classes=("a", "b", "c"), splits=((None, 7),), sizes=((8, 8),),
                              formats=("png",))
    (root / "c" / "06.png").unlink()
    ds = datasets.get(f"folder:{root}", validation_split=0.25)
    layout = ds._layout
    train, test = layout["train"], layout["test"]
    assert [fraction_count(n, 0.25) for n in (7, 7, 6, 1, 2)] == [2, 2, 2, 0, 1]
    assert np.bincount(test[1]).tolist() == [2, 2, 2] and np.bincount(train[1]).tolist() == [5, 5, 4]
    assert not set(train[0]) & set(test[0])
    assert train[0] == datasets.get(f"folder:{root}", validation_split=0.25)._layout["train"][0]
    assert train[1][:6].tolist() != sorted(train[1][:6].tolist()) or len(set(train[1][:6])) > 1  # classes mixed
    # --validation_examples holds out the last N of that order.
    ds.prepare(Log())
    (vx, vy), = ds.load("validation", 8, validation_examples=3)
    np.testing.assert_array_equal(vy.numpy(), train[1][-3:])


def test_progress_lines_with_the_time_left(photos, monkeypatch):
    monkeypatch.setattr(_images, "PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr(_images, "SCAN_BATCH", 8)
    monkeypatch.setattr(_images, "_interactive", lambda: False)
    log = Log()
    datasets.get(f"folder:{photos}", image_size=8).prepare(log)
    progress = [line for line in log if line.startswith("reading ")]
    assert len(progress) >= 3, log
    for line in progress:
        assert re.fullmatch(r"reading folder:\S+: \d+ of 40 images \(\d+%\), \d+ s, about \d+ (s|min \d+ s) left",
                            line), line


def test_cache_in_memory_on_disk_or_none_gives_the_same_images(photos, tmp_path):
    arrays = {}
    for cache in ("memory", "none", str(tmp_path / "cache"), str(tmp_path / "cache")):
        ds = datasets.get(f"folder:{photos}", cache=cache, image_size=16)
        ds.prepare(Log())
        arrays[cache] = ds.load_arrays("test")[0]
    assert all(np.array_equal(arrays["memory"], a) for a in arrays.values())
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".data-00000-of-00001", ".index"]


def _folder(tmp_path, case):
    """A bad folder for ``case``; returns (the --dataset value, extra flags)."""
    root = tmp_path / case
    if case == "missing":
        return f"folder:{root}", []
    root.mkdir()
    if case == "empty":
        return f"folder:{root}", []
    if case == "loose-images":
        write_image(root / "a.png", np.zeros((4, 4, 3), np.uint8))
        return f"folder:{root}", ["--validation_split=0.2"]
    if case == "one-class":
        write_image_folder(root, classes=("cat",), splits=(("train", 2), ("val", 1)))
    elif case == "empty-class":
        write_image_folder(root, classes=("cat", "dog"), splits=(("train", 2), ("val", 1)))
        (root / "train" / "bird").mkdir()
    elif case == "class-missing-from-val":
        write_image_folder(root, classes=("cat", "dog", "fish"), splits=(("train", 2),))
        write_image_folder(root, classes=("cat", "dog"), splits=(("val", 1),))
    elif case == "class-only-in-val":
        write_image_folder(root, classes=("cat", "dog"), splits=(("train", 2),))
        write_image_folder(root, classes=("cat", "dog", "eel"), splits=(("val", 1),))
    elif case == "no-val-no-split":
        write_image_folder(root, classes=("cat", "dog"), splits=(("train", 2),))
    elif case == "flat-no-split":
        write_image_folder(root, classes=("cat", "dog"), splits=((None, 2),))
    elif case == "split-and-val":
        write_image_folder(root, classes=("cat", "dog"), splits=(("train", 2), ("test", 1)))
        return f"folder:{root}", ["--validation_split=0.2"]
    elif case == "unreadable-class":
        write_image_folder(root, classes=("cat", "dog"), splits=(("train", 2), ("val", 1)))
        for f in (root / "train" / "dog").iterdir():
            f.write_bytes(b"garbage")
    return f"folder:{root}", []


BAD_FOLDERS = {
    "missing": "folder dataset: {root} does not exist",
    "empty": "{root} is empty: expected one subfolder of images per class",
    "loose-images": "{root} has images but no class folders",
    "one-class": "{root}/train has 1 class folder (cat); a classifier needs at least 2",
    "empty-class": "class folder bird in {root}/train holds no images (JPEG, PNG, BMP, GIF or WebP)",
    "class-missing-from-val": "class fish is in {root}/train but not in {root}/val",
    "class-only-in-val": "{root}/val has class folder eel that {root}/train lacks",
    "no-val-no-split": "{root} has train/ but no val/ or test/ folder: add PATH/val/<class>/, or pass "
                       "--validation_split=0.2",
    "flat-no-split": "{root} has no train/ with val/ or test/: pass --validation_split=0.2",
    "split-and-val": "--validation_split applies to a folder without val/ or test/, and {root} has test/",
    "unreadable-class": "folder:{root}: no training image of class dog could be read; fix or remove it",
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_a_bad_folder_is_a_one_line_error(tmp_path, case):
    name, flags = _folder(tmp_path, case)
    options = {"validation_split": 0.2} if flags else {}
    with pytest.raises(datasets.DataError) as e:
        datasets.get(name, **options).prepare(Log())
    assert BAD_FOLDERS[case].format(root=tmp_path / case) in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("case", ["empty", "one-class", "empty-class", "class-missing-from-val", "unreadable-class"])
def test_train_py_exits_with_the_one_line_error(tmp_path, case):
    name, flags = _folder(tmp_path, case)
    run = tmp_path / "run"
    r = run_cli("train.py", f"--dataset={name}", *flags, "--model=hne_resnet_tiny", f"--model_dir={run}")
    assert r.returncode == 1
    assert r.stderr.startswith("train.py: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert BAD_FOLDERS[case].format(root=tmp_path / case) in r.stderr
    assert not run.exists()


def test_resume_refuses_other_input_flags_and_changed_classes(photos, tmp_path):
    """A run's dataset.json against the command and the data: one line each, nothing written."""
    run = tmp_path / "run"
    run.mkdir()
    name = datasets.get(f"folder:{photos}").full_name
    config = {"model": "hne_resnet_tiny", "loss": "hierarchical_distillation", "dataset": name, "model_options": {}}
    (run / "config.json").write_text(json.dumps(config))
    spec = datasets.InputSpec(size=(32, 32), channels=3, mean=(0.5,) * 3, std=(0.25,) * 3)
    record = {"format": "hne-tf-dataset", "version": 1, "dataset": name, "labels": ["cat", "dog", "fish"],
              "input_spec": spec.to_json(), "splits": {"train": 31, "test": 9}}
    (run / "dataset.json").write_text(json.dumps(record))
    before = sorted(p.name for p in run.iterdir())
    common = ["--model=hne_resnet_tiny", f"--model_dir={run}", "--steps_per_epoch=1", "--batch_size=4"]
    r = run_cli("train.py", f"--dataset=folder:{photos}", "--image_size=16", *common)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert ("--model_dir holds a run whose input is 32x32x3 (rgb, stretch), mean [0.5000, 0.5000, 0.5000], "
            "std [0.2500, 0.2500, 0.2500]; this command asks for --image_size=16 (it has 32)") in r.stderr
    (run / "dataset.json").write_text(json.dumps(dict(record, labels=["cat", "dog", "eel"])))
    r = run_cli("train.py", f"--dataset=folder:{photos}", *common)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert ("--model_dir holds a run trained on 3 classes, but the data now has 3 (new: fish; missing: eel); "
            "use a new --model_dir") in r.stderr
    assert sorted(p.name for p in run.iterdir()) == before
