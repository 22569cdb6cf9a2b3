"""Architectures of the seed papers as tree blocks.

A preset function takes ``input_shape``, ``num_classes`` and its own options
and returns an :class:`Architecture`. :func:`hne_tf.build_model` wraps it in a
:class:`hne_tf.TreeEnsemble`. Everything a preset builds is described by its
name and options, which is also how models are serialized.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from hne_tf import layers as L
from hne_tf import plugins
from hne_tf.tree import cumulative_groups

# --------------------------------------------------------------------------
# Extras: training-only parts a family adds to the tree
# --------------------------------------------------------------------------

TEACHER = "teacher"
FEATURE_ADAPTER = "feature_adapter"


class Extra:
    """A training-only part of a model family, asked for by its role.

    It reads the per-node outputs of some tree blocks (``reads``) during the
    full model's forward pass and fills one entry of the output dict
    (``output``). Its layers are the model's layers: the model tracks them,
    so they are trained, checkpointed and saved with it, and their variable
    paths sit directly under the model's name. No prefix, anytime step or
    member uses them, and the cost table does not count them.

    Generic code asks ``model.extra(role)`` instead of testing the family.

    Attributes:
      role: what the part is for (:data:`TEACHER`, :data:`FEATURE_ADAPTER`).
      output: the key it fills in the model's output dict.
      reads: the blocks whose node outputs it reads.
      layers: its Keras layers.
    """

    role: str = ""
    output: str = ""

    def __init__(self, reads: Sequence[int], layers: Sequence[keras.layers.Layer]) -> None:
        self.reads = tuple(int(b) for b in reads)
        self.layers = list(layers)

    def __call__(self, nodes: dict[int, list[tf.Tensor]], training=None) -> tf.Tensor | list[tf.Tensor]:
        """``nodes[b]``: block ``b``'s node outputs, one tensor per node, for ``b`` in ``reads``."""
        raise NotImplementedError

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.trainable_weights]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(role={self.role!r}, output={self.output!r}, reads={self.reads})"


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


# --------------------------------------------------------------------------
# Model families: a label on every Architecture that the losses check
# (``losses.register(families=...)``) and the manifest records
# --------------------------------------------------------------------------

FAMILIES: dict[str, str] = {}  # name -> one line: the paper and what its models add
ENSEMBLE_RULES: dict[str, str] = {}  # name -> how its leaves combine (hne_tf.ensemble.RULES)


def register_family(name: str, summary: str, ensemble_rule: str = "mean_logits") -> str:
    """Registers the model family ``name`` (see :data:`FAMILIES`) and returns the name.

    A family in a file of its own (:mod:`hne_tf.families`) calls this next to
    its presets; an Architecture of an unregistered family is refused.
    ``ensemble_rule``: how the family's leaves combine into the ensemble of
    the first ``k`` (:data:`hne_tf.ensemble.RULES`): ``"mean_logits"`` (HNE
    eq. 1) or ``"mean_probs"`` (EnsembleNet eq. 2). The evaluator, eval.json,
    the export's accuracies and manifest, and the anytime runner follow it
    (``model.ensemble_rule``).
    """
    from hne_tf.ensemble import check_rule

    if name in FAMILIES:
        raise ValueError(f"model family {name!r} is registered twice")
    ENSEMBLE_RULES[name] = check_rule(ensemble_rule)
    FAMILIES[name] = summary
    return name


HNE = register_family("hne", "Hierarchical Neural Ensembles (Ruiz & Verbeek, AAAI 2021): a tree of shared blocks")
ONE = register_family("one", "On-the-Fly Native Ensemble (Lan et al., NeurIPS 2018): branches and a gated teacher")
OEMC = register_family("oemc", "Online Ensemble Model Compression (Walawalkar et al., ECCV 2020): students of "
                       "decreasing width")
ENSEMBLENET = register_family("ensemblenet", "EnsembleNet: a shared lower half and narrower heads",
                              ensemble_rule="mean_probs")


@dataclasses.dataclass
class Architecture:
    """What a preset builds.

    Attributes:
      family: a registered model family (:data:`FAMILIES`); a label for
        losses and the manifest, never a switch in the model code.
      branching: branching factor per block.
      blocks: ``GroupedBlock`` / ``PerNodeBlock``, one per tree block.
      head: per-leaf classifiers after the last block: a ``TreeHead`` or a
        ``PerNodeBlock`` of single-leaf ``TreeHead`` stacks. Either has
        ``call(x, group_range)``, ``leaf_logits(x, leaf)`` and ``node_costs``.
      extras: the family's training-only parts (:class:`Extra`), at most one
        per role.
      deployable_members: leaves that make sense deployed alone (OEMC: every
        student); the export's default ``--members``.
    """

    family: str
    branching: tuple[int, ...]
    blocks: list
    head: object
    extras: tuple[Extra, ...] = ()
    deployable_members: tuple[int, ...] = ()


