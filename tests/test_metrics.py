"""EnsembleEvaluator against values computed by hand."""

import math

import numpy as np
import pytest

from hne_tf.metrics import EnsembleEvaluator


def test_two_leaves_by_hand():
    # 2 samples, 2 leaves, 2 classes. Logit rows chosen for easy softmaxes.
    logits = np.array([
        [[2.0, 0.0], [0.0, 0.0]],   # sample 0, label 0: leaf 0 right, leaf 1 tie (argmax -> 0)
        [[1.0, 0.0], [0.0, 3.0]],   # sample 1, label 1: leaf 0 wrong, leaf 1 right
    ])
    labels = np.array([0, 1])
    ev = EnsembleEvaluator(num_leaves=2, num_bins=2)
    ev.update(logits[:1], labels[:1])  # two batches: streaming must equal one pass
    ev.update(logits[1:], labels[1:])
    r = ev.result(macs=[10, 15])
    assert r["leaf_accuracy"] == [0.5, 1.0]
    # k=1 is leaf 0: sample 0 right (p=e^2/(e^2+1)), sample 1 wrong (p(label)=1/(e+1)).
    p0 = math.exp(2) / (math.exp(2) + 1)
    p1 = 1 / (math.e + 1)
    assert r["prefixes"][0]["accuracy"] == 0.5
    assert r["prefixes"][0]["nll"] == pytest.approx(-(math.log(p0) + math.log(p1)) / 2)
    # ECE with 2 bins: both confidences (p0 = 0.88, e/(e+1) = 0.73) fall in bin [0.5, 1):
    # |acc - conf| summed: |1 - 0.88 + 0 - 0.73| / 2.
    conf1 = math.e / (math.e + 1)
    assert r["prefixes"][0]["ece"] == pytest.approx(abs((1 + 0) - (p0 + conf1)) / 2)
    # k=2: mean logits [1, 0] -> class 0 (right); [0.5, 1.5] -> class 1 (right).
    assert r["prefixes"][1]["accuracy"] == 1.0
    q0 = math.e / (math.e + 1)
    assert r["prefixes"][1]["nll"] == pytest.approx(-2 * math.log(q0) / 2)
    # Logit std across the 2 leaves: |a - b| / 2 per class, averaged.
    std = np.mean([np.mean(np.abs(logits[i, 0] - logits[i, 1]) / 2) for i in range(2)])
    assert r["prefixes"][1]["logit_std"] == pytest.approx(std)
    assert r["logit_std"] == pytest.approx(std)
    assert r["prefixes"][0]["logit_std"] == 0.0
    assert [p["macs"] for p in r["prefixes"]] == [10, 15]


def test_ece_zero_for_calibrated_bins():
    # Confidence 0.75 in every sample, 3 of 4 right: perfectly calibrated.
    z = math.log(3.0)
    logits = np.array([[[z, 0.0]]] * 4)
    ev = EnsembleEvaluator(1)
    ev.update(logits, np.array([0, 0, 0, 1]))
    assert ev.result()["prefixes"][0]["ece"] == pytest.approx(0.0, abs=1e-12)


def test_wrong_leaf_count_and_empty():
    ev = EnsembleEvaluator(3)
    with pytest.raises(ValueError, match="3 leaves"):
        ev.update(np.zeros((1, 2, 4)), np.zeros(1))
    with pytest.raises(ValueError, match="no examples"):
        ev.result()
