"""Keras 3 layers for tree ensembles (TensorFlow backend).

Convention shared by every layer here: a tensor holds the activations of
several tree nodes ("groups") side by side in its channel axis, each group
with the same number of channels. ``groups`` is the number of output groups
of the layer when the whole tree is evaluated. Each layer's ``call`` accepts
``group_range=(start, stop)``: compute only output groups ``start..stop-1``,
from an input that holds exactly the groups they depend on. This is what lets
a prefix sub-model or an anytime step reuse the full model's weights without
copying them: the layer slices its own kernels.

``branch > 1`` means the layer first replicates every input group ``branch``
times (Fig. 2 of the AAAI paper); its input then holds ``groups // branch``
groups.

Every layer reports its cost per group with ``group_cost(input_hw)``:
``(macs, params, output_hw)``. MACs count the multiply-accumulates of
convolutions and dense layers; batch norm (folded into the convolution at
export), activations, pooling and residual additions are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


def subsample(x: tf.Tensor, strides) -> tf.Tensor:
    """``x[:, ::sh, ::sw, :]`` of an NHWC tensor, with a fast gradient.

    TensorFlow's strided slice and its gradient (``StridedSliceGrad``) run
    element by element on CPU; they were 8.7% of ``hne_resnet_small``'s train
    step. When the height and width are static multiples of the strides, the
    forward pass here reshapes to ``[n, h/sh, sh, w/sw, sw * c]`` and takes
    index 0 of the third axis and the first ``c`` channels of the last one
    (contiguous runs of ``c`` values), and the gradient pads the incoming
    gradient with zeros back to that shape: 0.21-0.31x the time of the strided
    slice, forward plus backward (``bench/bench_subsample.py``). Other shapes use the strided
    slice.
    """
    sh, sw = _pair(strides)
    _, h, w, c = x.shape
    if h is None or w is None or c is None or h % sh or w % sw:
        return x[:, ::sh, ::sw, :]
    return _subsample_divisible(x, sh, sw)


def _subsample_divisible(x: tf.Tensor, sh: int, sw: int) -> tf.Tensor:
    _, h, w, c = x.shape

    @tf.custom_gradient
    def run(x):
        shape = tf.shape(x)
        view = tf.reshape(x, [shape[0], h // sh, sh, w // sw, sw * c])
        y = view[:, :, 0, :, :c]

        def grad(dy):
            # Named: gradient ops of a custom gradient are made outside the layer's name scope, and
            # bench/profile_train_step.py finds them by this name.
            with tf.name_scope("subsample_grad"):
                dview = tf.pad(tf.expand_dims(dy, 2), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, (sw - 1) * c]])
                return tf.reshape(dview, shape)

        return y, grad

    return run(x)


def _depthwise_float32_input_grad(x: tf.Tensor, kernel: tf.Tensor, strides) -> tf.Tensor:
    """A strided depthwise convolution whose input gradient is computed in float32.

    On CPU, TensorFlow's ``DepthwiseConv2dNativeBackpropInput`` with stride 2 is 6-20x slower
    in bfloat16 and about 3x slower in float16 than in float32 (stride 1 is not). It was 13% of
    ``hne_resnet_small``'s bfloat16 train step. The gradient here casts the (stride^2 times
    smaller) upstream gradient and the kernel to float32, runs the float32 kernel and casts the
    result back; the forward pass and the filter gradient are unchanged.
    """

    @tf.custom_gradient
    def run(x, kernel):
        y = tf.nn.depthwise_conv2d(x, kernel, strides=strides, padding="SAME")

        def grad(dy):
            with tf.name_scope("depthwise_float32_grad"):
                dx = tf.compat.v1.nn.depthwise_conv2d_native_backprop_input(
                    tf.shape(x), tf.cast(kernel, tf.float32), tf.cast(dy, tf.float32), strides, "SAME")
                dk = tf.compat.v1.nn.depthwise_conv2d_native_backprop_filter(x, tf.shape(kernel), dy, strides, "SAME")
                return tf.cast(dx, x.dtype), dk

        return y, grad

    return run(x, kernel)


# PyTorch's default for conv and linear layers scales by fan_in; Keras'
# fan computation would count all groups of a grouped kernel, so we give the
# fan explicitly through the kernel layout (see each layer's build).
_HE_NORMAL = "he_normal"
_LINEAR_INIT = keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


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
            kernel = kernel[..., start * c: stop * c]
        dtype = x.dtype
        if dtype == tf.float16 and stop - start > 1 and _cpu_only():
            # TensorFlow has no float16 grouped-conv gradient on CPU (oneDNN
            # has a bfloat16 one, so bfloat16 stays bfloat16).
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


def _EMPTY() -> tf.Tensor:  # noqa: N802 (a constant, made in the caller's graph)
    return tf.constant([], tf.float32)


#: Channel counts that TF's fused batch-norm kernel runs at full speed: multiples of this.
BN_CHANNEL_ALIGN = 8
#: Whether TreeBatchNorm trains odd channel counts through :func:`_folded_batch_norm` (on by default).
#: It was off for a while: a test saw a bottleneck's "reduce" batch-norm scale get an exactly zero
#: gradient in some processes. That scale's exact gradient *is* 0 at initialisation (its output goes
#: through ReLU, a depthwise convolution and another batch norm, so the loss is invariant to scaling its
#: gamma and beta together, and beta starts at 0); the fused kernel returns rounding noise there, the
#: folded one sometimes an exact 0 (tests/test_training_lib.py's test_every_model_loss_pair_trains).
FOLD_ODD_CHANNELS = True


def _fold_factor(x) -> int:
    """How many pixels :func:`_folded_batch_norm` packs into one row for ``x`` (1: use the plain fused kernel).

    TF's CPU fused batch norm is 2-3x slower per element when the channel count
    is not a multiple of 8 (``bench/bench_batchnorm.py``: 104 ms on
    64x32x32x91 against 35 ms on 64x32x32x96, forward + backward). Viewing
    ``[n, c]`` as ``[n / k, k * c]`` with ``k * c`` a multiple of 8 gives it an
    aligned row at no copy; the pixel count per image must divide by ``k``.
    """
    c = x.shape[-1]
    if c is None or c % BN_CHANNEL_ALIGN == 0:
        return 1
    k = BN_CHANNEL_ALIGN // math.gcd(c, BN_CHANNEL_ALIGN)
    h, w = x.shape[1], x.shape[2]
    return k if h is not None and w is not None and (h * w) % k == 0 else 1


def _folded_batch_norm(x, gamma, beta, epsilon: float, k: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Training-mode batch norm of ``x`` ``[b, h, w, c]`` through an aligned view ``[b*h*w/k, 1, 1, k*c]``.

    Returns ``(y, mean, biased variance)`` as the fused kernel would, equal to
    it up to float32 rounding. In the view, column ``j * c + i`` holds channel
    ``i`` of every ``k``-th pixel: the fused kernel's per-column moments are
    pooled into per-channel ones (exactly, by the law of total variance),
    ``y`` is the fused kernel in inference mode with the pooled statistics
    tiled ``k`` times, and the gradient is batch norm's, written out in TF ops:
    ``gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat))`` per channel.
    Used when :data:`FOLD_ODD_CHANNELS` is on (the default).
    """
    c = int(x.shape[-1])
    shape = tf.shape(x)

    def tile(t) -> tf.Tensor:
        return tf.tile(t, [k])

    @tf.custom_gradient
    def bn(x, gamma, beta) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        v = tf.reshape(x, [-1, 1, 1, k * c])
        rows = tf.cast(tf.shape(v)[0], tf.float32)
        _, col_mean, col_var, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=v, scale=tf.ones([k * c]), offset=tf.zeros([k * c]), mean=_EMPTY(), variance=_EMPTY(),
            epsilon=epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        col_mean = tf.reshape(col_mean, [k, c])
        col_var = tf.reshape(col_var * (rows - 1.0) / rows, [k, c])  # biased, as the columns' sizes are equal
        mean = tf.reduce_mean(col_mean, 0)
        variance = tf.reduce_mean(col_var + tf.square(col_mean - mean), 0)
        t_mean, t_var, t_gamma = tile(mean), tile(variance), tile(gamma)
        y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=v, scale=t_gamma, offset=tile(beta), mean=t_mean, variance=t_var, epsilon=epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=False)

        def grad(dy, _dmean, _dvariance) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            # The moving averages' updates are not differentiated (as with the fused kernel). Written
            # out rather than through FusedBatchNormGradV3 in inference mode, whose scale and offset
            # gradients on this view came back zero in some processes (oneDNN; seen in CI as a batch
            # norm scale with no gradient, nondeterministically).
            dyv = tf.cast(tf.reshape(dy, [-1, k * c]), tf.float32)
            vv = tf.cast(tf.reshape(v, [-1, k * c]), tf.float32)
            rstd = tf.math.rsqrt(variance + epsilon)
            t_rstd = tile(rstd)
            xhat = (vv - t_mean) * t_rstd
            dgamma = tf.reduce_sum(tf.reshape(tf.reduce_sum(dyv * xhat, 0), [k, c]), 0)
            dbeta = tf.reduce_sum(tf.reshape(tf.reduce_sum(dyv, 0), [k, c]), 0)
            n = rows * k
            # dx = gamma*rstd * (dy - dbeta/n - xhat * dgamma/n) = dy*gamma*rstd - x*coef - const, per channel.
            coef = gamma * tf.square(rstd) * dgamma / n
            const = gamma * rstd * dbeta / n - mean * coef
            dx = dyv * (t_gamma * t_rstd) - vv * tile(coef) - tile(const)
            return tf.reshape(tf.cast(dx, x.dtype), shape), dgamma, dbeta

        return (tf.reshape(y, shape), mean, variance), grad

    return bn(x, gamma, beta)


