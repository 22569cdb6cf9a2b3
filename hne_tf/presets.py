"""Architectures of the seed papers as tree blocks.

A preset function takes ``input_shape``, ``num_classes`` and its own options
and returns an :class:`Architecture`. :func:`hne_tf.build_model` wraps it in a
:class:`hne_tf.TreeEnsemble`. Everything a preset builds is described by its
name and options, which is also how models are serialized.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from hne_tf import layers as L


@dataclasses.dataclass
class Architecture:
    family: str                      # "hne", "one", "oemc" or "ensemblenet"
    branching: Tuple[int, ...]
    blocks: list                     # GroupedBlock / PerNodeBlock, one per tree block
    head: object                     # TreeHead (all leaves) or PerNodeBlock(stack_outputs=True)
    gate_block: Optional[int] = None  # ONE: the gate reads this block's output
    feature_blocks: Tuple[int, ...] = ()  # OEMC: blocks whose student features are distilled
    feature_channels: Tuple[int, ...] = ()  # OEMC: pseudo-teacher channels of those blocks


PRESETS: Dict[str, Callable[..., Architecture]] = {}
DEFAULTS: Dict[str, dict] = {}


def _preset(name, **defaults):
    def wrap(fn):
        PRESETS[name] = fn
        DEFAULTS[name] = defaults
        return fn
    return wrap


def list_models() -> List[str]:
    """Names accepted by :func:`hne_tf.build_model`."""
    return sorted(PRESETS)


def get_preset(name: str) -> Callable[..., Architecture]:
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    fn, defaults = PRESETS[name], DEFAULTS[name]

    def build(input_shape, num_classes, **options):
        return fn(tuple(int(d) for d in input_shape), int(num_classes), **{**defaults, **options})
    return build


def _ch(c: float) -> int:
    return max(1, int(round(c)))


def _large(input_shape) -> bool:
    # CIFAR-sized inputs keep full resolution in the stem, as in the papers;
    # larger inputs (ImageNet) are reduced 4x early, as ResNets do on ImageNet.
    return min(input_shape[0], input_shape[1]) > 64


def _check_branching(branching, num_blocks, name):
    branching = tuple(int(b) for b in branching)
    if len(branching) != num_blocks:
        raise ValueError(f"{name}: branching must have {num_blocks} entries, got {branching}")
    return branching


def _groups(branching):
    out, g = [], 1
    for r in branching:
        g *= r
        out.append(g)
    return out


# --------------------------------------------------------------------------
# HNE with ResNet blocks (AAAI Table 2)
# --------------------------------------------------------------------------

def _hne_resnet(input_shape, num_classes, branching, width, repeats, expansion):
    """Table 2 of the AAAI paper.

    Block 4's "ResNet+Branching" row says stride 2 but keeps 8x8 resolution
    (input and output columns, and the 8x8 classifier input). We follow the
    resolutions: stride 1. Three stride-2 layers would leave 4x4 maps for a
    32x32 input, which no other row of the table mentions.
    """
    branching = _check_branching(branching, 5, "hne_resnet")
    groups = _groups(branching)
    large = _large(input_shape)
    c = [_ch(v * width) for v in (16, 64, 64, 128, 256, 256)]
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
    return Architecture("hne", branching, blocks, head)


@_preset("hne_resnet", branching=(1, 2, 2, 2, 2), width=1.0, repeats=(2, 3, 3, 4), expansion=4)
def hne_resnet(input_shape, num_classes, **o):
    """HNE, 16 ResNet-50-depth paths with depthwise 3x3 (AAAI Table 2)."""
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("hne_resnet_small", branching=(1, 2, 2, 2, 2), width=0.5, repeats=(2, 3, 3, 4), expansion=4)
def hne_resnet_small(input_shape, num_classes, **o):
    """HNE_small: Table 2 with every channel count halved."""
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("hne_resnet_mini", branching=(1, 2, 2, 2, 2), width=0.25, repeats=(1, 1, 1, 1), expansion=4)
def hne_resnet_mini(input_shape, num_classes, **o):
    """Table 2's 16-leaf tree at a quarter of the channels and one repeat per
    block: the main job's default, a full Fashion-MNIST epoch in minutes on CPU."""
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("multibranch_resnet", branching=(1, 1, 1, 16, 1), width=0.5, repeats=(2, 3, 3, 4), expansion=4)
def multibranch_resnet(input_shape, num_classes, **o):
    """Fig. 5 baseline: the first three blocks shared, then 16 branches (HNE_small widths)."""
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("independent_resnet", branching=(16, 1, 1, 1, 1), width=0.5, repeats=(2, 3, 3, 4), expansion=4)
def independent_resnet(input_shape, num_classes, **o):
    """Fig. 5 baseline: 16 separate networks (HNE_small widths)."""
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("hne_resnet_tiny", branching=(1, 2, 2, 2, 2), width=1 / 16, repeats=(0, 0, 0, 1), expansion=4)
def hne_resnet_tiny(input_shape, num_classes, **o):
    """A very small Table 2 tree for tests and quick runs."""
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("multibranch_resnet_tiny", branching=(1, 1, 1, 4, 1), width=1 / 16, repeats=(0, 0, 0, 1),
         expansion=4)
