"""EnsembleNet: a multi-headed CIFAR ResNet, a shared lower half and narrower heads."""

from __future__ import annotations

from hne_tf import layers as L
from hne_tf import presets
from hne_tf.families._common import CIFAR_DEPTH, basic_blocks, ch, cifar_plan, cifar_stem
from hne_tf.presets import Architecture, integer, positive

ENSEMBLENET = presets.register_family("ensemblenet", "EnsembleNet: a shared lower half and narrower heads",
                                      ensemble_rule="mean_probs")


def ensemblenet_resnet(input_shape, num_classes, depth, num_heads, shrink, width) -> Architecture:
    """EnsembleNet (multi-headed) CIFAR ResNet.

    The lower half of the basic blocks is shared; the upper half is
    replicated into ``num_heads`` heads whose channels are divided by
    ``shrink`` (the paper's ratio is about 1.5, and 2 heads).
    """
    plan = cifar_plan(depth, input_shape, width)
    half = len(plan) // 2
    g = num_heads
    shared, cin = basic_blocks(plan[:half], ch(16 * width), 1, 1, "shared")
    heads_plan = [(ch(f / shrink), s) for f, s in plan[half:]]
    heads, _ = basic_blocks(heads_plan, cin, g, g, "head")
    blocks = [L.GroupedBlock([cifar_stem(input_shape, width=width)] + shared, name="block0"),
              L.GroupedBlock(heads, name="block1")]
    return Architecture(ENSEMBLENET, (1, g), blocks, L.TreeHead(num_classes, g, name="head"))


# One head is the single network the paper compares against, trained with a loss that needs no
# ensemble (losses refuse a 1-leaf model where they distil from one).
OPTIONS = {"depth": CIFAR_DEPTH, "num_heads": integer(1), "shrink": positive(), "width": positive()}

PRESETS = {
    "ensemblenet_resnet": {
        "description": "EnsembleNet: ResNet-32, shared lower half, 2 heads narrowed 1.5x.",
        "defaults": dict(depth=32, num_heads=2, shrink=1.5, width=1.0)},
    "ensemblenet_resnet_tiny": {
        "description": "EnsembleNet at test size: ResNet-8 at half width, 2 heads.",
        "defaults": dict(depth=8, num_heads=2, shrink=1.5, width=0.5)},
}
presets.register_presets(PRESETS, ensemblenet_resnet, OPTIONS)
