"""cost_table's teacher row: every leaf plus the gate, the one figure eval.json and the export share."""

import numpy as np
import tensorflow as tf

import hne_tf
from hne_tf.training import report


def test_one_teacher_row_adds_the_gate_by_hand():
    model = hne_tf.build_model("one_resnet_tiny", (16, 16, 3), 5)
    table = hne_tf.cost_table(model)
    gate = model.extra("teacher")
    dense = [w for w in gate.weights if w.path.endswith("kernel")]
    assert len(dense) == 1
    channels, branches = dense[0].shape
    assert branches == model.num_leaves
    t = table["teacher"]
    assert t["gate_macs"] == channels * branches                      # one dense layer, no bias MACs
    assert t["macs"] == table["full_macs"] + channels * branches
    assert t["params"] == table["prefixes"][-1]["params"] + sum(int(np.prod(w.shape)) for w in gate.weights)


def test_models_without_a_teacher_have_no_row():
    assert "teacher" not in hne_tf.cost_table(hne_tf.build_model("hne_resnet_tiny", (16, 16, 3), 5))


def test_eval_reports_the_teacher_macs_of_the_cost_table():
    model = hne_tf.build_model("one_resnet_tiny", (16, 16, 3), 5)
    x = tf.random.stateless_normal((8, 16, 16, 3), seed=[1, 2])
    y = tf.constant([0, 1, 2, 3, 4, 0, 1, 2])
    result = report.evaluate(model, tf.data.Dataset.from_tensors((x, y)), verbose=0)
    table = hne_tf.cost_table(model)
    assert result["teacher"]["macs"] == table["teacher"]["macs"] > table["full_macs"]
