"""ONE: On-the-Fly Native Ensemble (Lan et al., NeurIPS 2018).

A CIFAR ResNet whose last stage is replicated into branches, and a gate on the shared features
that weights the branches' logits into a teacher during training (:class:`GatedTeacher`, the
model's ``"teacher"`` extra).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from hne_tf import layers as L
from hne_tf import presets
from hne_tf.families._common import CIFAR_DEPTH, basic_blocks, ch, cifar_plan, cifar_stem
from hne_tf.presets import TEACHER, Architecture, Extra, integer, positive

ONE = presets.register_family(
    "one", "On-the-Fly Native Ensemble (Lan et al., NeurIPS 2018): branches and a gated teacher")


class GatedTeacher(Extra):
    """ONE's gate and gated teacher (Lan et al., NeurIPS 2018, sec. 3).

    The gate reads the shared features of block ``block`` (global average
    pool -> dense with one unit per branch -> BN -> ReLU -> softmax) and
    fills ``outputs["gate"]``: ``[batch, num_leaves]``. The teacher's logits
    are the gate-weighted sum of the branches' logits.
    """

    role = TEACHER
    output = "gate"

    def __init__(self, num_leaves: int, block: int) -> None:
        self.dense = keras.layers.Dense(num_leaves, name="gate_dense")
        self.bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name="gate_bn")
        super().__init__((block,), [self.dense, self.bn])

    def __call__(self, nodes, training=None) -> tf.Tensor:
        shared = tf.concat(nodes[self.reads[0]], axis=-1)
        pooled = tf.reduce_mean(shared, axis=[1, 2])
        z = tf.nn.relu(self.bn(self.dense(pooled), training=training))
        return tf.nn.softmax(tf.cast(z, tf.float32), axis=-1)

    def teacher_logits(self, outputs: dict) -> tf.Tensor:
        """``sum_i gate_i z_i``: ``[batch, num_classes]``, float32, from the full model's outputs."""
        gate = tf.cast(outputs["gate"], tf.float32)
        return tf.reduce_sum(gate[:, :, None] * tf.cast(outputs["logits"], tf.float32), axis=1)


def one_resnet(input_shape, num_classes, depth, num_branches, width) -> Architecture:
    """ONE (Lan et al. 2018): CIFAR ResNet whose last stage is replicated.

    ``num_branches`` = m + 1 (the paper's default m = 2). A gate on the shared
    features (global pool -> dense -> BN -> ReLU -> softmax) weights the
    branches' logits into the teacher: the :class:`GatedTeacher` extra.
    """
    plan = cifar_plan(depth, input_shape, width)
    n = len(plan) // 3
    g = num_branches
    shared1, cin = basic_blocks(plan[:n], ch(16 * width), 1, 1, "stage1_")
    shared2, cin = basic_blocks(plan[n:2 * n], cin, 1, 1, "stage2_")
    branch_layers, _ = basic_blocks(plan[2 * n:], cin, g, g, "stage3_")
    blocks = [L.GroupedBlock([cifar_stem(input_shape, width=width)] + shared1, name="block0"),
              L.GroupedBlock(shared2, name="block1"),
              L.GroupedBlock(branch_layers, name="block2")]
    return Architecture(ONE, (1, 1, g), blocks, L.TreeHead(num_classes, g, name="head"),
                        extras=(GatedTeacher(g, block=1),))


# One branch is the single network the paper compares against, trained with a loss that needs no
# ensemble (losses refuse a 1-leaf model where they distil from one).
OPTIONS = {"depth": CIFAR_DEPTH, "num_branches": integer(1), "width": positive()}

PRESETS = {
    "one_resnet": {
        "description": "ONE: CIFAR ResNet-32, last stage replicated into 3 branches, gate.",
        "defaults": dict(depth=32, num_branches=3, width=1.0)},
    "one_resnet_tiny": {
        "description": "ONE at test size: ResNet-8 at half width, 3 branches.",
        "defaults": dict(depth=8, num_branches=3, width=0.5)},
}
presets.register_presets(PRESETS, one_resnet, OPTIONS)
