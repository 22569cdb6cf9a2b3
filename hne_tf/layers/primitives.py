"""The primitive tree layers: grouped and depthwise convolution, batch norm, replication, dense.

Each works on the channel-stacked groups of :mod:`hne_tf.layers` and slices its own weights
for a ``group_range``.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

import hne_tf.layers as package  # FOLD_ODD_CHANNELS is read from the package, where users set it
from hne_tf.layers.common import (
    _EMPTY,
    GroupCost,
    _activation,
    _count,
    _cpu_only,
    _full,
    _out_hw,
    _pair,
    register,
    weight_slice,
)
from hne_tf.layers.kernels import (
    _depthwise_float32_input_grad,
    _fold_factor,
    _folded_batch_norm,
    grouped_conv2d_per_group_grad,
    native_grouped_gradient,
    subsample,
    warn_without_onednn,
)

# PyTorch's default for conv and linear layers scales by fan_in; Keras'
# fan computation would count all groups of a grouped kernel, so we give the
# fan explicitly through the kernel layout (see each layer's build).
_HE_NORMAL = "he_normal"
def _linear_init() -> keras.initializers.Initializer:
    """A new initializer per layer: one made at import would draw its seed before
    ``keras.utils.set_random_seed`` runs (and give every head of one shape the same values)."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


