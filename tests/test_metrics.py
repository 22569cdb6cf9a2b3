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


def test_disagreement_ambiguity_and_mean_of_probabilities_by_hand():
    # 1 sample, 3 leaves, 2 classes, label 0. Top-1: leaf 0 -> 0, leaf 1 -> 1, leaf 2 -> 1.
    logits = np.array([[[math.log(3.0), 0.0], [0.0, math.log(3.0)], [0.0, 1.0]]])
    ev = EnsembleEvaluator(num_leaves=3)
    ev.update(logits, np.array([0]))
    rows = ev.result()["prefixes"]
    # Pairs among the first k leaves that disagree: k=2: (0,1) -> 1/1; k=3: (0,1), (0,2) differ, (1,2) agree -> 2/3.
    assert [r["disagreement"] for r in rows] == pytest.approx([0.0, 1.0, 2 / 3])
    # k=2: leaves p = (3/4, 1/4) and (1/4, 3/4); mean logits (0.5 ln3, 0.5 ln3) -> q = (1/2, 1/2).
    # KL(q || p_i) = 1/2 ln(1/2 / 3/4) + 1/2 ln(1/2 / 1/4) = 1/2 ln(2/3) + 1/2 ln 2, the same for both leaves.
    assert rows[1]["ambiguity"] == pytest.approx(0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert rows[0]["ambiguity"] == pytest.approx(0.0, abs=1e-12)
    # The identity behind it: mean leaf NLL - ensemble NLL.
    leaf_nll = [-math.log(3 / 4), -math.log(1 / 4)]
    assert rows[1]["ambiguity"] == pytest.approx(np.mean(leaf_nll) - rows[1]["nll"])
    # Mean of probabilities, k=3: p(0) = (3/4 + 1/4 + 1/(1+e)) / 3.
    p = (0.75 + 0.25 + 1 / (1 + math.e)) / 3
    assert rows[2]["nll_mean_probs"] == pytest.approx(-math.log(p))
    assert rows[2]["accuracy_mean_probs"] == (1.0 if p > 0.5 else 0.0)
    assert rows[0]["accuracy_mean_probs"] == 1.0 and rows[1]["nll_mean_probs"] == pytest.approx(math.log(2))


def test_the_model_rule_decides_the_prefix_scores():
    # 1 sample, 3 leaves, label 1: one confident leaf for class 0 against two mild ones for class 1.
    # Mean logits (10/3, 2) pick class 0; the mean of probabilities picks class 1.
    logits = np.array([[[10.0, 0.0], [0.0, 3.0], [0.0, 3.0]]])
    labels = np.array([1])
    p1 = (1 / (1 + math.exp(10)) + 2 * math.exp(3) / (1 + math.exp(3))) / 3  # mean probability of class 1
    q1 = 1 / (1 + math.exp(10 / 3 - 2))                                       # softmax of the mean logits
    by_rule = {}
    for rule in ("mean_logits", "mean_probs"):
        ev = EnsembleEvaluator(num_leaves=3, rule=rule)
        ev.update(logits, labels)
        by_rule[rule] = ev.result()
        assert by_rule[rule]["ensemble_rule"] == rule
    logit_row, prob_row = by_rule["mean_logits"]["prefixes"][2], by_rule["mean_probs"]["prefixes"][2]
    assert logit_row["accuracy"] == 0.0 and logit_row["nll"] == pytest.approx(-math.log(q1))
    assert prob_row["accuracy"] == 1.0 and prob_row["nll"] == pytest.approx(-math.log(p1))
    # The mean-probability columns are the same under either rule, and equal the rule's own under mean_probs.
    for key in ("accuracy_mean_probs", "nll_mean_probs", "logit_std", "ambiguity", "disagreement"):
        assert logit_row[key] == pytest.approx(prob_row[key])
    assert prob_row["accuracy_mean_probs"] == prob_row["accuracy"] and prob_row["nll_mean_probs"] == pytest.approx(
        prob_row["nll"])
    with pytest.raises(ValueError, match="unknown ensemble rule"):
        EnsembleEvaluator(3, rule="vote")


def test_ensemblenet_family_scores_by_mean_of_probabilities():
    import hne_tf
    from hne_tf import presets

    assert presets.ENSEMBLE_RULES["ensemblenet"] == "mean_probs"
    assert {f: r for f, r in presets.ENSEMBLE_RULES.items() if f != "ensemblenet"} == dict.fromkeys(
        set(presets.ENSEMBLE_RULES) - {"ensemblenet"}, "mean_logits")
    model = hne_tf.build_model("ensemblenet_resnet_tiny", (28, 28, 1), 10)
    assert model.ensemble_rule == "mean_probs"
    with pytest.raises(ValueError, match="unknown ensemble rule 'median'"):
        presets.register_family("scratch_family", "a test family", ensemble_rule="median")
    assert "scratch_family" not in presets.FAMILIES