# --------------------------------------------------------------------------
# Options: every preset declares the type and range of each option
# --------------------------------------------------------------------------

class OptionError(ValueError):
    """An option outside its allowed values; :func:`get_preset` adds the preset's name."""

    def __init__(self, option: str, allowed: str, value) -> None:
        super().__init__(f"option {option!r} must be {allowed}, got {value!r}")
        self.option, self.allowed, self.value = option, allowed, value


@dataclasses.dataclass(frozen=True)
class Check:
    """An option's allowed values: ``allowed`` says them in words, ``accepts`` tests one."""

    allowed: str
    accepts: Callable[[object], bool]
    convert: Callable[[object], object] = lambda v: v


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def integer(low: int) -> Check:
    return Check(f"an integer >= {low}", lambda v: _is_int(v) and v >= low, int)


def positive() -> Check:
    return Check("a number > 0",
                 lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
                 float)


def integers(low: int, length: int | None = None) -> Check:
    """A list of integers ``>= low``: exactly ``length`` of them, or at least one."""
    count = f"{length}" if length else "one or more"
    return Check(f"a list of {count} integers >= {low}",
                 lambda v: (isinstance(v, (list, tuple)) and len(v) == (length or len(v)) > 0
                            and all(_is_int(i) and i >= low for i in v)),
                 lambda v: tuple(int(i) for i in v))


def choice(*choices) -> Check:
    return Check("one of " + ", ".join(repr(c) for c in choices), lambda v: isinstance(v, str) and v in choices)


def or_none(check: Check, meaning: str) -> Check:
    return Check(f"{check.allowed}, or null ({meaning})", lambda v: v is None or check.accepts(v),
                 lambda v: None if v is None else check.convert(v))


CIFAR_DEPTH = Check("an integer 6n + 2 >= 8 (8, 20, 32, 56, 110, ...)",
                    lambda v: _is_int(v) and v >= 8 and (v - 2) % 6 == 0, int)


Builder = Callable[..., Architecture]  # (input_shape, num_classes, **options) -> Architecture


@dataclasses.dataclass(frozen=True)
class Preset:
    """A registered preset: its builder, its options' checks and its defaults."""

    name: str
    builder: Builder
    checks: dict[str, Check]
    defaults: dict

    def options(self, given: dict) -> dict:
        """``given`` merged over the defaults, each checked; raises ``ValueError`` naming the preset."""
        if not isinstance(given, dict):
            raise ValueError(f"{self.name}: options must be a mapping of option names to values, got {given!r}")
        unknown = sorted(set(given) - set(self.checks))
        if unknown:
            raise ValueError(f"{self.name}: unknown option {unknown[0]!r}; valid options: "
                             f"{', '.join(sorted(self.checks))}")
        merged = {**self.defaults, **given}
        for key, value in merged.items():
            check = self.checks[key]
            if not check.accepts(value):
                raise ValueError(f"{self.name}: {OptionError(key, check.allowed, value)}")
            merged[key] = check.convert(value)
        return merged

    def __call__(self, input_shape, num_classes, **options) -> Architecture:
        merged = self.options(options)
        try:
            arch = self.builder(tuple(int(d) for d in input_shape), int(num_classes), **merged)
        except OptionError as e:  # a check that needs several options (e.g. branching per variant)
            raise ValueError(f"{self.name}: {e}") from None
        if arch.family not in FAMILIES:
            raise ValueError(f"{self.name}: model family {arch.family!r} is not registered "
                             f"(presets.register_family); registered: {', '.join(FAMILIES)}")
        return arch


PRESETS: dict[str, Preset] = {}


def register_preset(name: str, checks: dict[str, Check], **defaults) -> Callable[[Builder], Builder]:
    """Decorator: registers a builder as the preset ``name`` with its options' checks and defaults."""
    if set(defaults) != set(checks):
        raise AssertionError(f"{name}: defaults {sorted(defaults)} do not match the options {sorted(checks)}")

    def wrap(fn: Builder) -> Builder:
        PRESETS[name] = Preset(name, fn, dict(checks), defaults)
        PRESETS[name].options({})  # the defaults must pass their own checks
        return fn
    return wrap


