"""Stride-2 subsampling of NHWC activations, forward + backward.

In training, ``GroupedConv2D`` runs a strided 1x1 convolution as a
subsample followed by a stride-1 convolution (a workaround for oneDNN's
strided 1x1 filter gradient, see ``GroupedConv2D.call``). This script times
the subsample alone: one call of ``x[:, ::s, ::s, :]`` and its gradient with
respect to ``x`` (one ``tf.function``; the upstream gradient is a fixed
random tensor), at the shapes of ``hne_resnet_small``'s two strided
projection shortcuts (batch 64: 32x32x128 and 16x16x512) and one more.

Variants (columns):

- ``ours``: ``hne_tf.layers.subsample`` (a reshape and a contiguous slice,
  and a zero-padding gradient);
- ``slice``: ``x[:, ::s, ::s, :]`` (``StridedSlice`` and ``StridedSliceGrad``,
  what ``GroupedConv2D`` used before);
- ``avgpool``: ``tf.nn.avg_pool2d`` with a 1x1 window and stride ``s``.

Every shape first checks that all variants give exactly the same output and
gradient, then times them round-robin, ``--iters`` rounds after
``--warmup``, and prints the median in ms and each variant's time over
``slice``'s.

Example:
  python bench/bench_subsample.py                       # under a minute on 2 CPU cores
  python bench/bench_subsample.py --shapes 32x32x128 --stride 2 --iters 30
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # bench/common.py
import numpy as np
import tensorflow as tf

from hne_tf.layers import subsample

VARIANTS: dict[str, Callable[[tf.Tensor, int], tf.Tensor]] = {
    "ours": lambda x, s: subsample(x, s),
    "slice": lambda x, s: x[:, ::s, ::s, :],
    "avgpool": lambda x, s: tf.nn.avg_pool2d(x, 1, s, "VALID"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--shapes", default="32x32x128,16x16x512,8x8x1024", help="comma-separated HxWxC input shapes")
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--iters", type=int, default=20, help="timed rounds")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--intra_op_threads", type=int, default=2)
    p.add_argument("--inter_op_threads", type=int, default=1)
    args = p.parse_args(argv)
    args.shapes = common.parse_hwc_shapes(p, args.shapes)
    if args.stride < 1:
        p.error(f"--stride must be at least 1, got {args.stride}")
    args.variants = common.parse_variants(p, args.variants, VARIANTS)
    return args


def step_fn(fn, stride) -> Callable:
    @tf.function
    def step(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x, stride)
        return y, tape.gradient(y, x, output_gradients=dy)
    return step


def main(argv=None) -> int:
    args = parse_args(argv)
    common.start_run(args, f"batch {args.batch_size}, stride {args.stride}, subsample forward + backward, "
                           f"median of {args.iters} rounds, ms")
    rng = np.random.default_rng(0)
    header = common.ratio_header(args.variants, "slice")
    rows = []
    s = args.stride
    for h, w, c in args.shapes:
        x = tf.constant(rng.standard_normal((args.batch_size, h, w, c)).astype(np.float32))
        dy = tf.constant(rng.standard_normal((args.batch_size, -(-h // s), -(-w // s), c)).astype(np.float32))
        steps = {n: step_fn(VARIANTS[n], s) for n in args.variants}
        ref = [t.numpy() for t in step_fn(VARIANTS["slice"], s)(x, dy)]
        for name, step in steps.items():
            for what, a, b in zip(("y", "dx"), ref, step(x, dy), strict=True):
                if not np.array_equal(a, b.numpy()):
                    raise SystemExit(f"error: {name} differs from slice on {h}x{w}x{c} in {what}")
        med = common.median_ms_round_robin(steps, (x, dy), args.warmup, args.iters)
        rows.append(common.ms_row(f"{h}x{w}x{c}", med, args.variants, "slice"))
        print(common.markdown_row(rows[-1]), flush=True)
    common.print_markdown_table(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