def multibranch_resnet_tiny(input_shape, num_classes, **o):
    return _hne_resnet(input_shape, num_classes, **o)


@_preset("independent_resnet_tiny", branching=(4, 1, 1, 1, 1), width=1 / 16, repeats=(0, 0, 0, 1),
         expansion=4)
def independent_resnet_tiny(input_shape, num_classes, **o):
    return _hne_resnet(input_shape, num_classes, **o)


# --------------------------------------------------------------------------
# HNE with MobileNetV2 blocks (AAAI Table 3 and preprint Table 3)
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


def _hne_mobilenetv2(input_shape, num_classes, variant, branching, width, expansion):
    table = {"aaai": _MBNET_AAAI, "preprint": _MBNET_PREPRINT}
    if variant not in table:
        raise ValueError(f"hne_mobilenetv2: variant must be one of {sorted(table)}, got {variant!r}")
    t = table[variant]
    branching = _check_branching(branching or t["branching"], len(t["blocks"]), "hne_mobilenetv2")
    groups = _groups(branching)
    w = lambda v: _ch(v * width)  # noqa: E731
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
    return Architecture("hne", branching, blocks, head)


@_preset("hne_mobilenetv2", variant="aaai", branching=None, width=1.0, expansion=6)
def hne_mobilenetv2(input_shape, num_classes, **o):
    """MobileNetV2 HNE, AAAI Table 3: 16 nets at width 1.4 (the table's channels).

    ``variant="preprint"`` gives the preprint's Table 3: 8 nets at width 0.75.
    Both replace the last convolution by a 1x1 conv and a linear layer.
    """
    return _hne_mobilenetv2(input_shape, num_classes, **o)


@_preset("hne_mobilenetv2_preprint", variant="preprint", branching=None, width=1.0, expansion=6)
def hne_mobilenetv2_preprint(input_shape, num_classes, **o):
    """MobileNetV2 HNE of the preprint (Table 3): 8 nets at width 0.75."""
    return _hne_mobilenetv2(input_shape, num_classes, **o)


@_preset("hne_mobilenetv2_tiny", variant="preprint", branching=None, width=0.25, expansion=2)
def hne_mobilenetv2_tiny(input_shape, num_classes, **o):
    return _hne_mobilenetv2(input_shape, num_classes, **o)


# --------------------------------------------------------------------------
# CIFAR ResNet (depth 6n + 2) families: ONE, OEMC, EnsembleNet
# --------------------------------------------------------------------------

def _cifar_plan(depth, input_shape, width=1.0):
    """(filters, stride) of each basic block of a CIFAR ResNet of ``depth``."""
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 56, 110, ...), got {depth}")
    n = (depth - 2) // 6
    plan = []
    for stage in range(3):
        for i in range(n):
            stride = 2 if i == 0 and (stage > 0 or _large(input_shape)) else 1
            plan.append((_ch(16 * 2 ** stage * width), stride))
    return plan


def _stem(input_shape, groups=1, width=1.0):
    return L.TreeConvBN(_ch(16 * width), 3, 2 if _large(input_shape) else 1, groups, name="stem")


def _basic_blocks(plan, cin, groups, branch, prefix):
    layers = []
    for i, (filters, stride) in enumerate(plan):
        r = branch if i == 0 else 1
        layers.append(L.TreeBasicBlock(filters, stride, groups, branch=r,
                                       projection=(stride != 1 or cin != filters), name=f"{prefix}{i}"))
        cin = filters
    return layers, cin


@_preset("one_resnet", depth=32, num_branches=3, width=1.0)
def one_resnet(input_shape, num_classes, depth, num_branches, width):
    """ONE (Lan et al. 2018): CIFAR ResNet whose last stage is replicated.

    ``num_branches`` = m + 1 (the paper's default m = 2). A gate on the shared
    features (global pool -> dense -> BN -> ReLU -> softmax) weights the
    branches' logits into the teacher.
    """
    plan = _cifar_plan(depth, input_shape, width)
    n = len(plan) // 3
    g = int(num_branches)
    shared1, cin = _basic_blocks(plan[:n], _ch(16 * width), 1, 1, "stage1_")
    shared2, cin = _basic_blocks(plan[n:2 * n], cin, 1, 1, "stage2_")
    branch_layers, _ = _basic_blocks(plan[2 * n:], cin, g, g, "stage3_")
    blocks = [L.GroupedBlock([_stem(input_shape, width=width)] + shared1, name="block0"),
              L.GroupedBlock(shared2, name="block1"),
              L.GroupedBlock(branch_layers, name="block2")]
    return Architecture("one", (1, 1, g), blocks, L.TreeHead(num_classes, g, name="head"), gate_block=1)


@_preset("one_resnet_tiny", depth=8, num_branches=3, width=0.5)
def one_resnet_tiny(input_shape, num_classes, **o):
    return one_resnet(input_shape, num_classes, **o)


