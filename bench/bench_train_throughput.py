"""Train-step throughput of tree ensembles against a fair dense ResNet, as MAC rates and shares of peak.

For every model in ``--models`` (default ``hne_resnet_small``) the script
builds dense references from the same preset machinery,
``hne_tf.build_model("hne_resnet", input_shape, num_classes,
branching=(1, 1, 1, 1, 1), width=w, repeats=r)`` (one path; bottleneck
blocks with a depthwise 3x3, as in the HNE presets):

- ``fair`` (default): every channel count a multiple of 8, as MobileNet's
  make-divisible rule rounds them (hardware kernels are fastest there):
  ``w`` is the width found by bisection rounded to the nearest multiple of 0.5 (this
  preset's counts are 16w, 64w, 128w, 256w and their quarters), then the
  depth ``r`` (blocks per stage) is chosen so that forward MACs match the
  tree's as closely as possible while keeping the preset's proportions
  (``fair_dense``); both MAC counts are printed.
- ``bisect``: the width bisected until MACs are within ``--mac_tol``, default
  depth. Its channel counts are odd (23/91/363 for ``hne_resnet_small``), on
  which TF's fused batch norm used to be 2-3x slower; kept for comparison.

One train step = forward + backward + SGD (momentum) update inside one
``tf.function``, on a fixed synthetic batch. Loss: mean sparse categorical
cross-entropy over all leaves of ``outputs["logits"]``. ``--precisions``
(default ``float32,bfloat16``) also times each tree model built under the
``hne_tf.precision`` policy of each mode (float32 variables, bfloat16
compute). After ``--warmup_steps``, all models are timed in turn,
``--steps`` steps per repeat, ``--repeats`` repeats, round-robin, in ONE run;
images/s is the median over repeats.

Reported per model: images/s, forward MACs per image (``hne_tf.cost_table``,
convolutions and dense layers only), the forward-MAC rate (GMAC/s), the
share of the fp32 peak (forward MACs/image x 3 (forward + two backward
products) x images/s / peak MAC/s; the peak is measured, a float32 matrix
product on the same thread count, and printed beside the one derived from
/proc/cpuinfo, see ``bench/peak.py``), and for a tree the ratio of its MAC rate to
each dense reference's, and bfloat16 / float32 images/s.

Examples:
  python bench/bench_train_throughput.py
  python bench/bench_train_throughput.py --batch_size 32 --steps 3 --repeats 3 --csv out.csv
  python bench/bench_train_throughput.py --dense fair,bisect --precisions float32
  python bench/bench_train_throughput.py --models "hne_resnet_small:branching=(1,1,1,16,1)"
"""

from __future__ import annotations

import argparse
import ast
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hne_tf  # noqa: I001 -- first, before TensorFlow loads: it turns on oneDNN (hne_tf/__init__.py)
import keras
import tensorflow as tf
from common import env_summary, print_load_average_at_end, set_threads, write_csv  # bench/common.py
from peak import cpu_peak  # bench/peak.py

from hne_tf import osutil, precision

DENSE_PRESET = "hne_resnet"
DENSE_BRANCHING = (1, 1, 1, 1, 1)
DENSE_REPEATS = (2, 3, 3, 4)  # the preset's default depth


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
    p.add_argument("--dense", default="fair", help="dense references: comma-separated 'fair' and/or 'bisect'")
    p.add_argument("--precisions", default="float32,bfloat16",
                   help=f"precision modes to time the tree models in ({', '.join(precision.MODES)}; "
                        "float32 = off)")
    derived = " (any of these three: the derived peak is used, not the measured one)"
    p.add_argument("--clock_ghz", type=float, default=None, help="override the clock of the peak" + derived)
    p.add_argument("--fma_units", type=int, default=None, help="override FMA units per core of the peak" + derived)
    p.add_argument("--lanes", type=int, default=None, help="override fp32 lanes per FMA unit of the peak" + derived)
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
    args.dense = [d.strip() for d in args.dense.split(",") if d.strip()]
    if not set(args.dense) <= {"fair", "bisect"}:
        p.error(f"--dense: expected fair and/or bisect, got {args.dense}")
    args.precisions = ["off" if m.strip() == "float32" else m.strip() for m in args.precisions.split(",")]
    for m in args.precisions:
        if m not in precision.MODES:
            p.error(f"--precisions: {m!r} is not one of float32, {', '.join(precision.MODES)}")
    if min(args.steps, args.repeats, args.warmup_steps, args.batch_size) < 1:
        p.error("--steps, --repeats, --warmup_steps and --batch_size must be >= 1")
    return args


