"""The data set registry (names, help, options), the input spec (JSON, checks, the resize and gray rules),
and the record a run keeps of its data (dataset.json) with the check that refuses changed data."""

import numpy as np
import pytest
import tensorflow as tf

from hne_tf import data as data_lib
from hne_tf import datasets
from hne_tf.datasets.base import REGISTRY, InputSpec, resize_image


def test_every_data_set_is_registered_with_a_summary_and_listed_in_the_help():
    names = datasets.names()
    for name in ("cifar10", "cifar100", "fashion_mnist", "imagenet2012", "synthetic", "folder:PATH", "tfds:NAME",
                 "npz:FILE"):
        assert name in names
    assert names.index("synthetic") < names.index("folder:PATH")  # built-ins first, then those with an argument
    help_lines = datasets.describe().splitlines()
    assert [line.split(": ", 1)[0] for line in help_lines] == names
    assert all(REGISTRY[n.split(":")[0]].summary for n in names)
    assert data_lib.DATASETS == ("cifar10", "cifar100", "fashion_mnist", "imagenet2012", "synthetic")


@pytest.mark.parametrize("name,options,message", [
    ("mnist", {}, "unknown dataset 'mnist'; valid datasets: cifar10, cifar100, fashion_mnist"),
    ("cifar10:x", {}, "dataset cifar10 takes no argument"),
    ("folder", {}, "dataset folder needs its PATH: --dataset=folder:PATH (or --dataset=folder --data_dir=PATH)"),
    ("tfds", {}, "dataset tfds needs its NAME"),
    ("cifar10", {"channels": 1}, "--channels does not apply to --dataset=cifar10 (its options: --image_size); "
                                 "folder:PATH, npz:FILE, tfds:NAME take it"),
    ("synthetic", {"colour": 1}, "unknown dataset option(s) colour"),
    ("folder:/x", {"channels": 2}, "--channels must be 1 (grayscale) or 3 (RGB), got 2"),
    ("folder:/x", {"resize": "pad"}, "--resize must be one of 'stretch', 'center_crop', got 'pad'"),
    ("folder:/x", {"validation_split": 1.0}, "--validation_split must be a number in (0, 1), got 1.0"),
    ("folder:/x", {"image_size": 0}, "--image_size must be an integer >= 1"),
    ("npz:/x.npz", {"validation_split": 0.2}, "--validation_split does not apply to --dataset=npz"),
])
def test_bad_names_and_options_are_one_line_errors(name, options, message):
    with pytest.raises(ValueError) as e:
        datasets.get(name, **options)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_folder_name_is_absolute_and_data_dir_names_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert datasets.get("folder:photos").full_name == f"folder:{tmp_path / 'photos'}"
    assert datasets.get("folder", data_dir="photos").full_name == f"folder:{tmp_path / 'photos'}"
    assert datasets.get("tfds:beans", data_dir="photos").full_name == "tfds:beans"
    with pytest.raises(ValueError, match="name different folders"):
        datasets.get("folder:photos", data_dir="other")


def test_input_spec_round_trips_and_checks_its_values():
    spec = InputSpec(size=(32, 24), channels=3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.25), resize="center_crop")
    obj = spec.to_json()
    assert obj["normalization"]["formula"] == "(pixel / 255 - mean) / std, per channel"
    assert obj["resize"] == {"rule": "center_crop", "crop_fraction": 1.0, "interpolation": "bilinear",
                             "antialias": True}
    assert obj["color"] == "rgb" and obj["size"] == [32, 24] and obj["channels"] == 3
    assert InputSpec.from_json(obj) == spec and spec.input_shape == (32, 24, 3)
    assert spec.describe() == ("32x24x3 (rgb, center_crop), mean [0.5000, 0.4000, 0.3000], "
                               "std [0.2000, 0.2000, 0.2500]")
    with pytest.raises(ValueError) as e:
        InputSpec(size=(0, 4), channels=2, mean=(0.5,), std=(0.0,), resize="pad")
    for part in ("size must be", "channels must be 1 or 3", "mean and std need 2 values", "resize must be"):
        assert part in str(e.value)
    with pytest.raises(ValueError, match="not an input spec"):
        InputSpec.from_json({"size": [2, 2]})