@_preset("ensemblenet_resnet", depth=32, num_heads=2, shrink=1.5, width=1.0)
def ensemblenet_resnet(input_shape, num_classes, depth, num_heads, shrink, width):
    """EnsembleNet (multi-headed) CIFAR ResNet.

    The lower half of the basic blocks is shared; the upper half is
    replicated into ``num_heads`` heads whose channels are divided by
    ``shrink`` (the paper's ratio is about 1.5, and 2 heads).
    """
    plan = _cifar_plan(depth, input_shape, width)
    half = len(plan) // 2
    g = int(num_heads)
    shared, cin = _basic_blocks(plan[:half], _ch(16 * width), 1, 1, "shared")
    heads_plan = [(_ch(f / shrink), s) for f, s in plan[half:]]
    heads, _ = _basic_blocks(heads_plan, cin, g, g, "head")
    blocks = [L.GroupedBlock([_stem(input_shape, width=width)] + shared, name="block0"),
              L.GroupedBlock(heads, name="block1")]
    return Architecture("ensemblenet", (1, g), blocks, L.TreeHead(num_classes, g, name="head"))


@_preset("ensemblenet_resnet_tiny", depth=8, num_heads=2, shrink=1.5, width=0.5)
def ensemblenet_resnet_tiny(input_shape, num_classes, **o):
    return ensemblenet_resnet(input_shape, num_classes, **o)


@_preset("oemc_resnet", depth=32, num_students=5, width=1.0)
def oemc_resnet(input_shape, num_classes, depth, num_students, width):
    """OEMC (Walawalkar et al. 2020): base block + students of decreasing width.

    The CIFAR ResNet's basic blocks are split into four blocks of about the
    same number of layers. Block 0 (with the stem) is shared; blocks 1-3 are
    replicated into ``num_students`` students, student ``i`` with
    ``(S - i) / S`` of the channels. Student 0 (full width) is the pseudo
    teacher. Features at the end of blocks 1-3 are distilled; the 1x1
    adaptation convolutions that map students to the pseudo teacher's width
    are layers of the model (see ``TreeEnsemble``).
    """
    s_count = int(num_students)
    if s_count < 2:
        raise ValueError("oemc_resnet needs num_students >= 2")
    plan = _cifar_plan(depth, input_shape, width)
    chunks = [list(c) for c in np.array_split(np.arange(len(plan)), 4)]
    base, cin = _basic_blocks([plan[i] for i in chunks[0]], _ch(16 * width), 1, 1, "base")
    blocks = [L.GroupedBlock([_stem(input_shape, width=width)] + base, name="block0")]
    widths_in = [cin]
    feature_channels = []
    for b in range(1, 4):
        nodes, widths_out = [], []
        for s in range(s_count):
            scale = (s_count - s) / s_count
            sub_plan = [(_ch(f * scale), st) for f, st in (plan[i] for i in chunks[b])]
            node_cin = widths_in[0] if b == 1 else widths_in[s]
            layers, cout = _basic_blocks(sub_plan, node_cin, 1, 1, f"student{s}_")
            nodes.append(layers)
            widths_out.append(cout)
        blocks.append(L.PerNodeBlock(nodes, branch=s_count if b == 1 else 1, input_widths=widths_in,
                                     name=f"block{b}"))
        feature_channels.append(widths_out[0])
        widths_in = widths_out
    head = L.PerNodeBlock([[L.TreeHead(num_classes, 1, name=f"student{s}_head")] for s in range(s_count)],
                          branch=1, input_widths=widths_in, stack_outputs=True, name="head")
    return Architecture("oemc", (1, s_count, 1, 1), blocks, head, feature_blocks=(1, 2, 3),
                        feature_channels=tuple(feature_channels))


@_preset("oemc_resnet_tiny", depth=8, num_students=3, width=0.5)
def oemc_resnet_tiny(input_shape, num_classes, **o):
    return oemc_resnet(input_shape, num_classes, **o)


# --------------------------------------------------------------------------
# Uniform tree: every block costs the same (used to check the paper's
# cost arithmetic, and a handy toy).
# --------------------------------------------------------------------------

@_preset("uniform_tree", branching=(1, 2, 2, 2, 2), channels=8)
def uniform_tree(input_shape, num_classes, branching, channels):
    """Each block is one 3x3 conv + BN + ReLU with ``channels`` per branch.

    With ``input_shape[-1] == channels`` every node costs the same, so the
    tree's MACs follow the paper's ``T_HNE = (2^{B+1} - 1) C`` exactly.
    """
    branching = tuple(int(b) for b in branching)
    groups = _groups(branching)
    blocks = [L.GroupedBlock([L.TreeConvBN(channels, 3, 1, g, branch=r, name="conv")], name=f"block{b}")
              for b, (r, g) in enumerate(zip(branching, groups))]
    return Architecture("hne", branching, blocks, L.TreeHead(num_classes, groups[-1], name="head"))