# --------------------------------------------------------------- the models

def full_macs(model: hne_tf.TreeEnsemble) -> int:
    return int(hne_tf.cost_table(model)["full_macs"])


def activation_elements(model, input_shape) -> int:
    """Elements per image written by the convolutions of the training-mode forward pass.

    Sums the output sizes of every ``Conv2D`` and ``DepthwiseConv2dNative`` op in the graph of
    ``model(x, training=True)`` for one image. Each of these tensors then goes through batch norm
    and an activation, and back again in the backward pass, so this is a proxy for the step's
    memory traffic; forward MACs per element is the network's arithmetic intensity.
    """
    fn = tf.function(lambda x: model(x, training=True))
    graph = fn.get_concrete_function(tf.TensorSpec((1,) + tuple(input_shape), tf.float32)).graph
    return sum(math.prod(op.outputs[0].shape) for op in graph.get_operations()
               if op.type in ("Conv2D", "DepthwiseConv2dNative"))


def build_dense(input_shape, num_classes, width, repeats=DENSE_REPEATS) -> hne_tf.TreeEnsemble:
    return hne_tf.build_model(DENSE_PRESET, input_shape, num_classes, branching=DENSE_BRANCHING,
                              width=width, repeats=tuple(repeats))


def channel_counts(model) -> list[int]:
    """Channel counts of every batch norm of ``model`` (the activations' widths)."""
    return sorted({int(v.shape[0]) for v in model.variables if v.path.endswith("/moving_mean")})


def fair_dense(target, input_shape, num_classes, bisected_width, log=print) -> tuple[float, tuple, int]:
    """Width rounded to channel counts that are multiples of 8, depth chosen to match ``target`` MACs.

    The width is ``bisected_width`` rounded to the nearest multiple of 0.5
    (at least 0.5): each channel count rounded to the nearest multiple of 8,
    as MobileNet's rule does. Forward MACs are linear in the
    blocks per stage (``base + sum(r_i * m_i)``, measured from 5 builds), so
    every depth up to three times the preset's is scanned. Returns
    ``(width, repeats, macs)`` minimizing the relative MAC error plus 0.5% per
    block of distance from the preset's depth proportions.
    """
    best = None
    for width in [max(0.5, round(bisected_width * 2) / 2)]:
        base = full_macs(build_dense(input_shape, num_classes, width, (0, 0, 0, 0)))
        per = [full_macs(build_dense(input_shape, num_classes, width, tuple(int(i == b) for i in range(4)))) - base
               for b in range(4)]
        scale = (target - base) / sum(r * m for r, m in zip(DENSE_REPEATS, per, strict=True))
        for reps in itertools.product(*(range(3 * r + 1) for r in DENSE_REPEATS)):
            macs = base + sum(r * m for r, m in zip(reps, per, strict=True))
            shape = sum(abs(r - scale * d) for r, d in zip(reps, DENSE_REPEATS, strict=True))
            # 0.5% of MACs per block away from the preset's proportions: a deep, lopsided net
            # (e.g. no blocks in the first stages) must beat a balanced one by more than that.
            key = abs(macs / target - 1) + 0.005 * shape
            if best is None or key < best[0]:
                best = (key, width, reps, macs)
        log(f"  fair dense: width {width} (channels {channel_counts(build_dense(input_shape, num_classes, width))})")
    _, width, reps, macs = best
    return width, reps, macs


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