@register
class GroupedConv2D(keras.layers.Layer):
    """Grouped 2D convolution on ``tf.nn.conv2d``.

    ``keras.layers.Conv2D(groups=...)`` is one to two orders of magnitude
    slower on CPU (see ``bench/bench_grouped_conv.py``); a grouped
    ``tf.nn.conv2d`` runs as one kernel and converts to a TFLite ``CONV_2D``.

    Args:
      filters: output channels of all groups together (divisible by ``groups``).
      kernel_size, strides: as in ``keras.layers.Conv2D``; padding is "same".
      groups: number of groups.
      use_bias: add a per-channel bias.

    Input ``[batch, h, w, groups_in_range * cin_per_group]``, output
    ``[batch, h', w', groups_in_range * filters / groups]``.
    The kernel has shape ``[kh, kw, cin_per_group, filters]``: the layout
    ``tf.nn.conv2d`` expects, and its fan-in is that of one group.
    """

    def __init__(self, filters, kernel_size=1, strides=1, groups=1, use_bias=False,
                 kernel_initializer=_HE_NORMAL, **kwargs) -> None:
        super().__init__(**kwargs)
        if filters % groups:
            raise ValueError(f"filters={filters} is not divisible by groups={groups}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.groups = int(groups)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape) -> None:
        cin = int(input_shape[-1])
        if cin % self.groups:
            raise ValueError(f"{self.name}: input channels {cin} not divisible by groups={self.groups}")
        self.in_per_group = cin // self.groups
        self.out_per_group = self.filters // self.groups
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (self.in_per_group, self.filters),
            initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        kernel = self.kernel
        c = self.out_per_group
        if (start, stop) != (0, self.groups):
            kernel = weight_slice(kernel, (..., slice(start * c, stop * c)))
        dtype = x.dtype
        grouped_on_cpu = stop - start > 1 and _cpu_only()
        if grouped_on_cpu and dtype != tf.float32 and not native_grouped_gradient(dtype):
            # TensorFlow's CPU grouped-conv gradient is oneDNN's: none in float16, and in
            # bfloat16 only on CPUs with bfloat16 instructions. Such convolutions run in float32.
            x = tf.cast(x, tf.float32)
        strides = self.strides
        if self.kernel_size == (1, 1) and strides != (1, 1) and training is not False:
            # A 1x1 "SAME" convolution never pads, so striding it equals
            # subsampling the input first. This avoids oneDNN's strided 1x1
            # filter-gradient kernel (TF 2.21), which corrupts the heap at odd
            # batch sizes (e.g. [3, 16, 16, 8] -> 16 channels, stride 2).
            # Only a graph that may be differentiated needs it: with
            # training=False (inference, the export) the plain strided
            # convolution is traced, which a delegate such as XNNPACK takes
            # whole, where the slice would run outside it as STRIDED_SLICE.
            x = subsample(x, strides)
            strides = (1, 1)
        if grouped_on_cpu and training is not False and not native_grouped_gradient(tf.float32):
            # No oneDNN in this process (TensorFlow loaded before hne_tf could ask for it, or
            # TF_ENABLE_ONEDNN_OPTS=0): the gradient is computed group by group.
            warn_without_onednn()
            y = grouped_conv2d_per_group_grad(x, tf.cast(kernel, x.dtype), strides)
        else:
            y = tf.nn.conv2d(x, tf.cast(kernel, x.dtype), strides=(1,) + strides + (1,), padding="SAME")
        y = tf.cast(y, dtype)
        if self.bias is not None:
            y = y + tf.cast(self.bias[start * c: stop * c], y.dtype)
        return y

    def group_cost(self, input_hw) -> GroupCost:
        out = _out_hw(input_hw, self.strides)
        kh, kw = self.kernel_size
        macs = out[0] * out[1] * kh * kw * self.in_per_group * self.out_per_group
        return macs, _count(self.weights) // self.groups, out

    def compute_output_shape(self, input_shape) -> tuple:
        h, w = input_shape[1:3]
        oh, ow = (None, None) if h is None else _out_hw((h, w), self.strides)
        return (input_shape[0], oh, ow, self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "groups": self.groups, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@register
class TreeDepthwiseConv2D(keras.layers.Layer):
    """Depthwise convolution (one filter per channel) with group slicing.

    Groups only matter for slicing: a depthwise filter is already per channel.
    Kernel ``[kh, kw, channels, 1]``.
    """

    def __init__(self, kernel_size=3, strides=1, groups=1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.groups = int(groups)

    def build(self, input_shape) -> None:
        c = int(input_shape[-1])
        if c % self.groups:
            raise ValueError(f"{self.name}: channels {c} not divisible by groups={self.groups}")
        self.per_group = c // self.groups
        fan_in = self.kernel_size[0] * self.kernel_size[1]
        self.kernel = self.add_weight(
            name="depthwise_kernel", shape=self.kernel_size + (c, 1),
            initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / fan_in)))

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        kernel = self.kernel
        if (start, stop) != (0, self.groups):
            kernel = kernel[:, :, start * self.per_group: stop * self.per_group, :]
        kernel = tf.cast(kernel, x.dtype)
        strides = (1,) + self.strides + (1,)
        if (training is not False and self.strides != (1, 1) and x.dtype in (tf.bfloat16, tf.float16)
                and _cpu_only()):
            return _depthwise_float32_input_grad(x, kernel, strides)
        return tf.nn.depthwise_conv2d(x, kernel, strides=strides, padding="SAME")

    def group_cost(self, input_hw) -> GroupCost:
        out = _out_hw(input_hw, self.strides)
        macs = out[0] * out[1] * self.kernel_size[0] * self.kernel_size[1] * self.per_group
        return macs, _count(self.weights) // self.groups, out

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "groups": self.groups}