def test_resize_rules_and_grayscale_on_known_pixels():
    # 8 rows x 16 columns: columns 0-3 red, 4-11 green, 12-15 blue.
    image = np.zeros((8, 16, 3), np.uint8)
    image[:, :4, 0] = image[:, 4:12, 1] = image[:, 12:, 2] = 255
    crop = InputSpec(size=(8, 8), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3, resize="center_crop")
    stretch = InputSpec(size=(8, 8), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3, resize="stretch")
    cropped = crop.pixels(tf.constant(image)).numpy()
    assert cropped.dtype == np.uint8 and (cropped == [0, 255, 0]).all()  # the centre 8x8 of the 8x16: green only
    stretched = stretch.pixels(tf.constant(image)).numpy()
    assert stretched[0, 0, 0] > 200 and stretched[0, -1, 2] > 200  # the red and blue ends survive
    gray = InputSpec(size=(8, 16), channels=1, mean=(0.5,), std=(0.5,))
    assert (gray.pixels(tf.constant(image)).numpy()[0, :, 0] == [76] * 4 + [150] * 8 + [29] * 4).all()
    assert (gray.pixels(tf.fill([8, 16, 1], tf.constant(77, tf.uint8))).numpy() == 77).all()  # gray stays itself
    assert np.allclose(stretch.preprocess(tf.constant(image)).numpy(), (stretched / 255 - 0.5) / 0.5)


@pytest.mark.parametrize("shape,crop", [((375, 500), (224, 224)), ((600, 333), (96, 64)), ((50, 41), (32, 32))])
def test_center_crop_is_imagenets_evaluation_rule(shape, crop):
    """The ImageNet evaluation preprocessing as it was written before the registry, against the shared rule."""
    image = tf.constant(np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8))
    resize = round(min(crop) * 256 / 224)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    new_hw = tf.maximum(tf.cast(tf.round(hw * (resize / tf.reduce_min(hw))), tf.int32), crop)
    old = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
    top, left = (new_hw[0] - crop[0]) // 2, (new_hw[1] - crop[1]) // 2
    old = tf.image.crop_to_bounding_box(old, top, left, crop[0], crop[1])
    np.testing.assert_array_equal(resize_image(image, crop, "center_crop", 224 / 256).numpy(), old.numpy())


def test_built_in_specs_and_the_run_record():
    assert datasets.get("imagenet2012").info.input_spec.to_json()["resize"]["crop_fraction"] == 0.875
    info = datasets.get("synthetic").info
    record = datasets.run_record(info, "synthetic")
    assert record["labels"] == info.labels and record["splits"] == {"train": 2048, "test": 512}
    assert InputSpec.from_json(record["input_spec"]) == info.input_spec
    assert datasets.record_mismatch(record, info) is None
    other = datasets.get("synthetic", image_size=(16, 16, 3)).info
    why = datasets.record_mismatch(record, other)
    assert why.startswith("--model_dir holds a run whose input is 28x28x1 (grayscale, stretch), mean [0.5000]")
    assert "but the data now gives 16x16x3 (rgb, stretch)" in why and "\n" not in why
    renamed = dict(record, labels=["a"] + record["labels"][1:])
    why = datasets.record_mismatch(renamed, info)
    assert why == ("--model_dir holds a run trained on 10 classes, but the data now has 10 (new: class_0; "
                   "missing: a); use a new --model_dir, or restore the data's classes")


def test_run_record_file_is_checked(tmp_path):
    assert datasets.read_run_record(str(tmp_path)) is None
    (tmp_path / datasets.RUN_FILE).write_text('{"labels": []}')
    with pytest.raises(datasets.DataError, match="dataset.json is not a dataset record"):
        datasets.read_run_record(str(tmp_path))


def test_the_data_functions_take_a_data_set_object():
    ds = datasets.get("synthetic", image_size=(12, 12, 3))
    x, y = data_lib.load_arrays(ds, "test", take=5)
    assert x.shape == (5, 12, 12, 3) and data_lib.dataset_info(ds) is ds.info
    raw, labels = ds.raw_arrays("test", 5)
    np.testing.assert_array_equal(raw, data_lib.synthetic_arrays("test", (12, 12, 3))[0][:5])
    np.testing.assert_array_equal(labels, y)
