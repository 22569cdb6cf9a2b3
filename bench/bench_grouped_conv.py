"""Times a grouped convolution three ways, forward + backward, in one run.

Variants, all computing the same function (checked before timing):

  ours        hne_tf.layers.GroupedConv2D: one grouped ``tf.nn.conv2d``.
  groups      keras.layers.Conv2D(groups=G, padding="same", use_bias=False).
  per_branch  G keras.layers.Conv2D layers, one per group, on ``tf.split``
              slices of the input, outputs joined with ``tf.concat``.

Each timed call is one ``tf.function`` that runs the convolution and its
backward pass (gradients with respect to the input and the kernel(s), with a
fixed random output gradient). Shapes: ``[batch, hw, hw, G * c]`` in and out,
for every kernel size, G in ``--groups`` and c (channels per group) in
``--channels``.

Timing: ``--warmup`` calls per variant first (the first one traces and
compiles), then the variants are timed round-robin (ours, groups,
per_branch, ours, ...) so that load changes on a shared machine hit them
alike; the table shows the median. A configuration gets ``--iters``
timed rounds, fewer (down to ``--min_iters``) when its rounds would take
longer than ``--budget_s`` in all.

Some variants are very slow on some devices (on CPU, Keras' grouped Conv2D
runs through XLA and its backward pass can take tens of seconds per call at
the larger shapes). Configurations run in increasing order of cost, and a
variant is skipped (shown as ``skip``) when a smaller-or-equal configuration
(kernel, G and c all <=) already took more than ``--max_call_s`` per call,
or when its time per call, extrapolated linearly in MACs from the largest
such configuration measured, would exceed ``--max_call_s``. ``--max_call_s 0`` disables skipping.

Example:
  python bench/bench_grouped_conv.py
  python bench/bench_grouped_conv.py --groups 4,16 --channels 32 --kernel_sizes 1 --iters 5 --csv out.csv
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hne_tf  # noqa: F401, I001 -- first, before TensorFlow loads: it turns on oneDNN (hne_tf/__init__.py)
import keras
import numpy as np
import tensorflow as tf
from common import env_summary, print_load_average_at_end, set_threads, write_csv  # bench/common.py

from hne_tf.layers import GroupedConv2D

tf.get_logger().setLevel("ERROR")  # one tf.function per configuration: silence retracing notes

VARIANTS = ("ours", "groups", "per_branch")


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--hw", type=int, default=8, help="spatial size (hw x hw)")
    p.add_argument("--groups", type=_ints, default=[2, 4, 16], help="comma list of G")
    p.add_argument("--channels", type=_ints, default=[16, 32, 64],
                   help="comma list of channels per group (in and out)")
    p.add_argument("--kernel_sizes", type=_ints, default=[1, 3], help="comma list of kernel sizes")
    p.add_argument("--iters", type=int, default=15, help="timed rounds per configuration (at most)")
    p.add_argument("--min_iters", type=int, default=3, help="timed rounds per configuration (at least)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per variant before timing")
    p.add_argument("--budget_s", type=float, default=4.0,
                   help="target seconds of timed rounds per configuration (all variants together)")
    p.add_argument("--max_call_s", type=float, default=2.0,
                   help="skip a variant whose (predicted) seconds per call exceed this; 0 = never skip")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="max |difference| / max |reference| allowed in the equivalence check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--intra_op_threads", type=int, default=0, help="0 = TensorFlow's default")
    p.add_argument("--inter_op_threads", type=int, default=0, help="0 = TensorFlow's default")
    p.add_argument("--csv", default=None, help="write one row per configuration to this CSV file")
    args = p.parse_args(argv)
    if args.min_iters < 1 or args.iters < args.min_iters:
        p.error("need 1 <= --min_iters <= --iters")
    if args.warmup < 1:
        p.error("--warmup must be >= 1 (the first call traces the function)")
    return args


# ---------------------------------------------------------------- variants

class Variant:
    """A convolution, its kernels (in GroupedConv2D's layout when joined) and a timed step."""

    def __init__(self, name, forward, kernels, join_kernel_grads) -> None:
        self.name = name
        self.forward = forward
        self.kernels = kernels
        self.join = join_kernel_grads
        self.step = None

    def make_step(self, cotangent: tf.Tensor) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
        kernels = self.kernels

        @tf.function
        def step(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = self.forward(x)
            grads = tape.gradient(y, [x] + kernels, output_gradients=cotangent)
            gx, gk = grads[0], self.join(grads[1:])
            # A scalar that depends on both gradients: fetching it waits for
            # the whole step (also on asynchronous devices).
            probe = tf.reduce_sum(gx[0, 0, 0]) + tf.reduce_sum(gk[0, 0, 0])
            return probe, gx, gk

        self.step = step
        return step


def build_variants(x_shape, groups, c, k, seed) -> dict[str, Variant]:
    cin = x_shape[-1]
    ours = GroupedConv2D(groups * c, k, groups=groups, use_bias=False, name="ours")
    ours.build(x_shape)
    kernel = tf.random.stateless_normal(ours.kernel.shape, seed=(seed, 1)) * (2.0 / (k * k * c)) ** 0.5
    ours.kernel.assign(kernel)

    keras_groups = keras.layers.Conv2D(groups * c, k, padding="same", groups=groups, use_bias=False,
                                       name="keras_groups")
    keras_groups.build(x_shape)
    if tuple(keras_groups.kernel.shape) != tuple(ours.kernel.shape):
        raise SystemExit(f"kernel layouts differ: Conv2D(groups) {keras_groups.kernel.shape} vs "
                         f"GroupedConv2D {ours.kernel.shape}")
    keras_groups.kernel.assign(kernel)

    branches = []
    for g in range(groups):
        conv = keras.layers.Conv2D(c, k, padding="same", use_bias=False, name=f"branch{g}")
        conv.build(x_shape[:-1] + (cin // groups,))
        conv.kernel.assign(kernel[..., g * c:(g + 1) * c])
        branches.append(conv)

    def per_branch(x: tf.Tensor) -> tf.Tensor:
        parts = tf.split(x, groups, axis=-1)
        return tf.concat([conv(part) for conv, part in zip(branches, parts, strict=True)], axis=-1)

    return {
        "ours": Variant("ours", lambda x: ours(x), [ours.kernel], lambda g: g[0]),
        "groups": Variant("groups", lambda x: keras_groups(x), [keras_groups.kernel], lambda g: g[0]),
        "per_branch": Variant("per_branch", per_branch, [b.kernel for b in branches],
                              lambda g: tf.concat(g, axis=-1)),
    }


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# ------------------------------------------------------------------ timing

def timed_call(step: Callable, x: tf.Tensor) -> tuple[float, tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    t0 = time.perf_counter()
    out = step(x)
    out[0].numpy()
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> None:  # noqa: C901 -- a benchmark script: each case measured and printed in turn
    args = parse_args(argv)
    set_threads(args.intra_op_threads, args.inter_op_threads)
    print(env_summary())
    print(f"batch {args.batch_size}, {args.hw}x{args.hw} maps, fwd+bwd per call (grads wrt input and "
          f"kernel), median over timed rounds\n")

    configs = [(k, g, c) for k in args.kernel_sizes for g in args.groups for c in args.channels]
    # Increasing cost: kernel size first, then MACs, then G.
    configs.sort(key=lambda t: (t[0], t[0] ** 2 * t[1] * t[2] ** 2, t[1]))

    measured = {v: [] for v in VARIANTS}  # (k, G, c, macs, seconds per call)
    too_slow = {v: [] for v in VARIANTS}  # (k, G, c) that exceeded --max_call_s
    failed = {}  # variant -> reason; not run again
    rows = []
    t_start = time.perf_counter()
    for k, groups, c in configs:
        cin = groups * c
        x_shape = (args.batch_size, args.hw, args.hw, cin)
        macs = args.batch_size * args.hw * args.hw * k * k * c * c * groups  # forward, per call
        x = tf.random.stateless_normal(x_shape, seed=(args.seed, 0))
        cot = tf.random.stateless_normal(x_shape, seed=(args.seed, 2))
        variants = build_variants(x_shape, groups, c, k, args.seed)
        label = f"k={k} G={groups:>2} c={c:>3}"

        # --- equivalence check: forward of all three, before any timing.
        ys = {name: v.forward(x).numpy() for name, v in variants.items()}
        for name in ("groups", "per_branch"):
            err = rel_err(ys[name], ys["ours"])
            if not err <= args.rtol:
                raise SystemExit(f"ABORT {label}: output of {name} differs from ours "
                                 f"(max rel err {err:.2e} > {args.rtol:g})")
        del ys

        # --- which variants to time.
        skip = dict(failed)
        for name in VARIANTS:
            if not args.max_call_s or name in skip:
                continue
            for (k2, g2, c2) in too_slow[name]:
                if k2 <= k and g2 <= groups and c2 <= c:
                    skip[name] = f">{args.max_call_s:g}s at k={k2} G={g2} c={c2}"
                    break
            if name in skip:
                continue
            # Extrapolate linearly in MACs from the largest measured configuration
            # that this one dominates (kernel, G and c all >=).
            ref = [m for m in measured[name] if m[0] <= k and m[1] <= groups and m[2] <= c]
            if ref:
                r = max(ref, key=lambda m: (m[3], m[0], m[1]))
                predicted = r[4] * macs / r[3]
                if predicted > args.max_call_s:
                    skip[name] = f"predicted {predicted:.1f}s/call"
        active = [v for v in VARIANTS if v not in skip]

        # --- warm-up (the first call traces); gradients of the first call are checked.
        probe_s = {}
        grads = {}
        for name in list(active):
            step = variants[name].make_step(cot)
            try:
                for i in range(args.warmup):
                    dt, out = timed_call(step, x)
                    if i == 0:
                        grads[name] = (out[1].numpy(), out[2].numpy())
            except tf.errors.OpError as e:
                # E.g. CPU builds without oneDNN have no gradient for grouped convolutions.
                lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()
                         and not ln.strip().startswith(("[[", "File ", "Detected at node", "Graph execution"))]
                first = (lines[-1] if lines else str(e).strip())[:200]
                print(f"{label}: {name} FAILED ({type(e).__name__}: {first}); not timed from here on")
                failed[name] = f"error: {type(e).__name__}"
                skip[name] = failed[name]
                active.remove(name)
                continue
            probe_s[name] = dt
        for name in active:
            if name == "ours" or "ours" not in grads:
                continue
            for what, a, b in (("input", grads[name][0], grads["ours"][0]),
                               ("kernel", grads[name][1], grads["ours"][1])):
                err = rel_err(a, b)
                if not err <= args.rtol:
                    raise SystemExit(f"ABORT {label}: gradient wrt {what} of {name} differs from ours "
                                     f"(max rel err {err:.2e} > {args.rtol:g})")
        del grads

        # --- timed rounds, round-robin.
        round_s = sum(probe_s.values()) if probe_s else 0.0
        n = int(min(args.iters, max(args.min_iters, args.budget_s // max(round_s, 1e-9))))
        times = {name: [] for name in active}
        for _ in range(n):
            for name in active:
                dt, _ = timed_call(variants[name].step, x)
                times[name].append(dt)

        row = {"kernel": k, "groups": groups, "c_per_group": c, "channels": cin, "batch": args.batch_size,
               "hw": args.hw, "fwd_gmacs_per_call": macs / 1e9, "rounds": n}
        med = {}
        for name in VARIANTS:
            if name in times:
                med[name] = statistics.median(times[name])
                q = np.percentile(times[name], [25, 75])
                row[f"{name}_ms"] = med[name] * 1e3
                row[f"{name}_iqr_ms"] = float(q[1] - q[0]) * 1e3
                measured[name].append((k, groups, c, macs, med[name]))
                if args.max_call_s and med[name] > args.max_call_s:
                    too_slow[name].append((k, groups, c))
            else:
                row[f"{name}_ms"] = ""
                row[f"{name}_iqr_ms"] = ""
            row[f"{name}_skipped"] = skip.get(name, "")
        for other in ("groups", "per_branch"):
            ok = "ours" in med and other in med
            row[f"ours_over_{other}"] = med["ours"] / med[other] if ok else ""
        row["ours_fwd_bwd_gmac_per_s"] = 3 * macs / med["ours"] / 1e9 if "ours" in med else ""
        rows.append(row)
        print(f"{label}: " + ", ".join(
            f"{name} {row[f'{name}_ms']:.2f} ms" if name in med else f"{name} skipped ({skip[name]})"
            for name in VARIANTS) + f"  [{n} rounds]", flush=True)

    elapsed = time.perf_counter() - t_start
    print("\n" + format_table(rows))
    print(f"\nratio = ours time / other time (< 1: ours faster). IQR in the CSV. "
          f"Total {elapsed:.0f} s.")
    print_load_average_at_end()
    slower = [r for r in rows for o in ("groups", "per_branch")
              if r[f"ours_over_{o}"] != "" and r[f"ours_over_{o}"] > 1.0]
    if slower:
        print("NOTE: ours was slower than an alternative in "
              f"{len({(r['kernel'], r['groups'], r['c_per_group']) for r in slower})} configuration(s) "
              "(ratio > 1 above).")
    if args.csv:
        write_csv(args.csv, rows)


def format_table(rows: list[dict]) -> str:
    def ms(v: float | str) -> str:
        return f"{v:.2f}" if v != "" else "skip"

    def ratio(v: float | str) -> str:
        return f"{v:.3f}" if v != "" else "-"

    head = (f"{'k':>2} {'G':>3} {'c/G':>4} {'C':>5} | {'ours ms':>9} {'groups ms':>10} {'branch ms':>10} | "
            f"{'ours/groups':>11} {'ours/branch':>11} | {'n':>3}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['kernel']:>2} {r['groups']:>3} {r['c_per_group']:>4} {r['channels']:>5} | "
            f"{ms(r['ours_ms']):>9} {ms(r['groups_ms']):>10} {ms(r['per_branch_ms']):>10} | "
            f"{ratio(r['ours_over_groups']):>11} {ratio(r['ours_over_per_branch']):>11} | {r['rounds']:>3}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