def _dense_entries(args, label, macs) -> list[dict]:
    """The dense references of one tree (``--dense``), as entries."""
    out = []
    if args.dense_width is not None:
        bisected = args.dense_width
        dmodel = build_dense(args.input_shape, args.num_classes, bisected)
        bmacs = full_macs(dmodel)
    else:
        print(f"  bisecting the dense width to {macs / 1e6:.2f} MMACs (tol {args.mac_tol:.1%}):")
        bisected, bmacs, dmodel = match_dense(macs, args.input_shape, args.num_classes, args.mac_tol,
                                              log=lambda *_: None)
    if "fair" in args.dense:
        width, reps, fmacs = fair_dense(macs, args.input_shape, args.num_classes, bisected)
        fmodel = build_dense(args.input_shape, args.num_classes, width, reps)
        out.append({"label": f"dense fair: width={width}, repeats={reps}", "model": fmodel, "macs": fmacs,
                    "kind": "fair", "channels": channel_counts(fmodel)})
    if "bisect" in args.dense:
        out.append({"label": f"dense bisected: width={bisected:.4f}, repeats={DENSE_REPEATS}", "model": dmodel,
                    "macs": bmacs, "kind": "bisect", "channels": channel_counts(dmodel)})
    for d in out:
        d.update(reference=[], precision="float32", note=f"MAC-matched to {label}")
        odd = [c for c in d["channels"] if c % 8]
        print(f"  {d['label']}: {d['macs'] / 1e6:.2f} forward MMACs/image vs {macs / 1e6:.2f} "
              f"({d['macs'] / macs - 1:+.2%}), {d['model'].count_params():,} params, channel counts "
              f"{d['channels']}" + (f" ({len(odd)} not multiples of 8)" if odd else " (all multiples of 8)"))
    return out


