"""The demos' shared inputs: sample PNGs and the decision fixture, checked against Keras and by hand."""

import json

import numpy as np
import pytest
import tensorflow as tf

from hne_tf.export import fixture as fx
from hne_tf.export.samples import SAMPLES_FILE, manifest_test_images, preprocess
from hne_tf.training import load_trained


def test_samples_are_the_raw_test_images(demo_assets):
    manifest = demo_assets["manifest"]
    with open(demo_assets["samples"] / SAMPLES_FILE) as f:
        meta = json.load(f)
    assert meta["dataset"] == "synthetic" and meta["shape"] == [28, 28, 1] and len(meta["samples"]) == 12
    raw, labels = manifest_test_images(manifest, 12)
    for s in meta["samples"]:
        png = tf.io.decode_png(tf.io.read_file(str(demo_assets["samples"] / s["file"]))).numpy()
        np.testing.assert_array_equal(png, raw[s["index"]])
        assert s["label"] == labels[s["index"]] and s["label_name"] == manifest["labels"][s["label"]]


def test_fixture_logits_match_keras(demo_assets, hne_run):
    fixture = demo_assets["fixture"]
    assert fixture["format"] == fx.FORMAT and fixture["version"] == fx.VERSION
    n, steps = fixture["num_images"], fixture["num_steps"]
    assert (n, steps, fixture["num_classes"]) == (24, 16, 10)
    raw, labels = manifest_test_images(demo_assets["manifest"], n)
    assert fixture["labels"] == labels.tolist()
    model = load_trained(str(hne_run))
    want = model.run_anytime(tf.constant(preprocess(demo_assets["manifest"], raw))).numpy()
    np.testing.assert_allclose(np.asarray(fixture["leaf_logits"]), want, atol=1e-4)


def test_fixture_cases_follow_the_rules(demo_assets):
    fixture = demo_assets["fixture"]
    logits = np.asarray(fixture["leaf_logits"])
    step_ms = np.asarray(fixture["step_ms"])
    n, steps = fixture["num_images"], fixture["num_steps"]
    mean = np.asarray(fixture["running_mean"])
    for k in range(1, steps + 1):  # the running mean by hand
        np.testing.assert_allclose(mean[:, k - 1], logits[:, :k].sum(axis=1) / k, rtol=1e-6, atol=1e-6)
    kinds = {c["rule"] for c in fixture["cases"]}
    assert kinds == {"leaves", "confidence", "deadline"} and len(fixture["cases"]) >= 7
    z = mean - mean.max(-1, keepdims=True)
    max_prob = (np.exp(z) / np.exp(z).sum(-1, keepdims=True)).max(-1)
    for case in fixture["cases"]:
        used = np.asarray(case["steps"])
        assert used.min() >= 1 and used.max() <= steps
        np.testing.assert_array_equal(case["prediction"], mean[np.arange(n), used - 1].argmax(-1))
        for i in range(n):
            k = used[i]
            if case["rule"] == "leaves":
                assert k == min(int(case["value"]), steps)
            elif case["rule"] == "confidence":  # stopped at the first confident step, or ran out
                assert np.all(max_prob[i, :k - 1] < case["value"])
                assert k == steps or max_prob[i, k - 1] >= case["value"]
            else:
                elapsed = step_ms[i, :k].sum()
                assert case["elapsed_ms"][i] == pytest.approx(elapsed)
                assert k == steps or elapsed + fixture["predicted_ms"][k] > case["value"]


def test_default_rules_avoid_ties():
    rules = fx.default_rules(16, [1.0] * 16)
    assert ("leaves", 1.0) in rules and ("leaves", 16.0) in rules and ("confidence", 0.9) in rules
    deadlines = [v for kind, v in rules if kind == "deadline"]
    assert deadlines == [1.5, 4.5, 15.5]  # half-way between cumulative costs 1|2, 4|5, 15|16
