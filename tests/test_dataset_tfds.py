"""tfds:NAME, any prepared TFDS image-classification data set, on TFDS mock data: features and label names
from the data set's info, native or resized images, the errors, and a run of train.py on one."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from kit import run_cli

from hne_tf import datasets


def _quiet(*_):
    pass


def test_fixed_size_grayscale_data_keeps_its_shape():
    with tfds.testing.mock_data(num_examples=12):
        ds = datasets.get("tfds:mnist")
        ds.prepare(_quiet)
        info = ds.info
        assert info.input_shape == (28, 28, 1) and info.labels == [str(i) for i in range(10)]
        assert (info.train_size, info.test_size) == (12, 12)  # counted while reading: mock data has no split sizes
        (x, y), = ds.load("train", 12, training=True, seed=0).take(1)
        assert x.shape == (12, 28, 28, 1) and y.numpy().max() < 10


def test_images_of_any_size_are_resized_and_labels_come_from_the_info():
    with tfds.testing.mock_data(num_examples=6):  # mock flowers have random sizes
        ds = datasets.get("tfds:oxford_flowers102", image_size=20, resize="center_crop")
        ds.prepare(_quiet)
        assert ds.info.input_shape == (20, 20, 3) and len(ds.info.labels) == 102
        assert ds.info.labels[0] == "pink primrose" and ds.info.input_spec.resize == "center_crop"
        x, _ = ds.load_arrays("test")
        assert x.shape == (6, 20, 20, 3) and np.isfinite(x).all()
        # a large fixed size (beans: 500x500) is not kept by default: 32
        beans = datasets.get("tfds:beans", validation_split=0.25)
        beans.prepare(_quiet)
        assert beans.info.input_shape == (32, 32, 3) and beans.info.labels[0] == "angular_leaf_spot"


@pytest.mark.parametrize("name,message", [
    ("tfds:no_such_dataset", "unknown TFDS dataset 'no_such_dataset': tensorflow_datasets 4.9.10 has no builder"),
    ("tfds:glue", "tfds:glue is not an image-classification data set: it needs one Image and one ClassLabel feature"),
    ("tfds:oxford_flowers102", "tfds:oxford_flowers102 is not prepared in {dir} and downloads are disabled. Prepare "
                               "it on a machine with internet: `tfds build oxford_flowers102 --data_dir DIR`"),
])
def test_errors_say_what_to_do_in_one_line(tmp_path, name, message):
    with pytest.raises(datasets.DataError) as e:
        datasets.get(name, data_dir=str(tmp_path)).prepare(_quiet)
    assert message.format(dir=tmp_path) in str(e.value) and "\n" not in str(e.value)


def test_train_py_trains_on_a_tfds_data_set_other_than_the_built_ins(tmp_path):
    run = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=16):
        r = run_cli("train.py", "--dataset=tfds:oxford_flowers102", "--image_size=16", "--model=hne_resnet_tiny",
                    '--model_options={"branching": [1, 2, 2, 1, 1]}', "--epochs=1", "--steps_per_epoch=2",
                    "--batch_size=8", "--eval_batch_size=16", f"--model_dir={run}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "read 32 images of tfds:oxford_flowers102" in r.stdout
    result = json.loads((run / "eval.json").read_text())
    assert result["dataset"] == "tfds:oxford_flowers102" and len(result["labels"]) == 102
    assert result["input_spec"]["size"] == [16, 16] and result["num_examples"] == 16
    record = json.loads((run / "dataset.json").read_text())
    assert record["labels"] == result["labels"] and record["input_spec"] == result["input_spec"]


def test_unknown_tfds_name_exits_non_zero_through_train_py(tmp_path):
    r = run_cli("train.py", "--dataset=tfds:no_such_dataset", "--model=hne_resnet_tiny",
                f"--model_dir={tmp_path / 'run'}")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("train.py: error: unknown TFDS dataset 'no_such_dataset'")
    assert not (tmp_path / "run").exists()