@register
class TreeBatchNorm(keras.layers.Layer):
    """Batch normalization over the channel axis, sliceable by group.

    Per channel, so it is exactly one BN per branch. Statistics are kept in
    float32 under mixed precision. Defaults follow PyTorch (momentum 0.9 in
    Keras' convention, epsilon 1e-5), the framework of the seed papers.

    Training runs TF's fused kernel. On a channel count that is not a
    multiple of :data:`BN_CHANNEL_ALIGN`, where that kernel is 2-3x slower,
    :data:`hne_tf.layers.FOLD_ODD_CHANNELS` (on by default) routes it through an
    aligned view of the same memory (:func:`kernels._folded_batch_norm`), which gives
    the same values up to float32 rounding.

    ``synchronized`` (default on): under a multi-replica ``tf.distribute``
    strategy, batch moments are all-reduced across replicas, so training on
    k replicas computes what one device would on the global batch. It costs
    one small all-reduce per layer per step.
    """

    def __init__(self, groups=1, momentum=0.9, epsilon=1e-5, synchronized=True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.synchronized = bool(synchronized)

    def build(self, input_shape) -> None:
        c = int(input_shape[-1])
        if c % self.groups:
            raise ValueError(f"{self.name}: channels {c} not divisible by groups={self.groups}")
        self.per_group = c // self.groups
        self.gamma = self.add_weight(name="gamma", shape=(c,), initializer="ones", autocast=False)
        self.beta = self.add_weight(name="beta", shape=(c,), initializer="zeros", autocast=False)
        self.moving_mean = self.add_weight(name="moving_mean", shape=(c,), initializer="zeros",
                                           trainable=False, autocast=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(c,), initializer="ones",
                                               trainable=False, autocast=False)

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        lo, hi = start * self.per_group, stop * self.per_group
        full = (start, stop) == (0, self.groups)

        def part(v) -> tf.Tensor | keras.Variable:
            v = tf.convert_to_tensor(v)
            return v if full else v[lo:hi]

        gamma, beta = part(self.gamma), part(self.beta)
        if training:
            if self._sync_replicas():
                mean, variance = self._synchronized_moments(tf.cast(x, tf.float32))
                y = self._normalize(x, gamma, beta, mean, variance)
            elif package.FOLD_ODD_CHANNELS and (k := _fold_factor(x)) > 1:
                y, mean, variance = _folded_batch_norm(x, gamma, beta, self.epsilon, k)
            else:
                # One fused kernel: about 2x faster on CPU than moments + affine.
                y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                    x=x, scale=gamma, offset=beta, mean=_EMPTY(), variance=_EMPTY(), epsilon=self.epsilon,
                    exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
                # The fused op returns the unbiased variance; keep Keras'
                # convention (biased) for the moving average.
                n = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
                variance = variance * (n - 1.0) / n
            for var, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                old = tf.convert_to_tensor(var)
                new = part(old) * self.momentum + batch * (1.0 - self.momentum)
                var.assign(new if full else tf.concat([old[:lo], new, old[hi:]], axis=0))
            return y
        return self._normalize(x, gamma, beta, part(self.moving_mean), part(self.moving_variance))

    def _normalize(self, x, gamma, beta, mean, variance) -> tf.Tensor:
        scale = gamma * tf.math.rsqrt(variance + self.epsilon)
        shift = beta - mean * scale
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)

    def _sync_replicas(self) -> bool:
        ctx = tf.distribute.get_replica_context()
        return self.synchronized and ctx is not None and ctx.num_replicas_in_sync > 1

    def _synchronized_moments(self, x) -> tuple[tf.Tensor, tf.Tensor]:
        ctx = tf.distribute.get_replica_context()
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        total = tf.reduce_sum(x, axis=[0, 1, 2])
        squares = tf.reduce_sum(tf.square(x), axis=[0, 1, 2])
        count, total, squares = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [count, total, squares])
        mean = total / count
        return mean, tf.maximum(squares / count - tf.square(mean), 0.0)

    def group_cost(self, input_hw) -> GroupCost:
        return 0, _count(self.weights) // self.groups, tuple(input_hw)

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups, "momentum": self.momentum,
                "epsilon": self.epsilon, "synchronized": self.synchronized}


