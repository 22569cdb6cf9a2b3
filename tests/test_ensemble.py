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


# EnsembleNet's rule (its eq. 2), by hand: leaf probabilities chosen to be round numbers.
L3, L4 = np.log(3.0), np.log(4.0)
PROB_LOGITS = np.array([[[0.0, L3], [0.0, 0.0], [L4, 0.0]]])    # p = [.25 .75], [.5 .5], [.8 .2]
MEAN_PROBS = np.array([[[0.25, 0.75], [0.375, 0.625], [1.55 / 3, 1.45 / 3]]])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_mean_probs_by_hand_numpy_and_tf(k):
    got = ensemble_logits(PROB_LOGITS, k, "mean_probs")
    # The ensemble logits are the log of the mean probability: already normalized, softmax is the identity.
    np.testing.assert_allclose(np.exp(got), MEAN_PROBS[:, k - 1], rtol=1e-12)
    np.testing.assert_allclose(softmax(got), MEAN_PROBS[:, k - 1], rtol=1e-12)
    tf_got = ensemble_logits(tf.constant(PROB_LOGITS, tf.float32), k, "mean_probs")
    assert isinstance(tf_got, tf.Tensor) and tf_got.dtype == tf.float32
    np.testing.assert_allclose(np.exp(tf_got.numpy()), MEAN_PROBS[:, k - 1], rtol=1e-6)
    np.testing.assert_allclose(prefix_ensembles(PROB_LOGITS, "mean_probs")[:, k - 1], got, rtol=1e-12)
    np.testing.assert_allclose(prefix_ensembles(tf.constant(PROB_LOGITS, tf.float32), "mean_probs")[:, k - 1],
                               got, rtol=1e-6)


def test_the_two_rules_can_disagree():
    # One confident leaf against two mild ones: the mean of logits follows the confident leaf,
    # the mean of probabilities the majority.
    z = np.array([[[10.0, 0.0], [0.0, 3.0], [0.0, 3.0]]])
    assert np.argmax(ensemble_logits(z, 3)) == 0
    assert np.argmax(ensemble_logits(z, 3, "mean_probs")) == 1
    p = softmax(z[0])
    np.testing.assert_allclose(np.exp(ensemble_logits(z, 3, "mean_probs"))[0], p.mean(axis=0), rtol=1e-12)


def test_mean_probs_does_not_underflow():
    # Probabilities of 1e-400 underflow in float64; their log-mean stays finite.
    z = np.array([[[0.0, -1000.0], [0.0, -1002.0]]])
    got = ensemble_logits(z, 2, "mean_probs")
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[0, 1], -1000.0 + np.log((1 + np.exp(-2.0)) / 2), rtol=1e-12)


@pytest.mark.parametrize("rule", ["mean_logits", "mean_probs"])
def test_running_form_is_bit_identical_to_prefix_ensembles(rule):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((5, 6, 4)) * 4).astype(np.float32)
    running = RunningMean(rule)
    want = prefix_ensembles(z, rule)
    for k in range(6):
        got = running.add(z[:, k])
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want[:, k])
        np.testing.assert_allclose(got, ensemble_logits(z, k + 1, rule), rtol=1e-5, atol=1e-5)


def test_unknown_rule_is_refused():
    for call in (lambda: ensemble_logits(LOGITS, 1, "median"), lambda: prefix_ensembles(LOGITS, "vote"),
                 lambda: RunningMean("geometric")):
        with pytest.raises(ValueError, match="unknown ensemble rule .*mean_logits, mean_probs"):
            call()
