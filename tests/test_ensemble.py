"""The ensemble rule (HNE eq. 1) against hand-computed means, in NumPy and TensorFlow."""

import numpy as np
import pytest
import tensorflow as tf

from hne_tf.ensemble import RunningMean, ensemble_logits, prefix_ensembles, softmax

# Two images, three leaves, two classes; means worked out by hand.
LOGITS = np.array([[[1.0, 4.0], [3.0, 0.0], [5.0, 2.0]],
                   [[0.0, 0.0], [2.0, -2.0], [-2.0, 8.0]]], np.float32)
MEANS = np.array([[[1.0, 4.0], [2.0, 2.0], [3.0, 2.0]],
                  [[0.0, 0.0], [1.0, -1.0], [0.0, 2.0]]], np.float32)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_ensemble_logits_numpy_and_tf(k):
    np.testing.assert_allclose(ensemble_logits(LOGITS, k), MEANS[:, k - 1])
    got = ensemble_logits(tf.constant(LOGITS), k)
    assert isinstance(got, tf.Tensor)
    np.testing.assert_allclose(got.numpy(), MEANS[:, k - 1])


@pytest.mark.parametrize("bad", [0, 4, -1, 1.5, True, "2"])
def test_ensemble_logits_rejects_bad_k(bad):
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 3\\]"):
        ensemble_logits(LOGITS, bad)
    with pytest.raises(ValueError, match="k must be an integer"):
        ensemble_logits(tf.constant(LOGITS), bad)


def test_prefix_ensembles_numpy_and_tf():
    np.testing.assert_allclose(prefix_ensembles(LOGITS), MEANS)
    np.testing.assert_allclose(prefix_ensembles(tf.constant(LOGITS)).numpy(), MEANS)


def test_running_mean_matches_prefix_ensembles():
    running = RunningMean()
    with pytest.raises(ValueError, match="no leaf"):
        _ = running.value
    for k in range(3):
        got = running.add(LOGITS[:, k])
        np.testing.assert_array_equal(got, prefix_ensembles(LOGITS)[:, k])
    assert running.count == 3


def test_softmax_is_stable_and_normalized():
    p = softmax(np.array([[1000.0, 1000.0 + np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.25, 0.75]])
