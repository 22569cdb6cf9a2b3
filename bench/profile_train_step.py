"""Where a train step's time goes: the TF profiler's op trace, summed by kind of work.

Traces ``--steps`` train steps (``bench_train_throughput.make_train_step``:
forward + backward + SGD momentum, one ``tf.function``) of ``--model`` with
``tf.profiler.experimental``, reads the host plane of the resulting
``.xplane.pb`` (``tensorflow.tsl.profiler.protobuf.xplane_pb2``) and sums the
durations of the TensorFlow ops by category, from the op type and the Keras
layer in the op's name:

- ``grouped 1x1 conv fwd`` / ``bwd``: ``Conv2D`` (oneDNN ``_Mkl*Conv2D*``,
  fused variants) / ``Conv2DBackpropInput`` and ``...Filter`` outside the stem's 3x3;
- ``3x3 conv (stem)``: the one dense 3x3 convolution, forward and backward;
- ``depthwise 3x3 fwd`` / ``bwd``;
- ``batch norm fwd`` / ``bwd``: ``FusedBatchNorm*`` and ``FusedBatchNormGrad*``;
  ``batch norm stats``: the moving averages' arithmetic and assignments and the
  folded path's small ops (everything else under a ``/bn/`` name);
- ``stride-2 subsampling``: ``hne_tf.layers.subsample`` in a conv (its reshapes, slice and
  padding gradient; ``StridedSlice`` / ``StridedSliceGrad`` where it falls back);
- ``elementwise``: ReLU/ReLU6 and their gradients, additions, casts, ...;
- ``branch replicate``: the copies of ``BranchReplicate`` (concat/reshape) and their gradients;
- ``head + loss``, ``optimizer`` (SGD updates), ``other``.

The ops run on 2 threads and may overlap (inter-op parallelism): the sums can
exceed the wall time; the share column is of the summed op time.

Example:
  python bench/profile_train_step.py                       # hne_resnet_small, batch 64, about 1 minute
  python bench/profile_train_step.py --inter_op_threads 1 --steps 5
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hne_tf  # noqa: I001 -- first, before TensorFlow loads: it turns on oneDNN (hne_tf/__init__.py)
import keras
import tensorflow as tf
from bench_train_throughput import make_train_step, parse_model_spec, run_steps
from common import env_summary, print_load_average_at_end, set_threads
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from hne_tf import precision

# hne_tf.layers.subsample: a reshape and a slice in the conv layer, and a gradient under the name
# scope "subsample_grad" (StridedSliceGrad in the layer where it falls back to x[:, ::2, ::2]).
# No other op of these types runs inside a conv layer.
_SUBSAMPLE_OPS = ("StridedSlice", "StridedSliceGrad", "Pad", "PadV2", "ExpandDims", "Reshape")


def categorize(name: str, op: str) -> str:
    """The kind of work of one op, from its full name and type."""
    name = re.sub(r"_\d+(?=/|$)", "", name)  # Keras' call-count suffixes: "conv_1/" -> "conv/"
    low, grad = name.lower(), "gradient" in name.lower() or "Grad" in op or "Backprop" in op
    if "subsample_grad" in low or (op in _SUBSAMPLE_OPS and "/conv/" in low):
        return "stride-2 subsampling"
    if "depthwise" in op.lower():
        return "depthwise 3x3 " + ("bwd" if grad else "fwd")
    if "conv2d" in op.lower():
        if "stem_conv3x3" in low:
            return "3x3 conv (stem)"
        return "grouped 1x1 conv " + ("bwd" if "Backprop" in op else "fwd")
    if "batchnorm" in op.lower():
        return "batch norm " + ("bwd" if "Grad" in op else "fwd")
    if "/bn/" in low:
        return "batch norm stats"
    if "replicate" in low:
        return "branch replicate"
    if any(k in op for k in ("ApplyKerasMomentum", "ApplyMomentum", "AssignAdd", "AssignSub")) or "sgd" in low:
        return "optimizer"
    if "/head/" in low or "softmax" in low or "cross_entropy" in low or "einsum" in low.replace("_", ""):
        return "head + loss"
    if any(k in op for k in ("Relu", "Add", "Mul", "Cast", "Sub", "Maximum", "Minimum", "Select")):  # AddN: grad sums
        return "elementwise"
    return "other"


def op_events(logdir: str) -> list[tuple[str, str, float]]:
    """``(op name, op type, seconds)`` of every TensorFlow op on the host in the trace."""
    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise SystemExit(f"error: the profiler wrote no .xplane.pb under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as f:
        space.ParseFromString(f.read())
    out = []
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for ev in line.events:
                md = plane.event_metadata[ev.metadata_id]
                label = md.name  # an op is "full/op/name:OpType" (display_name: the type alone)
                if ":" not in label or "::" in label:
                    continue  # executor and thread-pool events ("ExecutorState::Process", ...)
                name, op = label.rsplit(":", 1)
                if not op.strip() or not name.strip() or "__inference" in label:
                    continue  # the tf.function's own event spans all its ops
                out.append((name, op, ev.duration_ps * 1e-12))
    return out


def summarize(events, steps: int, top: int) -> None:
    """Prints op time per step by category and by op type (markdown)."""
    by_cat, by_op = collections.Counter(), collections.Counter()
    for n, op, sec in events:
        by_cat[categorize(n, op)] += sec
        by_op[op] += sec
    total = sum(by_cat.values())
    print(f"{len(events)} op events, summed op time {total / steps * 1e3:.1f} ms per step (summed over the threads "
          "that ran ops concurrently: compare shares, not ms with wall time)")
    print("\n| category | ms per step | share of op time |\n|---|---|---|")
    for cat, sec in by_cat.most_common():
        print(f"| {cat} | {sec / steps * 1e3:.1f} | {sec / total:.1%} |")
    print(f"\n| op type (top {top}) | ms per step | share |\n|---|---|---|")
    for op, sec in by_op.most_common(top):
        print(f"| {op} | {sec / steps * 1e3:.1f} | {sec / total:.1%} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--model", default="hne_resnet_small", type=parse_model_spec)
    p.add_argument("--input_shape", default="32,32,3")
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--precision", default="off", choices=list(precision.MODES))
    p.add_argument("--intra_op_threads", type=int, default=2)
    p.add_argument("--inter_op_threads", type=int, default=0)
    p.add_argument("--top", type=int, default=12, help="also list the N most expensive op types")
    p.add_argument("--trace", default=None, help="summarize this earlier trace directory instead of tracing")
    args = p.parse_args(argv)
    if args.trace:
        summarize(op_events(args.trace), args.steps, args.top)
        return 0
    set_threads(args.intra_op_threads, args.inter_op_threads)
    print(env_summary())
    name, options = args.model
    shape = tuple(int(v) for v in args.input_shape.split(","))
    previous = precision.apply(args.precision)
    try:
        model = hne_tf.build_model(name, shape, args.num_classes, **options)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    step = make_train_step(model, 0.01, False)
    x = tf.random.normal((args.batch_size,) + shape, seed=0)
    y = tf.random.uniform((args.batch_size,), 0, args.num_classes, dtype=tf.int32, seed=0)
    run_steps(step, x, y, 2)
    logdir = tempfile.mkdtemp(prefix="tfprof_")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    run_steps(step, x, y, args.steps)
    wall = time.perf_counter() - t0
    tf.profiler.experimental.stop()
    print(f"{name} {options or ''} [{args.precision}], batch {args.batch_size}: {args.steps} steps in {wall:.3f} s "
          f"({args.steps * args.batch_size / wall:.1f} img/s under the profiler)")
    summarize(op_events(logdir), args.steps, args.top)
    print(f"trace: {logdir} (summarize again with --trace {logdir} --steps {args.steps})")
    print_load_average_at_end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
