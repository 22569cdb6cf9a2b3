"""Train-step throughput of tree ensembles against a dense ResNet of equal MACs.

For every model in ``--models`` (default ``hne_resnet_small``) the script
builds a dense reference from the same preset machinery,
``hne_tf.build_model("hne_resnet", input_shape, num_classes,
branching=(1, 1, 1, 1, 1), width=w)`` (one path; bottleneck blocks with a
depthwise 3x3, as in the HNE presets), with ``w`` found by bisection so that
its forward MACs per image (``hne_tf.cost_table(model)["full_macs"]``) match
the model's within ``--mac_tol``.

One train step = forward + backward + SGD (momentum) update inside one
``tf.function``, on a fixed synthetic batch. Loss: mean sparse categorical
cross-entropy over all leaves of ``outputs["logits"]`` (``[batch, leaves,
classes]``). After ``--warmup_steps`` (the first traces the step), the
models are timed in turn, ``--steps`` steps per repeat, ``--repeats``
repeats, round-robin (model 1, dense 1, model 2, ..., model 1, ...) so that
load changes on a shared machine hit every model alike; images/s is the
median over repeats.

Reported per model: images/s, forward MACs per image (from
``hne_tf.cost_table``, convolutions and dense layers only) and the achieved
rate of forward MACs per second (forward MACs/image x images/s, in GMAC/s;
a train step executes about three times as many MACs). For each tree model:
its rate / its dense reference's rate (the target is >= 0.5).

Nothing here is device specific: on a machine with a GPU TensorFlow places
the models there.

Examples:
  python bench/bench_train_throughput.py
  python bench/bench_train_throughput.py --batch_size 32 --steps 3 --repeats 3 --csv out.csv
  python bench/bench_train_throughput.py --models hne_mobilenetv2 --input_shape 224,224,3 --num_classes 1000
  python bench/bench_train_throughput.py --models "hne_resnet_small:branching=(1,1,1,16,1)"
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import tensorflow as tf
from common import env_summary, set_threads  # bench/common.py

import hne_tf

DENSE_PRESET = "hne_resnet"
DENSE_BRANCHING = (1, 1, 1, 1, 1)


def _shape(text: str) -> tuple[int, ...]:
    dims = tuple(int(v) for v in text.split(","))
    if len(dims) != 3:
        raise argparse.ArgumentTypeError("expected H,W,C")
    return dims


def parse_model_spec(text: str) -> tuple[str, dict]:
    """``preset`` or ``preset:key=value:key=value`` (values are Python literals)."""
    name, *opts = text.split(":")
    options = {}
    for o in opts:
        if "=" not in o:
            raise argparse.ArgumentTypeError(f"bad option {o!r} in {text!r}; expected key=value")
        key, value = o.split("=", 1)
        try:
            options[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = value.strip()
    return name.strip(), options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--models", nargs="+", default=[parse_model_spec("hne_resnet_small")], type=parse_model_spec,
                   help="presets to time, each as NAME or NAME:key=value[:key=value] "
                        f"(valid names: {', '.join(hne_tf.list_models())})")
    p.add_argument("--input_shape", type=_shape, default=(32, 32, 3), help="H,W,C")
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="train steps per timed repeat")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per model (median reported)")
    p.add_argument("--warmup_steps", type=int, default=2, help="untimed steps first (the first traces)")
    p.add_argument("--no_dense", action="store_true", help="do not build the MAC-matched dense references")
    p.add_argument("--dense_width", type=float, default=None,
                   help="use this width for the dense reference instead of bisecting")
    p.add_argument("--mac_tol", type=float, default=0.02,
                   help="relative tolerance of the dense reference's MACs")
    p.add_argument("--learning_rate", type=float, default=0.01)
    p.add_argument("--jit_compile", action="store_true", help="compile the train step with XLA")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--intra_op_threads", type=int, default=0, help="0 = TensorFlow's default")
    p.add_argument("--inter_op_threads", type=int, default=0, help="0 = TensorFlow's default")
    p.add_argument("--csv", default=None, help="write one row per model to this CSV file")
    args = p.parse_args(argv)
    if min(args.steps, args.repeats, args.warmup_steps, args.batch_size) < 1:
        p.error("--steps, --repeats, --warmup_steps and --batch_size must be >= 1")
    return args


# --------------------------------------------------------------- the models

def full_macs(model: hne_tf.TreeEnsemble) -> int:
    return int(hne_tf.cost_table(model)["full_macs"])


def build_dense(input_shape, num_classes, width) -> hne_tf.TreeEnsemble:
    return hne_tf.build_model(DENSE_PRESET, input_shape, num_classes, branching=DENSE_BRANCHING,
                              width=width)


def match_dense(target, input_shape, num_classes, tol, log=print) -> tuple[float, int, hne_tf.TreeEnsemble]:
    """Bisects the dense reference's width until its forward MACs are within ``tol`` of ``target``.

    MACs grow with the width (about quadratically; channel counts are
    rounded, so it is a step function). Returns ``(width, macs, model)``.
    """
    cache = {}

    def macs_at(w: float) -> int:
        if w not in cache:
            model = build_dense(input_shape, num_classes, w)
            cache[w] = (full_macs(model), model)
            log(f"  dense width {w:.4f}: {cache[w][0] / 1e6:.2f} MMACs")
        return cache[w][0]

    # Bracket [lo, hi] with macs(lo) <= target <= macs(hi), starting from a
    # quadratic guess.
    w = 1.0
    m = macs_at(w)
    guess = w * math.sqrt(target / m)
    lo, hi = guess / 1.15, guess * 1.15
    while macs_at(lo) > target:
        lo /= 1.5
    while macs_at(hi) < target:
        hi *= 1.5
    best = min(cache, key=lambda v: abs(cache[v][0] / target - 1))
    for _ in range(40):
        if abs(cache[best][0] / target - 1) <= tol:
            break
        mid = math.sqrt(lo * hi)
        if macs_at(mid) < target:
            lo = mid
        else:
            hi = mid
        best = min(cache, key=lambda v: abs(cache[v][0] / target - 1))
        if hi / lo < 1 + 1e-6:
            break
    macs, model = cache[best]
    return best, macs, model


# --------------------------------------------------------------- train step

def make_train_step(model, learning_rate, jit_compile) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    variables = list(model.trainable_variables)
    optimizer.build(variables)

    def loss_fn(x, y, training) -> tf.Tensor:
        logits = tf.cast(model(x, training=training)["logits"], tf.float32)  # [batch, leaves, classes]
        labels = tf.broadcast_to(y[:, None], tf.shape(logits)[:2])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    # Training-only variables that the logits do not depend on (OEMC's
    # adaptation convolutions, ONE's gate) get no gradient here: leave them out.
    with tf.GradientTape() as tape:
        loss = loss_fn(tf.zeros((2,) + model.image_shape), tf.zeros((2,), tf.int32), True)
    used = [v for v, g in zip(variables, tape.gradient(loss, variables), strict=True) if g is not None]
    if len(used) < len(variables):
        print(f"  {model.name}: {len(variables) - len(used)} trainable variables get no gradient from "
              "the logits loss; they are not updated")

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(x, y, True)
        grads = tape.gradient(loss, used)
        optimizer.apply_gradients(zip(grads, used, strict=True))
        return loss

    return train_step


def run_steps(step, x, y, n) -> tuple[float, float]:
    t0 = time.perf_counter()
    for _ in range(n):
        loss = step(x, y)
    loss = float(loss.numpy())  # waits for the last step (and, in order, all before it)
    return time.perf_counter() - t0, loss


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_threads(args.intra_op_threads, args.inter_op_threads)
    print(env_summary())
    print(f"input {args.input_shape}, {args.num_classes} classes, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats after {args.warmup_steps} warm-up steps, "
          f"jit_compile={args.jit_compile}\n")
    tf.random.set_seed(args.seed)
    keras.utils.set_random_seed(args.seed)

    # entries: dict(label, model, macs, reference (label of its dense net or None), note)
    entries = []
    dense_by_target = {}
    for name, options in args.models:
        t0 = time.perf_counter()
        model = hne_tf.build_model(name, args.input_shape, args.num_classes, **options)
        macs = full_macs(model)
        label = name + "".join(f":{k}={v}" for k, v in options.items())
        print(f"{label}: {model.num_leaves} leaves, {macs / 1e6:.2f} forward MMACs/image, "
              f"{model.count_params():,} params (built in {time.perf_counter() - t0:.1f} s)")
        entry = {"label": label, "model": model, "macs": macs, "reference": None, "note": ""}
        entries.append(entry)
        if args.no_dense:
            continue
        if macs not in dense_by_target:
            if args.dense_width is not None:
                dmodel = build_dense(args.input_shape, args.num_classes, args.dense_width)
                width, dmacs = args.dense_width, full_macs(dmodel)
            else:
                print(f"  bisecting the dense width to {macs / 1e6:.2f} MMACs (tol {args.mac_tol:.1%}):")
                width, dmacs, dmodel = match_dense(macs, args.input_shape, args.num_classes, args.mac_tol,
                                                   log=print)
            dlabel = f"dense {DENSE_PRESET}(branching={DENSE_BRANCHING}, width={width:.4f})"
            dense = {"label": dlabel, "model": dmodel, "macs": dmacs, "reference": None,
                     "note": f"MAC-matched to {label}"}
            dense_by_target[macs] = dense
            entries.append(dense)
            print(f"  {dlabel}: {dmacs / 1e6:.2f} forward MMACs/image vs {macs / 1e6:.2f} "
                  f"({dmacs / macs - 1:+.2%}), {dmodel.count_params():,} params")
            if abs(dmacs / macs - 1) > args.mac_tol:
                print(f"  WARNING: could not match MACs within {args.mac_tol:.1%}")
        entry["reference"] = dense_by_target[macs]["label"]

    x = tf.random.normal((args.batch_size,) + tuple(args.input_shape), seed=args.seed)
    y = tf.random.uniform((args.batch_size,), 0, args.num_classes, dtype=tf.int32, seed=args.seed)

    print("\nwarm-up (tracing and first steps):")
    for e in entries:
        t0 = time.perf_counter()
        try:
            e["step"] = make_train_step(e["model"], args.learning_rate, args.jit_compile)
            _, loss = run_steps(e["step"], x, y, args.warmup_steps)
        except tf.errors.OpError as err:
            # E.g. CPU builds without oneDNN (TF_ENABLE_ONEDNN_OPTS=0) have no
            # gradient for grouped convolutions.
            first = str(err).strip().splitlines()[0][:300]
            raise SystemExit(f"ABORT: train step of {e['label']} failed: {type(err).__name__}: {first}") from err
        e["times"] = []
        print(f"  {e['label']}: {time.perf_counter() - t0:.1f} s, loss {loss:.3f}")
        if not math.isfinite(loss):
            raise SystemExit(f"ABORT: non-finite loss for {e['label']}")

    print("\ntimed repeats (images/s):")
    for r in range(args.repeats):
        line = []
        for e in entries:
            dt, _ = run_steps(e["step"], x, y, args.steps)
            e["times"].append(dt)
            line.append(f"{args.steps * args.batch_size / dt:.1f}")
        print(f"  repeat {r + 1}: " + "  ".join(line), flush=True)

    rows = []
    by_label = {}
    for e in entries:
        ips = [args.steps * args.batch_size / t for t in e["times"]]
        med = statistics.median(ips)
        row = {"model": e["label"], "leaves": e["model"].num_leaves, "params": e["model"].count_params(),
               "fwd_macs_per_image": e["macs"], "images_per_s": med, "images_per_s_min": min(ips),
               "images_per_s_max": max(ips), "fwd_gmac_per_s": e["macs"] * med / 1e9,
               "reference": e["reference"] or "", "rate_ratio_vs_reference": "", "note": e["note"],
               "batch_size": args.batch_size, "input_shape": "x".join(map(str, args.input_shape)),
               "steps": args.steps, "repeats": args.repeats, "device": _device()}
        rows.append(row)
        by_label[e["label"]] = row
    for row in rows:
        if row["reference"]:
            row["rate_ratio_vs_reference"] = row["fwd_gmac_per_s"] / by_label[row["reference"]]["fwd_gmac_per_s"]

    print("\n" + format_table(rows))
    print("\nfwd GMAC/s = forward MACs per image (hne_tf.cost_table) x images/s of the TRAIN step; "
          "a train step runs about 3x as many MACs.")
    for row in rows:
        if row["reference"]:
            ratio = row["rate_ratio_vs_reference"]
            print(f"{row['model']}: forward-MAC rate / dense reference's = {ratio:.3f} "
                  f"({'meets' if ratio >= 0.5 else 'BELOW'} the 0.5 target)")
    if hasattr(os, "getloadavg"):
        print("load average at end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    if args.csv:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")


def _device() -> str:
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else "CPU"


def format_table(rows: list[dict]) -> str:
    head = (f"{'model':<58} {'leaves':>6} {'fwd MMACs/img':>13} {'images/s':>9} {'(min-max)':>15} "
            f"{'fwd GMAC/s':>10} {'rate ratio':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        spread = f"{r['images_per_s_min']:.1f}-{r['images_per_s_max']:.1f}"
        ratio = f"{r['rate_ratio_vs_reference']:.3f}" if r["rate_ratio_vs_reference"] != "" else "-"
        lines.append(f"{r['model'][:58]:<58} {r['leaves']:>6} {r['fwd_macs_per_image'] / 1e6:>13.2f} "
                     f"{r['images_per_s']:>9.1f} {spread:>15} {r['fwd_gmac_per_s']:>10.2f} {ratio:>10}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