def list_models() -> list[str]:
    """Names accepted by :func:`hne_tf.build_model`."""
    return sorted(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset ``name``: call it as ``preset(input_shape, num_classes, **options)``."""
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return PRESETS[name]


def _ch(c: float) -> int:
    return max(1, int(round(c)))


def _large(input_shape) -> bool:
    # CIFAR-sized inputs keep full resolution in the stem, as in the papers;
    # larger inputs (ImageNet) are reduced 4x early, as ResNets do on ImageNet.
    return min(input_shape[0], input_shape[1]) > 64


# --------------------------------------------------------------------------
# HNE with ResNet blocks (AAAI Table 2)
# --------------------------------------------------------------------------

def _hne_resnet(input_shape, num_classes, branching, width, repeats, expansion) -> Architecture:
    """Table 2 of the AAAI paper.

    Block 4's "ResNet+Branching" row says stride 2 but keeps 8x8 resolution
    (input and output columns, and the 8x8 classifier input). We follow the
    resolutions: stride 1. Three stride-2 layers would leave 4x4 maps for a
    32x32 input, which no other row of the table mentions.
    """
    groups = cumulative_groups(branching)
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
    return Architecture(HNE, branching, blocks, head)


_HNE_RESNET = {"branching": integers(1, length=5), "width": positive(), "repeats": integers(0, length=4),
               "expansion": integer(1)}


@register_preset("hne_resnet", _HNE_RESNET, branching=(1, 2, 2, 2, 2), width=1.0, repeats=(2, 3, 3, 4), expansion=4)
def hne_resnet(input_shape, num_classes, **o) -> Architecture:
    """HNE, 16 ResNet-50-depth paths with depthwise 3x3 (AAAI Table 2)."""
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("hne_resnet_small", _HNE_RESNET,
                 branching=(1, 2, 2, 2, 2), width=0.5, repeats=(2, 3, 3, 4), expansion=4)
def hne_resnet_small(input_shape, num_classes, **o) -> Architecture:
    """HNE_small: Table 2 with every channel count halved."""
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("hne_resnet_mini", _HNE_RESNET,
                 branching=(1, 2, 2, 2, 2), width=0.25, repeats=(1, 1, 1, 1), expansion=4)
def hne_resnet_mini(input_shape, num_classes, **o) -> Architecture:
    """Table 2's 16-leaf tree at a quarter of the channels and one repeat per
    block: the main job's default, a full Fashion-MNIST epoch in minutes on CPU."""
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("multibranch_resnet", _HNE_RESNET,
                 branching=(1, 1, 1, 16, 1), width=0.5, repeats=(2, 3, 3, 4), expansion=4)
def multibranch_resnet(input_shape, num_classes, **o) -> Architecture:
    """Fig. 5 baseline: the first three blocks shared, then 16 branches (HNE_small widths)."""
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("independent_resnet", _HNE_RESNET,
                 branching=(16, 1, 1, 1, 1), width=0.5, repeats=(2, 3, 3, 4), expansion=4)
def independent_resnet(input_shape, num_classes, **o) -> Architecture:
    """Fig. 5 baseline: 16 separate networks (HNE_small widths)."""
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("hne_resnet_tiny", _HNE_RESNET,
                 branching=(1, 2, 2, 2, 2), width=1 / 16, repeats=(0, 0, 0, 1), expansion=4)
def hne_resnet_tiny(input_shape, num_classes, **o) -> Architecture:
    """A very small Table 2 tree for tests and quick runs."""
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("multibranch_resnet_tiny", _HNE_RESNET, branching=(1, 1, 1, 4, 1), width=1 / 16, repeats=(0, 0, 0, 1),
         expansion=4)
def multibranch_resnet_tiny(input_shape, num_classes, **o) -> Architecture:
    return _hne_resnet(input_shape, num_classes, **o)


@register_preset("independent_resnet_tiny", _HNE_RESNET, branching=(4, 1, 1, 1, 1), width=1 / 16, repeats=(0, 0, 0, 1),
         expansion=4)
def independent_resnet_tiny(input_shape, num_classes, **o) -> Architecture:
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


_MBNET_TABLES = {"aaai": _MBNET_AAAI, "preprint": _MBNET_PREPRINT}
_HNE_MBNET = {"variant": choice(*_MBNET_TABLES), "branching": or_none(integers(1), "the variant's tree"),
              "width": positive(), "expansion": integer(1)}


def _hne_mobilenetv2(input_shape, num_classes, variant, branching, width, expansion) -> Architecture:
    t = _MBNET_TABLES[variant]
    blocks_count = len(t["blocks"])
    if branching is None:
        branching = t["branching"]
    elif len(branching) != blocks_count:
        raise OptionError("branching", f"a list of {blocks_count} integers >= 1 (variant {variant!r} has "
                          f"{blocks_count} blocks)", list(branching))
    groups = cumulative_groups(branching)
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
    return Architecture(HNE, branching, blocks, head)


@register_preset("hne_mobilenetv2", _HNE_MBNET, variant="aaai", branching=None, width=1.0, expansion=6)
def hne_mobilenetv2(input_shape, num_classes, **o) -> Architecture:
    """MobileNetV2 HNE, AAAI Table 3: 16 nets at width 1.4 (the table's channels).

    ``variant="preprint"`` gives the preprint's Table 3: 8 nets at width 0.75.
    Both replace the last convolution by a 1x1 conv and a linear layer.
    """
    return _hne_mobilenetv2(input_shape, num_classes, **o)


@register_preset("hne_mobilenetv2_preprint", _HNE_MBNET, variant="preprint", branching=None, width=1.0, expansion=6)
def hne_mobilenetv2_preprint(input_shape, num_classes, **o) -> Architecture:
    """MobileNetV2 HNE of the preprint (Table 3): 8 nets at width 0.75."""
    return _hne_mobilenetv2(input_shape, num_classes, **o)


@register_preset("hne_mobilenetv2_tiny", _HNE_MBNET, variant="preprint", branching=None, width=0.25, expansion=2)
def hne_mobilenetv2_tiny(input_shape, num_classes, **o) -> Architecture:
    return _hne_mobilenetv2(input_shape, num_classes, **o)


# --------------------------------------------------------------------------
# CIFAR ResNet (depth 6n + 2) families: ONE, OEMC, EnsembleNet
# --------------------------------------------------------------------------

def _cifar_plan(depth, input_shape, width=1.0) -> list[tuple[int, int]]:
    """(filters, stride) of each basic block of a CIFAR ResNet of ``depth`` (checked by CIFAR_DEPTH)."""
    n = (depth - 2) // 6
    plan = []
    for stage in range(3):
        for i in range(n):
            stride = 2 if i == 0 and (stage > 0 or _large(input_shape)) else 1
            plan.append((_ch(16 * 2 ** stage * width), stride))
    return plan


# One branch (head) is the single network the ONE and EnsembleNet papers compare against, trained with a
# loss that needs no ensemble (losses refuse a 1-leaf model where they distil from one). OEMC's students
# need their pseudo teacher, a second member.
_ONE = {"depth": CIFAR_DEPTH, "num_branches": integer(1), "width": positive()}
_ENSEMBLENET = {"depth": CIFAR_DEPTH, "num_heads": integer(1), "shrink": positive(), "width": positive()}
_OEMC = {"depth": CIFAR_DEPTH, "num_students": integer(2), "width": positive()}


def _stem(input_shape, groups=1, width=1.0) -> L.TreeConvBN:
    return L.TreeConvBN(_ch(16 * width), 3, 2 if _large(input_shape) else 1, groups, name="stem")


def _basic_blocks(plan, cin, groups, branch, prefix) -> tuple[list[L.TreeBasicBlock], int]:
    layers = []
    for i, (filters, stride) in enumerate(plan):
        r = branch if i == 0 else 1
        layers.append(L.TreeBasicBlock(filters, stride, groups, branch=r,
                                       projection=(stride != 1 or cin != filters), name=f"{prefix}{i}"))
        cin = filters
    return layers, cin


@register_preset("one_resnet", _ONE, depth=32, num_branches=3, width=1.0)
def one_resnet(input_shape, num_classes, depth, num_branches, width) -> Architecture:
    """ONE (Lan et al. 2018): CIFAR ResNet whose last stage is replicated.

    ``num_branches`` = m + 1 (the paper's default m = 2). A gate on the shared
    features (global pool -> dense -> BN -> ReLU -> softmax) weights the
    branches' logits into the teacher: the :class:`GatedTeacher` extra.
    """
    plan = _cifar_plan(depth, input_shape, width)
    n = len(plan) // 3
    g = num_branches
    shared1, cin = _basic_blocks(plan[:n], _ch(16 * width), 1, 1, "stage1_")
    shared2, cin = _basic_blocks(plan[n:2 * n], cin, 1, 1, "stage2_")
    branch_layers, _ = _basic_blocks(plan[2 * n:], cin, g, g, "stage3_")
    blocks = [L.GroupedBlock([_stem(input_shape, width=width)] + shared1, name="block0"),
              L.GroupedBlock(shared2, name="block1"),
              L.GroupedBlock(branch_layers, name="block2")]
    return Architecture(ONE, (1, 1, g), blocks, L.TreeHead(num_classes, g, name="head"),
                        extras=(GatedTeacher(g, block=1),))


@register_preset("one_resnet_tiny", _ONE, depth=8, num_branches=3, width=0.5)
def one_resnet_tiny(input_shape, num_classes, **o) -> Architecture:
    return one_resnet(input_shape, num_classes, **o)


@register_preset("ensemblenet_resnet", _ENSEMBLENET, depth=32, num_heads=2, shrink=1.5, width=1.0)
def ensemblenet_resnet(input_shape, num_classes, depth, num_heads, shrink, width) -> Architecture:
    """EnsembleNet (multi-headed) CIFAR ResNet.

    The lower half of the basic blocks is shared; the upper half is
    replicated into ``num_heads`` heads whose channels are divided by
    ``shrink`` (the paper's ratio is about 1.5, and 2 heads).
    """
    plan = _cifar_plan(depth, input_shape, width)
    half = len(plan) // 2
    g = num_heads
    shared, cin = _basic_blocks(plan[:half], _ch(16 * width), 1, 1, "shared")
    heads_plan = [(_ch(f / shrink), s) for f, s in plan[half:]]
    heads, _ = _basic_blocks(heads_plan, cin, g, g, "head")
    blocks = [L.GroupedBlock([_stem(input_shape, width=width)] + shared, name="block0"),
              L.GroupedBlock(heads, name="block1")]
    return Architecture(ENSEMBLENET, (1, g), blocks, L.TreeHead(num_classes, g, name="head"))


@register_preset("ensemblenet_resnet_tiny", _ENSEMBLENET, depth=8, num_heads=2, shrink=1.5, width=0.5)
def ensemblenet_resnet_tiny(input_shape, num_classes, **o) -> Architecture:
    return ensemblenet_resnet(input_shape, num_classes, **o)


@register_preset("oemc_resnet", _OEMC, depth=32, num_students=5, width=1.0)
def oemc_resnet(input_shape, num_classes, depth, num_students, width) -> Architecture:
    """OEMC (Walawalkar et al. 2020): base block + students of decreasing width.

    The CIFAR ResNet's basic blocks are split into four blocks of about the
    same number of layers. Block 0 (with the stem) is shared; blocks 1-3 are
    replicated into ``num_students`` students, student ``i`` with
    ``(S - i) / S`` of the channels. Student 0 (full width) is the pseudo
    teacher. Features at the end of blocks 1-3 are distilled; the 1x1
    adaptation convolutions that map students to the pseudo teacher's width
    are the model's :class:`FeatureAdapters` extra. Every student can be
    deployed alone (``deployable_members``).
    """
    s_count = num_students
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
    adapters = FeatureAdapters((1, 2, 3), feature_channels, s_count)
    return Architecture(OEMC, (1, s_count, 1, 1), blocks, head, extras=(adapters,),
                        deployable_members=tuple(range(s_count)))


@register_preset("oemc_resnet_tiny", _OEMC, depth=8, num_students=3, width=0.5)
def oemc_resnet_tiny(input_shape, num_classes, **o) -> Architecture:
    return oemc_resnet(input_shape, num_classes, **o)


# --------------------------------------------------------------------------
# Uniform tree: every block costs the same (used to check the paper's
# cost arithmetic, and a handy toy).
# --------------------------------------------------------------------------

@register_preset("uniform_tree", {"branching": integers(1), "channels": integer(1)}, branching=(1, 2, 2, 2, 2),
         channels=8)
def uniform_tree(input_shape, num_classes, branching, channels) -> Architecture:
    """Each block is one 3x3 conv + BN + ReLU with ``channels`` per branch.

    With ``input_shape[-1] == channels`` every node costs the same, so the
    tree's MACs follow the paper's ``T_HNE = (2^{B+1} - 1) C`` exactly.
    """
    groups = cumulative_groups(branching)
    blocks = [L.GroupedBlock([L.TreeConvBN(channels, 3, 1, g, branch=r, name="conv")], name=f"block{b}")
              for b, (r, g) in enumerate(zip(branching, groups, strict=True))]
    return Architecture(HNE, branching, blocks, L.TreeHead(num_classes, groups[-1], name="head"))


# Families and presets in files of their own (hne_tf/families/): each module registers itself.
plugins.import_package("hne_tf.families")