@register
class TreeBatchNorm(keras.layers.Layer):
    """Batch normalization over the channel axis, sliceable by group.

    Per channel, so it is exactly one BN per branch. Statistics are kept in
    float32 under mixed precision. Defaults follow PyTorch (momentum 0.9 in
    Keras' convention, epsilon 1e-5), the framework of the seed papers.

    Training runs TF's fused kernel. On a channel count that is not a
    multiple of :data:`BN_CHANNEL_ALIGN`, where that kernel is 2-3x slower,
    :data:`FOLD_ODD_CHANNELS` (on by default) routes it through an
    aligned view of the same memory (:func:`_folded_batch_norm`), which gives
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
            elif FOLD_ODD_CHANNELS and (k := _fold_factor(x)) > 1:
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


def sequence_cost(layers, input_hw) -> GroupCost:
    """Per-group ``(macs, params, output_hw)`` of layers applied in order."""
    macs = params = 0
    hw = tuple(input_hw)
    for layer in layers:
        m, p, hw = layer.group_cost(hw)
        macs += m
        params += p
    return macs, params, hw


class _Composite(keras.layers.Layer):
    """A layer made of tree layers applied in sequence (after replication)."""

    def _sublayers_cost(self, layers, input_hw) -> GroupCost:
        return sequence_cost(layers, input_hw)


@register
class TreeConvBN(_Composite):
    """[replicate] -> grouped conv (or depthwise) -> BN -> activation.

    Args:
      filters: output channels per group.
      kernel_size, strides: of the convolution.
      groups: output groups.
      branch: replication factor applied to the input first.
      depthwise: use a depthwise convolution (``filters`` must equal the
        input channels per group).
      activation: ``"relu"``, ``"relu6"`` or ``None``.
    """

    def __init__(self, filters, kernel_size=3, strides=1, groups=1, branch=1, depthwise=False,
                 activation="relu", **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.groups = int(groups)
        self.branch = int(branch)
        self.depthwise = bool(depthwise)
        self.activation = activation
        self._act = _activation(activation)
        self.replicate = BranchReplicate(self.branch, self.groups, name="replicate")
        if self.depthwise:
            self.conv = TreeDepthwiseConv2D(self.kernel_size, self.strides, self.groups, name="conv")
        else:
            self.conv = GroupedConv2D(self.filters * self.groups, self.kernel_size, self.strides,
                                      self.groups, name="conv")
        self.bn = TreeBatchNorm(self.groups, name="bn")

    def build(self, input_shape) -> None:
        cin = int(input_shape[-1]) * self.branch
        if self.depthwise and cin != self.filters * self.groups:
            raise ValueError(f"{self.name}: depthwise needs filters per group == input channels per group")

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        x = self.replicate(x, group_range=group_range)
        x = self.conv(x, training=training, group_range=group_range)
        x = self.bn(x, training=training, group_range=group_range)
        return self._act(x)

    def group_cost(self, input_hw) -> GroupCost:
        return self._sublayers_cost([self.conv, self.bn], input_hw)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "groups": self.groups, "branch": self.branch,
                "depthwise": self.depthwise, "activation": self.activation}


class _ResidualBlock(_Composite):
    """Shared machinery: [replicate] -> body -> (+ shortcut) -> activation."""

    def __init__(self, filters, strides=1, groups=1, branch=1, projection=False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = _pair(strides)
        self.groups = int(groups)
        self.branch = int(branch)
        self.projection = bool(projection)
        self.replicate = BranchReplicate(self.branch, self.groups, name="replicate")
        self.shortcut = (TreeConvBN(self.filters, 1, self.strides, self.groups, activation=None,
                                    name="shortcut") if self.projection else None)

    def _check_identity(self, input_shape, residual) -> int:
        cin = int(input_shape[-1]) * self.branch // self.groups
        if residual and self.shortcut is None and (cin != self.filters or self.strides != (1, 1)):
            raise ValueError(
                f"{self.name}: identity shortcut needs stride 1 and {self.filters} input channels per "
                f"group, got stride {self.strides} and {cin}; pass projection=True")
        return cin

    def _body(self) -> list[keras.layers.Layer]:
        raise NotImplementedError

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        x = self.replicate(x, group_range=group_range)
        h = x
        for layer in self._body():
            h = layer(h, training=training, group_range=group_range)
        if self.shortcut is not None:
            h = h + self.shortcut(x, training=training, group_range=group_range)
        elif self.residual:
            h = h + x
        return self._final(h)

    def _final(self, h) -> tf.Tensor:
        return h

    def group_cost(self, input_hw) -> GroupCost:
        macs, params, hw = self._sublayers_cost(self._body(), input_hw)
        if self.shortcut is not None:
            m, p, _ = self.shortcut.group_cost(input_hw)
            macs, params = macs + m, params + p
        return macs, params, hw

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "groups": self.groups, "branch": self.branch, "projection": self.projection}


@register
class TreeBottleneck(_ResidualBlock):
    """HNE "ResNet" / "ResNet+Branching" layer (AAAI Table 2, Fig. 7).

    A bottleneck residual block whose 3x3 convolution is depthwise:
    grouped 1x1 (filters / expansion) -> depthwise 3x3 (stride) -> grouped 1x1
    (filters), each followed by BN, ReLU after the sum. The paper gives only
    the block's input and output channels; we use ResNet's usual bottleneck
    ratio of 4 for the inner width. The branching variant replicates
    branches first and uses a projection shortcut, like ResNet's downsampling
    blocks.
    """

    def __init__(self, filters, strides=1, groups=1, branch=1, projection=False, expansion=4, **kwargs) -> None:
        super().__init__(filters, strides, groups, branch, projection, **kwargs)
        self.expansion = int(expansion)
        mid = max(1, self.filters // self.expansion)
        self.reduce = TreeConvBN(mid, 1, 1, self.groups, activation="relu", name="reduce")
        self.spatial = TreeConvBN(mid, 3, self.strides, self.groups, depthwise=True, activation="relu",
                                  name="depthwise")
        self.expand = TreeConvBN(self.filters, 1, 1, self.groups, activation=None, name="expand")
        self.residual = True

    def build(self, input_shape) -> None:
        self._check_identity(input_shape, True)

    def _body(self) -> list[keras.layers.Layer]:
        return [self.reduce, self.spatial, self.expand]

    def _final(self, h) -> tf.Tensor:
        return tf.nn.relu(h)

    def get_config(self) -> dict:
        return {**super().get_config(), "expansion": self.expansion}


@register
class TreeBasicBlock(_ResidualBlock):
    """ResNet basic block (two 3x3 convolutions), grouped.

    The CIFAR ResNet-32/110 of ONE, OEMC and EnsembleNet is built from it.
    """

    def __init__(self, filters, strides=1, groups=1, branch=1, projection=False, **kwargs) -> None:
        super().__init__(filters, strides, groups, branch, projection, **kwargs)
        self.conv1 = TreeConvBN(self.filters, 3, self.strides, self.groups, activation="relu", name="conv1")
        self.conv2 = TreeConvBN(self.filters, 3, 1, self.groups, activation=None, name="conv2")
        self.residual = True

    def build(self, input_shape) -> None:
        self._check_identity(input_shape, True)

    def _body(self) -> list[keras.layers.Layer]:
        return [self.conv1, self.conv2]

    def _final(self, h) -> tf.Tensor:
        return tf.nn.relu(h)


@register
class TreeInvertedResidual(_ResidualBlock):
    """HNE "MBNet" / "MBNet+Branching" layer (AAAI Table 3, Fig. 8).

    MobileNetV2's inverted residual with grouped 1x1 convolutions: expand
    (x expansion, ReLU6) -> depthwise 3x3 (stride, ReLU6) -> linear project.
    The identity shortcut is used when stride is 1, channels are unchanged and
    the layer does not branch; the branching variant, like MobileNetV2's
    shortcut-less blocks, has none.
    """

    def __init__(self, filters, strides=1, groups=1, branch=1, expansion=6, **kwargs) -> None:
        super().__init__(filters, strides, groups, branch, projection=False, **kwargs)
        self.expansion = int(expansion)

    def build(self, input_shape) -> None:
        cin = int(input_shape[-1]) * self.branch // self.groups
        hidden = cin * self.expansion
        self.expand_conv = TreeConvBN(hidden, 1, 1, self.groups, activation="relu6", name="expand")
        self.spatial = TreeConvBN(hidden, 3, self.strides, self.groups, depthwise=True,
                                  activation="relu6", name="depthwise")
        self.project = TreeConvBN(self.filters, 1, 1, self.groups, activation=None, name="project")
        self.residual = self.branch == 1 and self.strides == (1, 1) and cin == self.filters

    def _body(self) -> list[keras.layers.Layer]:
        return [self.expand_conv, self.spatial, self.project]

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("projection")
        return {**config, "expansion": self.expansion}


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
                                      initializer=_LINEAR_INIT)
        bound = 1.0 / math.sqrt(self.in_features)
        self.bias = self.add_weight(name="bias", shape=(self.groups * self.units,),
                                    initializer=keras.initializers.RandomUniform(-bound, bound))

    def call(self, x, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        if stop - start == 1:  # a reshape, not x[:, 0]: XNNPACK rejects a shrinking STRIDED_SLICE
            return self.single(tf.reshape(x, (-1, self.in_features)), start)[:, None]
        kernel = tf.reshape(tf.convert_to_tensor(self.kernel), (self.in_features, self.groups, self.units))
        bias = tf.reshape(tf.convert_to_tensor(self.bias), (self.groups, self.units))
        if (start, stop) != (0, self.groups):
            kernel, bias = kernel[:, start:stop], bias[start:stop]
        y = tf.einsum("bgi,igo->bgo", x, tf.cast(kernel, x.dtype)) + tf.cast(bias, x.dtype)
        return self._act(y)

    def single(self, x, group: int) -> tf.Tensor:
        """Group ``group`` alone: ``[batch, in_features] -> [batch, units]``.

        A plain matmul, which TFLite runs as one FULLY_CONNECTED op instead of
        the reshapes, transposes and BATCH_MATMUL of the grouped einsum.
        """
        _full((group, group + 1), self.groups)
        kernel = tf.convert_to_tensor(self.kernel)[:, group * self.units:(group + 1) * self.units]
        bias = tf.convert_to_tensor(self.bias)[group * self.units:(group + 1) * self.units]
        return self._act(tf.matmul(x, tf.cast(kernel, x.dtype)) + tf.cast(bias, x.dtype))

    def group_cost(self, input_hw=None) -> GroupCost:
        return self.in_features * self.units, _count(self.weights) // self.groups, (1, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "groups": self.groups,
                "activation": self.activation}


@register
class TreeHead(_Composite):
    """Per-leaf classifier: global average pool -> [dense + act] -> linear.

    Output ``[batch, leaves_in_range, num_classes]`` (logits).
    ``hidden_units`` gives the MobileNet HNE's extra "Avg. Pool + Linear +
    ReLU6" layer (AAAI Table 3).
    """

    def __init__(self, num_classes, groups=1, hidden_units=None, hidden_activation="relu6", **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.groups = int(groups)
        self.hidden_units = None if hidden_units is None else int(hidden_units)
        self.hidden_activation = hidden_activation
        self.hidden = (TreeDense(self.hidden_units, self.groups, hidden_activation, name="hidden")
                       if self.hidden_units else None)
        # Logits in float32 under mixed precision, as Keras advises for a model's output: the
        # softmax and the loss then see float32 values (bfloat16 would round a logit of 10 to
        # steps of 1/16). The classifier is a tiny matmul, so this costs nothing measurable.
        self.classifier = TreeDense(self.num_classes, self.groups, name="classifier", dtype="float32")

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        pooled = tf.reduce_mean(x, axis=[1, 2])
        h = tf.reshape(pooled, (-1, stop - start, x.shape[-1] // (stop - start)))
        if self.hidden is not None:
            h = self.hidden(h, group_range=group_range)
        return self.classifier(tf.cast(h, tf.float32), group_range=group_range)

    def leaf_logits(self, x, leaf: int, training=None) -> tf.Tensor:
        """Logits ``[batch, num_classes]`` of group ``leaf`` alone; ``x`` holds only that group's channels."""
        h = tf.reduce_mean(x, axis=[1, 2])
        if self.hidden is not None:
            h = self.hidden.single(h, leaf)
        return self.classifier.single(tf.cast(h, tf.float32), leaf)

    def group_cost(self, input_hw) -> GroupCost:
        layers = [self.classifier] if self.hidden is None else [self.hidden, self.classifier]
        return self._sublayers_cost(layers, input_hw)

    def node_costs(self, input_hw) -> NodeCosts:
        """Per leaf: ``(macs, params)`` lists and the output resolution, as the blocks report them."""
        macs, params, hw = self.group_cost(input_hw)
        return [macs] * self.groups, [params] * self.groups, hw

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "groups": self.groups,
                "hidden_units": self.hidden_units, "hidden_activation": self.hidden_activation}


