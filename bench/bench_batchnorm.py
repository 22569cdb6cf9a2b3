"""Training-mode batch norm, forward + backward, across channel counts.

Times one call of batch norm in training mode (batch moments) followed by
the gradients with respect to the input, the scale and the offset (one
``tf.function``; the upstream gradient is a fixed random tensor), at the
activation shapes of ``hne_resnet_small`` and of the dense references of
``bench/bench_train_throughput.py`` (batch 64, 32x32x3 input): 32x32 maps
with 16..96 channels, 16x16 with 45..256, 8x8 with 90..2048, odd counts
beside their multiples of 8.

Variants (columns):

- ``tree``: ``hne_tf.layers.TreeBatchNorm`` with its folded path for odd
  channel counts switched on (``hne_tf.layers.FOLD_ODD_CHANNELS``, its
  default; on multiples of 8 it is the fused kernel);
- ``fused``: ``tf.raw_ops.FusedBatchNormV3`` (TreeBatchNorm's path before
  issue 14 on every channel count, and ``tf.nn.fused_batch_norm``'s kernel);
- ``moments``: ``tf.nn.moments`` then one scale and offset per channel;
- ``padded``: channels zero-padded to a multiple of 8, fused kernel, sliced back;
- ``keras``: ``keras.layers.BatchNormalization`` (Keras 3).

Every configuration first checks that all variants give the same output
and gradients as ``fused`` (relative to the largest value, ``--rtol``), then
times them round-robin, ``--iters`` rounds after ``--warmup``, and prints
the median in ms, and per variant the time relative to ``fused``.

Example:
  python bench/bench_batchnorm.py                       # about 1-2 minutes on 2 CPU cores
  python bench/bench_batchnorm.py --shapes 8x8x363,8x8x368 --iters 20
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # bench/common.py
import keras
import numpy as np
import tensorflow as tf

from hne_tf import layers as hne_layers
from hne_tf.layers import TreeBatchNorm

DEFAULT_SHAPES = ("32x32x16,32x32x22,32x32x23,32x32x24,32x32x91,32x32x96,16x16x45,16x16x48,16x16x182,"
                  "16x16x192,16x16x256,8x8x90,8x8x96,8x8x363,8x8x368,8x8x1024,8x8x2048")
EPS = 1e-5


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated HxWxC activation shapes")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--iters", type=int, default=15, help="timed rounds")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--variants", default="tree,fused,moments,padded,keras")
    p.add_argument("--intra_op_threads", type=int, default=2)
    p.add_argument("--inter_op_threads", type=int, default=1)
    args = p.parse_args(argv)
    args.shapes = common.parse_hwc_shapes(p, args.shapes)
    args.variants = common.parse_variants(p, args.variants, VARIANTS)
    return args


def _fused(x, gamma, beta) -> tf.Tensor:
    y, *_ = tf.raw_ops.FusedBatchNormV3(x=x, scale=gamma, offset=beta, mean=tf.constant([], tf.float32),
                                        variance=tf.constant([], tf.float32), epsilon=EPS,
                                        exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
    return y


def _moments(x, gamma, beta) -> tf.Tensor:
    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
    scale = gamma * tf.math.rsqrt(variance + EPS)
    return x * scale + (beta - mean * scale)


def _padded(x, gamma, beta) -> tf.Tensor:
    c = x.shape[-1]
    pad = -c % 8
    if not pad:
        return _fused(x, gamma, beta)
    y = _fused(tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, pad]]), tf.pad(gamma, [[0, pad]], constant_values=1.0),
               tf.pad(beta, [[0, pad]]))
    return y[..., :c]


def make_variant(name, channels) -> tuple[Callable, keras.layers.Layer | None]:
    """``(fn(x, gamma, beta) -> y, variables or None)``; the layers use their own gamma/beta."""
    if name == "tree":
        hne_layers.FOLD_ODD_CHANNELS = True  # what this column times (read when the layer is traced)
        layer = TreeBatchNorm()
        layer.build((None, None, None, channels))
        return (lambda x, g, b: layer(x, training=True)), layer
    if name == "keras":
        layer = keras.layers.BatchNormalization(momentum=0.9, epsilon=EPS)
        layer.build((None, None, None, channels))
        return (lambda x, g, b: layer(x, training=True)), layer
    return {"fused": _fused, "moments": _moments, "padded": _padded}[name], None


VARIANTS = ("tree", "fused", "moments", "padded", "keras")


def step_fn(fn, layer) -> Callable:
    @tf.function
    def step(x, gamma, beta, dy):
        with tf.GradientTape() as tape:
            watched = [x] + ([layer.gamma.value, layer.beta.value] if layer is not None and hasattr(layer, "gamma")
                             else [gamma, beta])
            tape.watch(watched)
            y = fn(x, gamma, beta)
            loss = tf.reduce_sum(y * dy)
        return [y] + tape.gradient(loss, watched)
    return step


def main(argv=None) -> int:
    args = parse_args(argv)
    common.start_run(args, f"batch {args.batch_size}, training-mode batch norm forward + backward "
                           f"(dx, dgamma, dbeta), median of {args.iters} rounds, ms")
    rng = np.random.default_rng(0)
    header = common.ratio_header(args.variants, "fused")
    rows = []
    for h, w, c in args.shapes:
        x = tf.constant(rng.normal(1.0, 2.0, (args.batch_size, h, w, c)).astype(np.float32))
        dy = tf.constant(rng.normal(size=(args.batch_size, h, w, c)).astype(np.float32))
        gamma, beta = tf.ones((c,)), tf.zeros((c,))
        steps = {}
        for name in args.variants:
            fn, layer = make_variant(name, c)
            steps[name] = step_fn(fn, layer)
        ref = [t.numpy() for t in step_fn(_fused, None)(x, gamma, beta, dy)]
        for name, step in steps.items():
            got = step(x, gamma, beta, dy)
            for what, a, b in zip(("y", "dx", "dgamma", "dbeta"), ref, got, strict=True):
                err = np.abs(a - b.numpy()).max() / max(np.abs(a).max(), 1e-12)
                if err > args.rtol:
                    raise SystemExit(f"error: {name} differs from fused on {h}x{w}x{c} in {what}: "
                                     f"relative {err:.2e} > --rtol {args.rtol}")
        med = common.median_ms_round_robin(steps, (x, gamma, beta, dy), args.warmup, args.iters)
        rows.append(common.ms_row(f"{h}x{w}x{c}", med, args.variants, "fused"))
        print(common.markdown_row(rows[-1]), flush=True)
    common.print_markdown_table(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
