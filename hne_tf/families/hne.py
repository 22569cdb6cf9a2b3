"""HNE: Hierarchical Neural Ensembles (Ruiz & Verbeek, AAAI 2021 and the earlier preprint).

Binary trees of ResNet blocks (AAAI Table 2) and of MobileNetV2 blocks (AAAI and preprint
Table 3); the HNE paper's two baselines on the ResNet blocks (Fig. 5: one 16-way split after
three shared blocks, and 16 separate networks); and a tree whose blocks all cost the same,
which checks the papers' cost arithmetic. Each builder's presets are a table below it.
"""

from __future__ import annotations

from hne_tf import layers as L
from hne_tf import presets
from hne_tf.families._common import ch, large_input
from hne_tf.presets import Architecture, OptionError, choice, integer, integers, or_none, positive
from hne_tf.tree import cumulative_groups

HNE = presets.register_family(
    "hne", "Hierarchical Neural Ensembles (Ruiz & Verbeek, AAAI 2021): a tree of shared blocks")


# --------------------------------------------------------------------------
# ResNet blocks (AAAI Table 2)
# --------------------------------------------------------------------------

def resnet_tree(input_shape, num_classes, branching, width, repeats, expansion) -> Architecture:
    """Table 2 of the AAAI paper.

    Block 4's "ResNet+Branching" row says stride 2 but keeps 8x8 resolution
    (input and output columns, and the 8x8 classifier input). We follow the
    resolutions: stride 1. Three stride-2 layers would leave 4x4 maps for a
    32x32 input, which no other row of the table mentions.
    """
    groups = cumulative_groups(branching)
    large = large_input(input_shape)
    c = [ch(v * width) for v in (16, 64, 64, 128, 256, 256)]
    # Stride of each block's first layer (block 4: see the docstring).
    first_stride = {1: 2 if large else 1, 2: 2, 3: 2, 4: 1}
    blocks = [L.GroupedBlock([
        L.TreeConvBN(c[0], 3, 2 if large else 1, groups[0], branch=branching[0], name="stem_conv3x3"),
        L.TreeConvBN(c[1], 1, 1, groups[0], name="stem_conv1x1"),
    ], name="block0")]
    for b in range(1, 5):
        layers = [L.TreeBottleneck(c[b + 1], first_stride[b], groups[b],
                                   branch=branching[b], projection=True, expansion=expansion,
                                   name="branching")]
        layers += [L.TreeBottleneck(c[b + 1], 1, groups[b], expansion=expansion, name=f"resnet{i}")
                   for i in range(repeats[b - 1])]
        blocks.append(L.GroupedBlock(layers, name=f"block{b}"))
    head = L.TreeHead(num_classes, groups[-1], name="head")
    return Architecture(HNE, branching, blocks, head)


RESNET_OPTIONS = {"branching": integers(1, length=5), "width": positive(), "repeats": integers(0, length=4),
                  "expansion": integer(1)}

RESNET_PRESETS = {
    "hne_resnet": {
        "description": "HNE, 16 ResNet-50-depth paths with depthwise 3x3 (AAAI Table 2).",
        "defaults": dict(branching=(1, 2, 2, 2, 2), width=1.0, repeats=(2, 3, 3, 4), expansion=4)},
    "hne_resnet_small": {
        "description": "HNE_small: Table 2 with every channel count halved.",
        "defaults": dict(branching=(1, 2, 2, 2, 2), width=0.5, repeats=(2, 3, 3, 4), expansion=4)},
    "hne_resnet_mini": {
        "description": "Table 2's 16-leaf tree at a quarter of the channels and one repeat per block: the "
                       "main job's default, a full Fashion-MNIST epoch in minutes on CPU.",
        "defaults": dict(branching=(1, 2, 2, 2, 2), width=0.25, repeats=(1, 1, 1, 1), expansion=4)},
    "multibranch_resnet": {
        "description": "Fig. 5 baseline: the first three blocks shared, then 16 branches (HNE_small widths).",
        "defaults": dict(branching=(1, 1, 1, 16, 1), width=0.5, repeats=(2, 3, 3, 4), expansion=4)},
    "independent_resnet": {
        "description": "Fig. 5 baseline: 16 separate networks (HNE_small widths).",
        "defaults": dict(branching=(16, 1, 1, 1, 1), width=0.5, repeats=(2, 3, 3, 4), expansion=4)},
    "hne_resnet_tiny": {
        "description": "A very small Table 2 tree for tests and quick runs.",
        "defaults": dict(branching=(1, 2, 2, 2, 2), width=1 / 16, repeats=(0, 0, 0, 1), expansion=4)},
    "multibranch_resnet_tiny": {
        "description": "The multi-branch baseline at test size: 4 branches.",
        "defaults": dict(branching=(1, 1, 1, 4, 1), width=1 / 16, repeats=(0, 0, 0, 1), expansion=4)},
    "independent_resnet_tiny": {
        "description": "The independent baseline at test size: 4 networks.",
        "defaults": dict(branching=(4, 1, 1, 1, 1), width=1 / 16, repeats=(0, 0, 0, 1), expansion=4)},
}
presets.register_presets(RESNET_PRESETS, resnet_tree, RESNET_OPTIONS)


# --------------------------------------------------------------------------
# MobileNetV2 blocks (AAAI Table 3 and preprint Table 3)
# --------------------------------------------------------------------------

