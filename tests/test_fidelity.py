"""Paper fidelity (issue 11 section 1): OEMC's feature hint stays off the trunk, ONE-E is evaluated."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import hne_tf
from hne_tf import losses as losses_lib
from hne_tf import training
from hne_tf.cost import cost_table
from hne_tf.metrics import EnsembleEvaluator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C = 5


def _nonzero(g):
    return g is not None and bool(np.any(tf.convert_to_tensor(g).numpy()))


def _close(a, b):
    a = np.zeros(1) if a is None else tf.convert_to_tensor(a).numpy()
    b = np.zeros(1) if b is None else tf.convert_to_tensor(b).numpy()
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-7)


# ------------------------------------------------------------------- trunk
def test_trunk_is_the_shared_root_blocks():
    cases = {"oemc_resnet_tiny": [0], "hne_resnet_tiny": [0], "one_resnet_tiny": [0, 1],
             "independent_resnet_tiny": [], "ensemblenet_resnet_tiny": [0]}
    for name, want in cases.items():
        model = hne_tf.build_model(name, (16, 16, 3), C)
        # By hand from the branching factors: blocks with one node, before the first split.
        assert model.trunk_blocks() == want, (name, model.spec.branching)
        ids = {id(v) for v in model.trunk_variables()}
        assert ids == {id(v) for b in want for v in model.tree_blocks[b].trainable_variables}
        assert not ids & {id(v) for v in model.head.trainable_variables + model.extra_weights()}


def _oemc_roles(model):
    branch = lambda s: [v for block in model.tree_blocks[1:] for layer in block.node_layers(s)  # noqa: E731
                        for v in layer.trainable_variables]
    return {"base": model.tree_blocks[0].trainable_variables, "pseudo_teacher": branch(0),
            "students": [v for s in range(1, model.num_leaves) for v in branch(s)],
            "adapters": model.extra_weights("feature_adapter")}


@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_oemc_feature_hint_never_reaches_the_trunk(weight_decay):
    # OEMC section 3.3: L_intermediate updates only the compressed students' parameters. The trainer's
    # gradient must equal grad(total - hint) on the base block and grad(total) everywhere else, with
    # the loss value of the plain total.
    model = hne_tf.build_model("oemc_resnet_tiny", (16, 16, 3), C)
    fn = losses_lib.get_loss("oemc", "oemc", model.num_leaves)
    trainer = training.EnsembleTrainer(model, fn, weight_decay=weight_decay)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    trainer.optimizer.build(model.trainable_variables)
    trainer.epoch.assign(3.0)
    x = tf.constant(np.random.default_rng(10).normal(size=(4, 16, 16, 3)).astype("float32"))
    y = tf.constant([1, 4, 0, 2])
    variables = model.trainable_variables
    roles = _oemc_roles(model)
    assert {id(v) for v in model.trunk_variables()} == {id(v) for v in roles["base"]}

    # Reference: the old objective, split by hand into the weighted hint and the rest.
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        res = fn(y, out)
        hint = 0.15 * tf.reduce_mean(res["feature_mse"])
        old_total = tf.reduce_mean(res["loss"])
        if weight_decay:
            old_total += 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
        rest = old_total - hint
    g_hint = dict(zip(map(id, variables), tape.gradient(hint, variables), strict=True))
    g_rest = dict(zip(map(id, variables), tape.gradient(rest, variables), strict=True))
    g_old = dict(zip(map(id, variables), tape.gradient(old_total, variables), strict=True))
    del tape
    # The test can fail: the hint does reach the base block through the students' branches.
    assert all(_nonzero(g_hint[id(v)]) for v in roles["base"] if "gamma" not in v.path and "kernel" in v.path)
    for role in ("students", "adapters"):
        assert all(_nonzero(g_hint[id(v)]) for v in roles[role]), role
    assert not any(_nonzero(g_hint[id(v)]) for v in roles["pseudo_teacher"])

    grads, got_vars, _, terms, l2 = trainer.compute_gradients(x, y)
    assert [id(v) for v in got_vars] == [id(v) for v in variables]
    assert losses_lib.NO_TRUNK_GRAD not in terms
    total = tf.reduce_mean(terms["loss"]) + (l2 if l2 is not None else 0.0)
    np.testing.assert_allclose(float(total), float(old_total), rtol=1e-6)
    trunk = {id(v) for v in roles["base"]}
    for v, g in zip(variables, grads, strict=True):
        if id(v) in trunk:
            _close(g, g_rest[id(v)])                     # CE and KD (and L2) still train the base block
            assert _nonzero(g), v.path
        else:
            _close(g, g_old[id(v)])                      # everything else learns from the whole loss


def test_oemc_train_step_logs_no_split_part_and_a_plain_loss_keeps_its_gradient():
    model = hne_tf.build_model("oemc_resnet_tiny", (16, 16, 3), C)
    fn = losses_lib.get_loss("oemc", "oemc", model.num_leaves)
    assert losses_lib.NO_TRUNK_GRAD not in fn(tf.constant([0]), model(tf.zeros((1, 16, 16, 3))))
    trainer = training.EnsembleTrainer(model, fn)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=False)
    ds = tf.data.Dataset.from_tensors((tf.zeros((2, 16, 16, 3)), tf.constant([0, 1])))
    logs = trainer.fit(ds, epochs=1, verbose=0, shuffle=False).history  # compiled (graph) train step
    assert losses_lib.NO_TRUNK_GRAD not in logs and "feature_mse" in logs and np.isfinite(logs["loss"][0])
    # A loss without a split part: the trainer's gradient is the plain one, trunk included.
    hne = hne_tf.build_model("hne_resnet_tiny", (16, 16, 3), C)
    fn = losses_lib.get_loss("codistillation", "hne", hne.num_leaves)
    trainer = training.EnsembleTrainer(hne, fn)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    x, y = tf.ones((2, 16, 16, 3)), tf.constant([0, 3])
    with tf.GradientTape() as tape:
        want = tape.gradient(tf.reduce_mean(fn(y, hne(x, training=True))["loss"]), hne.trunk_variables())
    grads, variables, *_ = trainer.compute_gradients(x, y)
    trunk = {id(v) for v in hne.trunk_variables()}
    got = [g for v, g in zip(variables, grads, strict=True) if id(v) in trunk]
    for a, b in zip(got, want, strict=True):
        _close(a, b)


@pytest.mark.slow
def test_oemc_two_replicas_match_one():
    script = os.path.join(ROOT, "tests", "scripts", "mirrored_step.py")
    r = subprocess.run([sys.executable, script, "oemc_resnet_tiny", "oemc", "{}"], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads([line for line in r.stdout.splitlines() if line.startswith("{")][-1])
    assert out["loss"][1] == pytest.approx(out["loss"][0], rel=1e-5)
    assert out["max_update"] > 1e-3 and out["max_weight_diff"] < 1e-5


# ------------------------------------------------------------------- ONE-E
def _np_scores(logits, labels, bins=15):
    """Accuracy, NLL and 15-bin ECE of one predictor, in numpy."""
    z = logits - logits.max(-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    conf, pred = p.max(-1), p.argmax(-1)
    hit = (pred == labels).astype(float)
    ece = 0.0
    for i in range(bins):
        m = (conf >= i / bins) & (conf < (i + 1) / bins) if i < bins - 1 else conf >= i / bins
        ece += abs(hit[m].sum() - conf[m].sum())
    return {"accuracy": hit.mean(), "nll": -np.log(p[np.arange(len(labels)), labels]).mean(),
            "ece": ece / len(labels)}


def test_one_e_gated_teacher_is_evaluated():
    # ONE Table 5's ONE-E is the gated teacher sum_n gate_n z_n; eval.json gets a "teacher" entry.
    keras.utils.set_random_seed(3)
    model = hne_tf.build_model("one_resnet_tiny", (16, 16, 3), C)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 16, 16, 3)).astype("float32")
    y = rng.integers(0, C, size=10)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)  # 3 batches, the last one partial
    result = training.evaluate(model, ds, verbose=0)
    out = model(x, training=False)
    gate, z = out["gate"].numpy().astype(np.float64), out["logits"].numpy().astype(np.float64)
    np.testing.assert_allclose(gate.sum(-1), 1.0, rtol=1e-5)
    teacher = np.einsum("bn,bnc->bc", gate, z)
    want = _np_scores(teacher, y)
    got = result["teacher"]
    assert got["accuracy"] == pytest.approx(want["accuracy"])
    assert got["nll"] == pytest.approx(want["nll"], rel=1e-4)
    assert got["ece"] == pytest.approx(want["ece"], abs=1e-4)
    table = cost_table(model)
    # Every leaf plus the gate (the figure the export's teacher file carries).
    assert got["macs"] == table["teacher"]["macs"] == result["prefixes"][-1]["macs"] + table["teacher"]["gate_macs"]
    assert table["teacher"]["gate_macs"] > 0
    # The gated teacher differs from the plain mean of the branches (the k = N row).
    assert got["nll"] != pytest.approx(result["prefixes"][-1]["nll"], rel=1e-3)
    table = training.format_eval(result)
    assert f"{100 * want['accuracy']:.2f}" in table.splitlines()[-2] and "gated teacher" in table
    json.dumps(result)  # eval.json stays writable
    hne = hne_tf.build_model("hne_resnet_tiny", (16, 16, 3), C)
    plain = training.evaluate(hne, ds, verbose=0)
    assert "teacher" not in plain and "gated teacher" not in training.format_eval(plain)


def test_evaluator_teacher_by_hand():
    ev = EnsembleEvaluator(num_leaves=1, num_bins=2)
    ev.update(np.zeros((2, 1, 2)), np.array([0, 1]), teacher_logits=np.array([[2.0, 0.0], [2.0, 0.0]]))
    t = ev.result(teacher_macs=7)["teacher"]
    p = np.exp(2) / (np.exp(2) + 1)
    assert t["accuracy"] == 0.5 and t["macs"] == 7
    assert t["nll"] == pytest.approx(-(np.log(p) + np.log(1 - p)) / 2)
    assert t["ece"] == pytest.approx(abs(1 - 2 * p) / 2)
    with pytest.raises(ValueError, match="every batch or for none"):
        ev.update(np.zeros((1, 1, 2)), np.array([0]))
    with pytest.raises(ValueError, match="teacher logits of shape"):
        ev.update(np.zeros((1, 1, 2)), np.array([0]), teacher_logits=np.zeros((1, 3)))
