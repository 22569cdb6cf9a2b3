"""npz:FILE, images in a NumPy .npz file (what the Python API stores beside a run): reading, label names,
and one-line errors for a file that is not one."""

import numpy as np
import pytest

from hne_tf import datasets
from hne_tf.datasets import npz


def test_reads_the_arrays_and_label_names(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 12, 14, 3), dtype=np.uint8)
    y = np.arange(10) % 3
    npz.write(str(tmp_path / "d.npz"), x, y, x[:4], y[:4], ["a", "b", "c"])
    ds = datasets.get(f"npz:{tmp_path / 'd.npz'}")
    ds.prepare(lambda *_: None)
    info = ds.info
    assert info.labels == ["a", "b", "c"] and info.input_shape == (12, 14, 3)  # its own size, not 32
    assert (info.train_size, info.test_size) == (10, 4)
    np.testing.assert_allclose(info.mean, x.reshape(-1, 3).mean(0) / 255, atol=1e-5)
    raw, labels = ds.raw_arrays("test")
    np.testing.assert_array_equal(raw, x[:4])  # the same size: stretching changes nothing
    np.testing.assert_array_equal(labels, y[:4])


@pytest.mark.parametrize("arrays,message", [
    ({"x_train": np.zeros((2, 4, 4, 3), np.uint8)}, "lacks y_train, x_test, y_test"),
    ({"x_train": np.zeros((2, 4, 4, 3), np.float32), "y_train": np.zeros(2, int),
      "x_test": np.zeros((2, 4, 4, 3), np.uint8), "y_test": np.zeros(2, int)}, "x_train must be uint8 pixels"),
    ({"x_train": np.zeros((2, 4, 4, 3), np.uint8), "y_train": np.zeros(3, int),
      "x_test": np.zeros((2, 4, 4, 3), np.uint8), "y_test": np.zeros(2, int)}, "y_train must be 2 integer labels"),
])
def test_a_file_that_is_not_one_is_a_one_line_error(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(datasets.DataError) as e:
        datasets.get(f"npz:{tmp_path / 'd.npz'}").prepare(lambda *_: None)
    assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(datasets.DataError, match="does not exist"):
        datasets.get(f"npz:{tmp_path / 'none.npz'}").prepare(lambda *_: None)