@register
class BranchReplicate(keras.layers.Layer):
    """Splits every branch into ``branch`` children by copying its channels.

    Input holds parent groups, output holds ``groups`` child groups; child
    ``j`` is a copy of parent ``j // branch`` (depth-first leaf order).
    With ``group_range=(s, e)`` the input must hold parents
    ``s // branch .. (e - 1) // branch``.
    """

    def __init__(self, branch=2, groups=2, **kwargs) -> None:
        super().__init__(**kwargs)
        if groups % branch:
            raise ValueError(f"groups={groups} is not a multiple of branch={branch}")
        self.branch = int(branch)
        self.groups = int(groups)

    def call(self, x, group_range=None) -> tf.Tensor:
        if self.branch == 1:
            return x
        start, stop = _full(group_range, self.groups)
        first_parent = start // self.branch
        parents = (stop - 1) // self.branch + 1 - first_parent
        index = [j // self.branch - first_parent for j in range(start, stop)]
        if index == list(range(parents)):
            return x  # one child per parent: nothing to copy
        shape = tf.shape(x)
        c = x.shape[-1] // parents
        y = tf.reshape(x, tf.concat([shape[:3], [parents, c]], axis=0))
        if index == [i // self.branch for i in range(len(index))] and len(index) == parents * self.branch:
            # Every parent's channels ``branch`` times in a row: [p0, p0, p1, p1, ...]. A concat on
            # the channel axis of [b, h, w, parents, c] lays them out exactly as tf.repeat on the
            # parents axis would, but converts to CONCATENATION, which XNNPACK runs, where
            # tf.repeat becomes TILE, which it does not.
            y = tf.concat([y] * self.branch, axis=4)
        else:
            y = tf.gather(y, index, axis=3)
        return tf.reshape(y, tf.concat([shape[:3], [len(index) * c]], axis=0))

    def group_cost(self, input_hw) -> GroupCost:
        return 0, 0, tuple(input_hw)

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape[:-1]) + (input_shape[-1] * self.branch,)

    def get_config(self) -> dict:
        return {**super().get_config(), "branch": self.branch, "groups": self.groups}


@register
class TreeDense(keras.layers.Layer):
    """Per-group fully connected layer.

    Input ``[batch, groups_in_range, in_features]``, output
    ``[batch, groups_in_range, units]``. Kernel ``[in_features, groups * units]``
    so its fan-in is that of one group.
    """

    def __init__(self, units, groups=1, activation=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.groups = int(groups)
        self.activation = activation
        self._act = _activation(activation)

    def build(self, input_shape) -> None:
        self.in_features = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(self.in_features, self.groups * self.units),
                                      initializer=_linear_init())
        bound = 1.0 / math.sqrt(self.in_features)
        self.bias = self.add_weight(name="bias", shape=(self.groups * self.units,),
                                    initializer=keras.initializers.RandomUniform(-bound, bound))

    def call(self, x, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        if stop - start == 1:  # a reshape, not x[:, 0]: XNNPACK rejects a shrinking STRIDED_SLICE
            return self.single(tf.reshape(x, (-1, self.in_features)), start)[:, None]
        if (start, stop) != (0, self.groups):
            # The groups' columns of the [in, groups * units] kernel are contiguous: slice, then reshape.
            cols = slice(start * self.units, stop * self.units)
            kernel = tf.reshape(weight_slice(self.kernel, (slice(None), cols)),
                                (self.in_features, stop - start, self.units))
            bias = tf.reshape(weight_slice(self.bias, cols), (stop - start, self.units))
        else:
            kernel = tf.reshape(tf.convert_to_tensor(self.kernel), (self.in_features, self.groups, self.units))
            bias = tf.reshape(tf.convert_to_tensor(self.bias), (self.groups, self.units))
        y = tf.einsum("bgi,igo->bgo", x, tf.cast(kernel, x.dtype)) + tf.cast(bias, x.dtype)
        return self._act(y)

    def single(self, x, group: int) -> tf.Tensor:
        """Group ``group`` alone: ``[batch, in_features] -> [batch, units]``.

        A plain matmul, which TFLite runs as one FULLY_CONNECTED op instead of
        the reshapes, transposes and BATCH_MATMUL of the grouped einsum.
        """
        _full((group, group + 1), self.groups)
        cols = slice(group * self.units, (group + 1) * self.units)
        kernel = weight_slice(self.kernel, (slice(None), cols))
        bias = weight_slice(self.bias, cols)
        return self._act(tf.matmul(x, tf.cast(kernel, x.dtype)) + tf.cast(bias, x.dtype))

    def group_cost(self, input_hw=None) -> GroupCost:
        return self.in_features * self.units, _count(self.weights) // self.groups, (1, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "groups": self.groups,
                "activation": self.activation}