def main(argv: list[str] | None = None) -> list[dict]:  # noqa: C901 -- a benchmark script: each case measured and printed in turn
    """Runs the benchmark; returns the table's rows (one dict per model, the CSV's columns)."""
    args = parse_args(argv)
    set_threads(args.intra_op_threads, args.inter_op_threads)
    print(env_summary())
    threads = args.intra_op_threads or osutil.host_cpus()
    peak, derivation = cpu_peak(threads, args.clock_ghz, args.fma_units, args.lanes)
    print(derivation)
    print(f"input {args.input_shape}, {args.num_classes} classes, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats after {args.warmup_steps} warm-up steps, "
          f"jit_compile={args.jit_compile}\n")
    tf.random.set_seed(args.seed)
    keras.utils.set_random_seed(args.seed)

    # entries: dict(label, model, macs, reference labels, precision, note)
    entries = []
    dense_by_target = {}
    for name, options in args.models:
        label = name + "".join(f":{k}={v}" for k, v in options.items())
        trees = []
        for mode in args.precisions:
            t0 = time.perf_counter()
            previous = precision.apply(mode)
            try:
                model = hne_tf.build_model(name, args.input_shape, args.num_classes, **options)
            finally:
                keras.mixed_precision.set_global_policy(previous)
            macs = full_macs(model)
            shown = "float32" if mode == "off" else mode
            tlabel = label if mode == "off" else f"{label} [{shown}]"
            print(f"{tlabel}: {model.num_leaves} leaves, {macs / 1e6:.2f} forward MMACs/image, "
                  f"{model.count_params():,} params (built in {time.perf_counter() - t0:.1f} s)")
            trees.append({"label": tlabel, "model": model, "macs": macs, "reference": [], "precision": shown,
                          "note": ""})
        entries.extend(trees)
        if args.no_dense:
            continue
        macs = trees[0]["macs"]
        if macs not in dense_by_target:
            dense_by_target[macs] = _dense_entries(args, label, macs)
            entries.extend(dense_by_target[macs])
        for t in trees:
            t["reference"] = [d["label"] for d in dense_by_target[macs]]
            t["float32_label"] = trees[0]["label"] if trees[0]["precision"] == "float32" else None
    for e in entries:
        e.setdefault("reference", [])

    x = tf.random.normal((args.batch_size,) + tuple(args.input_shape), seed=args.seed)
    y = tf.random.uniform((args.batch_size,), 0, args.num_classes, dtype=tf.int32, seed=args.seed)

    print("\nwarm-up (tracing and first steps):")
    for e in entries:
        e["elements"] = activation_elements(e["model"], args.input_shape)
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

    print("\ntimed repeats (images/s), round-robin in this order: " + " | ".join(e["label"] for e in entries))
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
        row = {"model": e["label"], "precision": e["precision"], "leaves": e["model"].num_leaves,
               "params": e["model"].count_params(), "fwd_macs_per_image": e["macs"], "images_per_s": med,
               "activation_elements_per_image": e["elements"], "macs_per_element": e["macs"] / e["elements"],
               "images_per_s_min": min(ips), "images_per_s_max": max(ips), "fwd_gmac_per_s": e["macs"] * med / 1e9,
               "share_of_fp32_peak": 3 * e["macs"] * med * 2 / peak,
               "reference": ";".join(e["reference"]), "rate_ratios": "", "intensity_ratios": "",
               "vs_float32": "", "note": e["note"],
               "batch_size": args.batch_size, "input_shape": "x".join(map(str, args.input_shape)),
               "steps": args.steps, "repeats": args.repeats, "device": _device(), "peak_gflops": peak / 1e9}
        rows.append(row)
        by_label[e["label"]] = (row, e)
    for row in rows:
        e = by_label[row["model"]][1]
        if e["reference"]:
            row["rate_ratios"] = ";".join(
                f"{row['fwd_gmac_per_s'] / by_label[ref][0]['fwd_gmac_per_s']:.3f}" for ref in e["reference"])
            row["intensity_ratios"] = ";".join(
                f"{row['macs_per_element'] / by_label[ref][0]['macs_per_element']:.3f}" for ref in e["reference"])
        f32 = e.get("float32_label")
        if f32 and f32 != row["model"]:
            row["vs_float32"] = f"{row['images_per_s'] / by_label[f32][0]['images_per_s']:.3f}"

    print("\n" + format_table(rows))
    print(f"\nfwd GMAC/s = forward MACs per image (hne_tf.cost_table) x images/s of the TRAIN step. % peak = "
          f"fwd MACs/image x 3 x images/s / fp32 peak ({peak / 2e9:.1f} GMAC/s, see above); bfloat16 rows are "
          "measured against the same fp32 peak. act. M/img = elements per image written by the "
          "convolutions (training-mode forward), MACs/act. = fwd MACs per such element (arithmetic "
          "intensity): a step bound by activation traffic has a MAC-rate ratio near the intensity ratio.")
    for row in rows:
        e = by_label[row["model"]][1]
        ratios = row["rate_ratios"].split(";") if row["rate_ratios"] else []
        intensities = row["intensity_ratios"].split(";") if row["intensity_ratios"] else []
        for ref, ratio, intensity in zip(e["reference"], ratios, intensities, strict=False):
            print(f"{row['model']}: MAC rate / {ref}'s = {ratio}; MACs per activation / {ref}'s = {intensity}")
        if row["vs_float32"]:
            print(f"{row['model']}: images/s / float32's = {row['vs_float32']}")
    print_load_average_at_end()
    if args.csv:
        write_csv(args.csv, rows)
    return rows


def _device() -> str:
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else "CPU"


def format_table(rows: list[dict]) -> str:
    """Markdown: one row per model."""
    lines = ["| model | leaves | fwd MMACs/img | act. M/img | MACs/act. | images/s (min-max) | fwd GMAC/s | "
             "% fp32 peak | MAC-rate ratio vs dense | vs float32 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['leaves']} | {r['fwd_macs_per_image'] / 1e6:.2f} | "
                     f"{r['activation_elements_per_image'] / 1e6:.2f} | {r['macs_per_element']:.1f} | "
                     f"{r['images_per_s']:.1f} ({r['images_per_s_min']:.1f}-{r['images_per_s_max']:.1f}) | "
                     f"{r['fwd_gmac_per_s']:.2f} | {100 * r['share_of_fp32_peak']:.1f} | "
                     f"{r['rate_ratios'].replace(';', ' / ') or '-'} | {r['vs_float32'] or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
