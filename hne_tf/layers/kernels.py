"""Custom-gradient TensorFlow ops behind the layers: faster (or correct) kernels for CPU.

Each is a plain function on tensors. The gradients of the subsample and of the depthwise convolution
are made under a name (``tf.name_scope``) by which ``bench/profile_train_step.py`` finds them.
"""

from __future__ import annotations

import functools
import math
import os
import warnings

import tensorflow as tf

from hne_tf.layers.common import _EMPTY, _pair


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


#: Channel counts that TF's fused batch-norm kernel runs at full speed: multiples of this.
BN_CHANNEL_ALIGN = 8


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
    Used when :data:`hne_tf.layers.FOLD_ODD_CHANNELS` is on (the default).
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


# ----------------------------------------------------------------- grouped convolution gradients


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def onednn_enabled() -> bool:
    """Whether this TensorFlow process runs oneDNN's CPU kernels (``TF_ENABLE_ONEDNN_OPTS``, read when
    TensorFlow loads; TF turns them on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # noqa: PLC0415 (TF's own switch, not public)

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # another TF build: assume the common case
        return True


def native_grouped_gradient(dtype: tf.DType) -> bool:
    """Whether TensorFlow's CPU kernels have the gradient of a grouped convolution in ``dtype``.

    Only oneDNN's do: in float32 when oneDNN is on, in bfloat16 only where the CPU has bfloat16
    instructions (AVX-512 BF16 or AMX; an AVX2-only EPYC has neither), never in float16.
    """
    if not onednn_enabled() or dtype == tf.float16:
        return False
    if dtype == tf.bfloat16:
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return True


#: The per-group gradient's warning (:func:`warn_without_onednn`); one line, as a user sees it.
WITHOUT_ONEDNN = ("hne_tf: this TensorFlow process runs without oneDNN (TensorFlow was imported before hne_tf, "
                  "or TF_ENABLE_ONEDNN_OPTS=0), so grouped convolutions train with a slower per-group gradient; "
                  "import hne_tf before tensorflow and keras, or set TF_ENABLE_ONEDNN_OPTS=1")


@functools.cache
def warn_without_onednn() -> None:
    """Warns once per process that grouped convolutions train with the per-group gradient. The usual
    cause is an import order: TensorFlow imported before hne_tf on a CPU where TensorFlow leaves oneDNN
    off by default. Silent where the user turned oneDNN off on purpose (``TF_ENABLE_ONEDNN_OPTS=0``)."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        warnings.warn(WITHOUT_ONEDNN, RuntimeWarning, stacklevel=3)


def grouped_conv2d_per_group_grad(x: tf.Tensor, kernel: tf.Tensor, strides, padding: str = "SAME") -> tf.Tensor:
    """``tf.nn.conv2d`` of a grouped kernel (``x`` has ``groups * kernel.shape[2]`` channels), whose gradient
    is computed group by group with the dense backprop kernels, which every CPU build has.

    For a process without oneDNN (TensorFlow's grouped gradient exists only there); slower than the
    native gradient, the same values to float rounding. The layers that fall back to it call
    :func:`warn_without_onednn` first.
    """
    strides = (1,) + tuple(_pair(strides)) + (1,)
    groups = int(x.shape[-1]) // int(kernel.shape[2])

    @tf.custom_gradient
    def conv(x, kernel):
        y = tf.nn.conv2d(x, kernel, strides=strides, padding=padding)

        def grad(dy):
            with tf.name_scope("grouped_conv_grad"):
                xs, ks = tf.split(x, groups, axis=-1), tf.split(kernel, groups, axis=-1)
                dys = tf.split(dy, groups, axis=-1)
                dx = [tf.compat.v1.nn.conv2d_backprop_input(tf.shape(xi), ki, dyi, strides, padding)
                      for xi, ki, dyi in zip(xs, ks, dys, strict=True)]
                dk = [tf.compat.v1.nn.conv2d_backprop_filter(xi, tf.shape(ki), dyi, strides, padding)
                      for xi, ki, dyi in zip(xs, ks, dys, strict=True)]
                return tf.concat(dx, axis=-1), tf.concat(dk, axis=-1)
        return y, grad

    return conv(x, kernel)
