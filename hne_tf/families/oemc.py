"""OEMC: Online Ensemble Model Compression (Walawalkar et al., ECCV 2020).

A shared base block and students of decreasing width (one stack of layers per student, a
``PerNodeBlock``), and the 1x1 adaptation convolutions that map each student's features to
the pseudo teacher's width for feature distillation (:class:`FeatureAdapters`, the model's
``"feature_adapter"`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from hne_tf import layers as L
from hne_tf import presets
from hne_tf.families._common import CIFAR_DEPTH, basic_blocks, ch, cifar_plan, cifar_stem
from hne_tf.presets import FEATURE_ADAPTER, Architecture, Extra, OptionError, integer, or_none, positive

OEMC = presets.register_family("oemc", "Online Ensemble Model Compression (Walawalkar et al., ECCV 2020): "
                               "students of decreasing width")


class FeatureAdapters(Extra):
    """OEMC's 1x1 adaptation convolutions (Walawalkar et al., ECCV 2020, sec. 3.2).

    For each distilled block, student ``s > 0``'s feature map goes through
    its own 1x1 convolution to the pseudo teacher's (student 0's) width.
    Fills ``outputs["features"]``: one ``[batch, num_students, h, w, c]``
    tensor per block in ``blocks``; entry 0 is the pseudo teacher's map.
    """

    role = FEATURE_ADAPTER
    output = "features"

    def __init__(self, blocks: Sequence[int], channels: Sequence[int], num_students: int) -> None:
        self.adapters = [keras.layers.Conv2D(c, 1, name=f"adapt_block{b}_student{s}")
                         for b, c in zip(blocks, channels, strict=True) for s in range(1, num_students)]
        self.num_students = int(num_students)
        super().__init__(blocks, self.adapters)

    def __call__(self, nodes, training=None) -> list[tf.Tensor]:
        features = []
        for i, b in enumerate(self.reads):
            first = i * (self.num_students - 1)
            maps = nodes[b]
            adapted = [maps[0]] + [self.adapters[first + s - 1](maps[s]) for s in range(1, len(maps))]
            features.append(tf.stack(adapted, axis=1))
        return features


def oemc_resnet(input_shape, num_classes, depth, num_students, width, student=None) -> Architecture:
    """OEMC (Walawalkar et al. 2020): base block + students of decreasing width.

    The CIFAR ResNet's basic blocks are split into four blocks of about the
    same number of layers. Block 0 (with the stem) is shared; blocks 1-3 are
    replicated into ``num_students`` students, student ``i`` with
    ``(S - i) / S`` of the channels. Student 0 (full width) is the pseudo
    teacher. Features at the end of blocks 1-3 are distilled; the 1x1
    adaptation convolutions that map students to the pseudo teacher's width
    are the model's :class:`FeatureAdapters` extra. Every student can be
    deployed alone (``deployable_members``).

    ``student=s`` builds student ``s`` trained truly alone, the baseline of OEMC's Table 1: a network
    of one leaf with its own stem and base block (the shared one's widths), then student ``s``'s
    blocks 1-3 at ``(S - s) / S`` of the channels and its head; no adaptation convolutions.
    """
    s_count = num_students
    if student is not None and not 0 <= student < s_count:
        raise OptionError("student", f"an integer in 0..{s_count - 1} (num_students={s_count}) or None", student)
    plan = cifar_plan(depth, input_shape, width)
    chunks = [list(c) for c in np.array_split(np.arange(len(plan)), 4)]
    base, cin = basic_blocks([plan[i] for i in chunks[0]], ch(16 * width), 1, 1, "base")
    blocks = [L.GroupedBlock([cifar_stem(input_shape, width=width)] + base, name="block0")]
    def student_plan(b: int, s: int) -> list[tuple[int, int]]:  # block b of student s: (S - s) / S of the channels
        return [(ch(f * (s_count - s) / s_count), st) for f, st in (plan[i] for i in chunks[b])]

    if student is not None:
        for b in range(1, 4):
            layers, cin = basic_blocks(student_plan(b, student), cin, 1, 1, f"student{student}_")
            if layers:  # a shallow plan (ResNet-8) leaves a block empty
                blocks.append(L.GroupedBlock(layers, name=f"block{b}"))
        return Architecture(OEMC, (1,) * len(blocks), blocks, L.TreeHead(num_classes, 1, name="head"),
                            deployable_members=(0,))
    widths_in = [cin]
    feature_channels = []
    for b in range(1, 4):
        nodes, widths_out = [], []
        for s in range(s_count):
            node_cin = widths_in[0] if b == 1 else widths_in[s]
            layers, cout = basic_blocks(student_plan(b, s), node_cin, 1, 1, f"student{s}_")
            nodes.append(layers)
            widths_out.append(cout)
        blocks.append(L.PerNodeBlock(nodes, branch=s_count if b == 1 else 1, input_widths=widths_in,
                                     name=f"block{b}"))
        feature_channels.append(widths_out[0])
        widths_in = widths_out
    head = L.PerNodeBlock([[L.TreeHead(num_classes, 1, name=f"student{s}_head")] for s in range(s_count)],
                          branch=1, input_widths=widths_in, stack_outputs=True, name="head")
    adapters = FeatureAdapters((1, 2, 3), feature_channels, s_count)
    return Architecture(OEMC, (1, s_count, 1, 1), blocks, head, extras=(adapters,),
                        deployable_members=tuple(range(s_count)))


# The students need their pseudo teacher, a second member: at least 2.
OPTIONS = {"depth": CIFAR_DEPTH, "num_students": integer(2), "width": positive(),
           "student": or_none(integer(0), "the whole OEMC network")}

PRESETS = {
    "oemc_resnet": {
        "description": "OEMC: ResNet-32 base block + 5 students of width 5/5..1/5.",
        "defaults": dict(depth=32, num_students=5, width=1.0, student=None)},
    "oemc_resnet_tiny": {
        "description": "OEMC at test size: ResNet-8 at half width, 3 students.",
        "defaults": dict(depth=8, num_students=3, width=0.5, student=None)},
}
presets.register_presets(PRESETS, oemc_resnet, OPTIONS)