def serialize_list(layers: Sequence[keras.layers.Layer]) -> list[dict]:
    return [keras.saving.serialize_keras_object(layer) for layer in layers]


def _as_layer(obj) -> keras.layers.Layer:
    """A layer, or a layer's serialized config (as found in ``from_config``)."""
    return keras.saving.deserialize_keras_object(obj) if isinstance(obj, dict) else obj


@register
class GroupedBlock(keras.layers.Layer):
    """One block of the tree whose nodes all share one architecture.

    Its tree layers run over all live branches at once; the first layer does
    the block's branching. ``call(x, group_range=(s, e))`` computes nodes
    ``s..e-1`` of this block.
    """

    def __init__(self, layers, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tree_layers = [_as_layer(c) for c in layers]
        self.groups = self.tree_layers[-1].groups

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        for layer in self.tree_layers:
            x = layer(x, training=training, group_range=group_range)
        return x

    def node_outputs(self, x, training=None, group_range=None) -> list[tf.Tensor]:
        """Nodes ``start..stop-1`` of this block, one tensor each (equal widths)."""
        start, stop = _full(group_range, self.groups)
        y = self(x, training=training, group_range=group_range)
        return tf.split(y, stop - start, axis=-1) if stop - start > 1 else [y]

    def node_costs(self, input_hw) -> NodeCosts:
        """Per node: ``(macs, params)`` lists and the output resolution."""
        macs, params, hw = sequence_cost(self.tree_layers, input_hw)
        return [macs] * self.groups, [params] * self.groups, hw

    def get_config(self) -> dict:
        return {**super().get_config(), "layers": serialize_list(self.tree_layers)}


@register
class PerNodeBlock(keras.layers.Layer):
    """A block whose nodes have different architectures (OEMC's students).

    Each node is its own stack of (single-group) layers. Activations of the
    live nodes are still concatenated in the channel axis, each with its own
    width, so the model treats both block kinds alike.

    Args:
      nodes: per node, the list of layers applied in order.
      branch: branching factor of this block.
      input_widths: channels of each node of the previous block.
      stack_outputs: concatenate the nodes' outputs along axis 1 instead of
        the channel axis (used for per-node classifier heads).
    """

    def __init__(self, nodes, branch, input_widths, stack_outputs=False, **kwargs) -> None:
        super().__init__(**kwargs)
        nodes = [[_as_layer(c) for c in node] for node in nodes]
        self.node_sizes = [len(node) for node in nodes]
        # Keras tracks a flat list of layers; node_layers(j) re-nests it.
        self.flat_layers = [layer for node in nodes for layer in node]
        self.branch = int(branch)
        self.input_widths = [int(w) for w in input_widths]
        self.stack_outputs = bool(stack_outputs)
        self.groups = len(nodes)

    def node_layers(self, j) -> list[keras.layers.Layer]:
        start = sum(self.node_sizes[:j])
        return self.flat_layers[start:start + self.node_sizes[j]]

    def node_outputs(self, x, training=None, group_range=None) -> list[tf.Tensor]:
        start, stop = _full(group_range, self.groups)
        first_parent = start // self.branch
        last_parent = (stop - 1) // self.branch
        widths = self.input_widths[first_parent:last_parent + 1]
        parents = tf.split(x, widths, axis=-1) if len(widths) > 1 else [x]
        outputs = []
        for j in range(start, stop):
            h = parents[j // self.branch - first_parent]
            for layer in self.node_layers(j):
                h = layer(h, training=training)
            outputs.append(h)
        return outputs

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        outputs = self.node_outputs(x, training, group_range)
        if len(outputs) == 1:
            return outputs[0]
        return tf.concat(outputs, axis=1 if self.stack_outputs else -1)

    def leaf_logits(self, x, leaf: int, training=None) -> tf.Tensor:
        """As the model's head (one classifier stack per node, e.g. OEMC's students):
        node ``leaf``'s logits ``[batch, num_classes]``; ``x`` holds only that node's input."""
        *body, head = self.node_layers(leaf)
        for layer in body:
            x = layer(x, training=training)
        return head.leaf_logits(x, 0, training=training)

    def node_costs(self, input_hw) -> NodeCosts:
        """Per node: ``(macs, params)`` lists and the output resolution."""
        costs = [sequence_cost(self.node_layers(j), input_hw) for j in range(self.groups)]
        return [c[0] for c in costs], [c[1] for c in costs], costs[-1][2]

    def get_config(self) -> dict:
        nodes = [serialize_list(self.node_layers(j)) for j in range(self.groups)]
        return {**super().get_config(), "nodes": nodes, "branch": self.branch,
                "input_widths": self.input_widths, "stack_outputs": self.stack_outputs}
