"""What the layer modules share: Keras registration, cost types, argument checks and small helpers."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

PACKAGE = "hne_tf"
register = keras.saving.register_keras_serializable(package=PACKAGE)

#: Per-group cost of a layer: ``(macs, params, output_hw)``.
GroupCost = tuple[int, int, tuple[int, int]]
#: Costs of a tree level, one entry per node: ``(macs, params, output_hw)``.
NodeCosts = tuple[list[int], list[int], tuple[int, int]]

_ACTIVATIONS = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
}


_CONSTANT_SLICES = contextvars.ContextVar("hne_tf_constant_slices", default=False)


@contextlib.contextmanager
def constant_weight_slices() -> Iterator[None]:
    """While tracing a graph to freeze (the export), a layer that runs a part of its groups reads that
    part of its weights as a constant of just that slice (:func:`weight_slice`), taken from the
    variable's value at trace time.

    Freezing gives the same numbers, but leaves the slice as an op on the whole kernel, and TFLite's
    converter does not fold a slice of a large constant: the hne_mobilenetv2 head's 168 MB kernel stayed
    whole in the k = 1 and k = 2 files (166 and 173 MB for 21 and 39 MB of weights), and the
    FULLY_CONNECTED that read it ran outside XNNPACK, whose dense layers need constant weights. Never
    for training: a traced train step would keep the weights it was traced with.
    """
    token = _CONSTANT_SLICES.set(True)
    try:
        yield
    finally:
        _CONSTANT_SLICES.reset(token)


def weight_slice(variable, index) -> tf.Tensor:
    """``variable[index]``: inside :func:`constant_weight_slices`, a constant of that slice alone; else a
    slice of the variable's current value (which gradients reach)."""
    if _CONSTANT_SLICES.get():
        with tf.init_scope():  # out of the graph being traced: the variable's value now
            value = variable.numpy()[index]
        return tf.constant(value)
    return tf.convert_to_tensor(variable)[index]


def _activation(name) -> Callable[[tf.Tensor], tf.Tensor]:
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(k for k in _ACTIVATIONS if k)}")
    return _ACTIVATIONS[name]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a pair, got {v}")
    return v


def _out_hw(hw, strides) -> tuple[int, int]:
    # "SAME" padding: ceil(size / stride).
    return tuple(math.ceil(s / st) for s, st in zip(hw, _pair(strides), strict=True))


def _full(group_range, groups) -> tuple[int, int]:
    if group_range is None:
        return 0, groups
    start, stop = int(group_range[0]), int(group_range[1])
    if not 0 <= start < stop <= groups:
        raise ValueError(f"group_range {group_range} outside [0, {groups}]")
    return start, stop


def _cpu_only() -> bool:
    """No GPU or TPU visible: the ops run on TensorFlow's CPU kernels."""
    return not (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _EMPTY() -> tf.Tensor:  # noqa: N802 (a constant, made in the caller's graph)
    return tf.constant([], tf.float32)


def sequence_cost(layers, input_hw) -> GroupCost:
    """Per-group ``(macs, params, output_hw)`` of layers applied in order."""
    macs = params = 0
    hw = tuple(input_hw)
    for layer in layers:
        m, p, hw = layer.group_cost(hw)
        macs += m
        params += p
    return macs, params, hw
