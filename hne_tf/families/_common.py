"""What the family modules share: channel rounding, the input-size rule, and the CIFAR ResNet
(depth 6n + 2) that ONE, OEMC and EnsembleNet build on. Registers nothing (its name starts with
``_``, so :func:`hne_tf.plugins.import_package` does not import it as a family)."""

from __future__ import annotations

from hne_tf import layers as L
from hne_tf.presets import Check, integer


def ch(c: float) -> int:
    """A channel count ``c`` (a width multiplier times a table's count), rounded, at least 1."""
    return max(1, int(round(c)))


def large_input(input_shape) -> bool:
    """Whether the stem reduces the input early (ImageNet-sized inputs).

    CIFAR-sized inputs keep full resolution in the stem, as in the papers; larger inputs
    (ImageNet) are reduced 4x early, as ResNets do on ImageNet.
    """
    return min(input_shape[0], input_shape[1]) > 64


CIFAR_DEPTH = Check("an integer 6n + 2 >= 8 (8, 20, 32, 56, 110, ...)",
                    lambda v: integer(8).accepts(v) and (v - 2) % 6 == 0, int)


def cifar_plan(depth, input_shape, width=1.0) -> list[tuple[int, int]]:
    """(filters, stride) of each basic block of a CIFAR ResNet of ``depth`` (checked by CIFAR_DEPTH)."""
    n = (depth - 2) // 6
    plan = []
    for stage in range(3):
        for i in range(n):
            stride = 2 if i == 0 and (stage > 0 or large_input(input_shape)) else 1
            plan.append((ch(16 * 2 ** stage * width), stride))
    return plan


def cifar_stem(input_shape, groups=1, width=1.0) -> L.TreeConvBN:
    return L.TreeConvBN(ch(16 * width), 3, 2 if large_input(input_shape) else 1, groups, name="stem")


def basic_blocks(plan, cin, groups, branch, prefix) -> tuple[list[L.TreeBasicBlock], int]:
    """``TreeBasicBlock``s for ``plan`` from ``cin`` channels (the first one branches), and their output width."""
    layers = []
    for i, (filters, stride) in enumerate(plan):
        r = branch if i == 0 else 1
        layers.append(L.TreeBasicBlock(filters, stride, groups, branch=r,
                                       projection=(stride != 1 or cin != filters), name=f"{prefix}{i}"))
        cin = filters
    return layers, cin