# Per block: list of (filters, stride, repeats) stages; a block's first stage
# starts with the branching layer. Block 0 also has the stem (see below).
_MBNET_AAAI = dict(
    stem=(24, 24, "dw"),  # conv3x3 s2 -> 24, then DWConv3x3 24 -> 24
    blocks=[
        [(32, 2, 2)],
        [(48, 2, 3)],
        [(88, 2, 4)],
        # The table lists this layer as 28x28 -> 14x14 with stride 2, but
        # block 2 already ends at 14x14 and block 4 goes 14x14 -> 7x7. In
        # MobileNetV2 this is the 96-channel (x1.4 = 136) stage, which has
        # stride 1, so we use stride 1: 14x14 -> 14x14.
        [(136, 1, 3)],
        [(224, 2, 3)],
    ],
    last_conv=1344, hidden=1792, branching=(1, 2, 2, 2, 2))

_MBNET_PREPRINT = dict(
    stem=(16, 16, "conv1x1"),  # conv3x3 s2 -> 16, then Conv1x1 16 -> 16
    blocks=[
        [(24, 2, 2)],
        [(24, 2, 3)],
        [(48, 2, 4), (72, 1, 3)],
        [(120, 2, 3)],
    ],
    last_conv=720, hidden=1280, branching=(1, 2, 2, 2))


_MBNET_TABLES = {"aaai": _MBNET_AAAI, "preprint": _MBNET_PREPRINT}


def mobilenetv2_tree(input_shape, num_classes, variant, branching, width, expansion) -> Architecture:
    """MobileNetV2 HNE: AAAI Table 3 (``variant="aaai"``, 16 nets at x1.4, the table's channels) or the
    preprint's Table 3 (``variant="preprint"``, 8 nets at x0.75). Both replace the last convolution by a
    1x1 conv and a linear layer. ``branching=None`` takes the variant's tree."""
    t = _MBNET_TABLES[variant]
    blocks_count = len(t["blocks"])
    if branching is None:
        branching = t["branching"]
    elif len(branching) != blocks_count:
        raise OptionError("branching", f"a list of {blocks_count} integers >= 1 (variant {variant!r} has "
                          f"{blocks_count} blocks)", list(branching))
    groups = cumulative_groups(branching)
    w = lambda v: ch(v * width)  # noqa: E731
    c0, c1, kind = t["stem"]
    stem = [L.TreeConvBN(w(c0), 3, 2, groups[0], branch=branching[0], activation="relu6", name="stem_conv3x3")]
    if kind == "dw":
        stem.append(L.TreeConvBN(w(c1), 3, 1, groups[0], depthwise=True, activation="relu6", name="stem_dw3x3"))
    else:
        stem.append(L.TreeConvBN(w(c1), 1, 1, groups[0], activation="relu6", name="stem_conv1x1"))
    blocks = []
    for b, stages in enumerate(t["blocks"]):
        layers = list(stem) if b == 0 else []
        i = 0
        for s, (filters, stride, reps) in enumerate(stages):
            for r in range(reps):
                first = s == 0 and r == 0
                layers.append(L.TreeInvertedResidual(
                    w(filters), stride if r == 0 else 1, groups[b],
                    branch=branching[b] if first and b > 0 else 1,
                    expansion=expansion, name=("branching" if first and b > 0 else f"mbnet{i}")))
                i += 1
        if b == len(t["blocks"]) - 1:
            layers.append(L.TreeConvBN(w(t["last_conv"]), 1, 1, groups[b], activation="relu6",
                                       name="last_conv1x1"))
        blocks.append(L.GroupedBlock(layers, name=f"block{b}"))
    head = L.TreeHead(num_classes, groups[-1], hidden_units=w(t["hidden"]), hidden_activation="relu6",
                      name="head")
    return Architecture(HNE, branching, blocks, head)


MOBILENETV2_OPTIONS = {"variant": choice(*_MBNET_TABLES), "branching": or_none(integers(1), "the variant's tree"),
                       "width": positive(), "expansion": integer(1)}

MOBILENETV2_PRESETS = {
    "hne_mobilenetv2": {
        "description": "MobileNetV2 HNE, AAAI Table 3: 16 nets at width 1.4 (the table's channels).",
        "defaults": dict(variant="aaai", branching=None, width=1.0, expansion=6)},
    "hne_mobilenetv2_preprint": {
        "description": "MobileNetV2 HNE of the preprint (Table 3): 8 nets at width 0.75.",
        "defaults": dict(variant="preprint", branching=None, width=1.0, expansion=6)},
    "hne_mobilenetv2_tiny": {
        "description": "The preprint's tree at a quarter of its width and expansion 2, for tests.",
        "defaults": dict(variant="preprint", branching=None, width=0.25, expansion=2)},
}
presets.register_presets(MOBILENETV2_PRESETS, mobilenetv2_tree, MOBILENETV2_OPTIONS)


# --------------------------------------------------------------------------
# Uniform tree: every block costs the same (used to check the paper's
# cost arithmetic, and a handy toy).
# --------------------------------------------------------------------------

def uniform_tree(input_shape, num_classes, branching, channels) -> Architecture:
    """Each block is one 3x3 conv + BN + ReLU with ``channels`` per branch.

    With ``input_shape[-1] == channels`` every node costs the same, so the
    tree's MACs follow the paper's ``T_HNE = (2^{B+1} - 1) C`` exactly.
    """
    groups = cumulative_groups(branching)
    blocks = [L.GroupedBlock([L.TreeConvBN(channels, 3, 1, g, branch=r, name="conv")], name=f"block{b}")
              for b, (r, g) in enumerate(zip(branching, groups, strict=True))]
    return Architecture(HNE, branching, blocks, L.TreeHead(num_classes, groups[-1], name="head"))


UNIFORM_PRESETS = {
    "uniform_tree": {
        "description": "Equal-cost blocks (checks the papers' cost arithmetic): one 3x3 conv per node.",
        "defaults": dict(branching=(1, 2, 2, 2, 2), channels=8)},
}
presets.register_presets(UNIFORM_PRESETS, uniform_tree, {"branching": integers(1), "channels": integer(1)})
