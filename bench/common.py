"""Shared by the benchmark scripts: thread settings, the environment header and the CSV output."""

import argparse  # noqa: I001 -- hne_tf is imported before keras and tensorflow below, on purpose
import csv
import os
import platform
import statistics
import time
from collections.abc import Callable

import hne_tf  # before TensorFlow loads: it turns on oneDNN (hne_tf/__init__.py)
import keras
import tensorflow as tf


def set_threads(intra_op_threads: int, inter_op_threads: int) -> None:
    """Applies the --intra_op_threads / --inter_op_threads flags (0 keeps TF's default)."""
    # A second call with the same values (bench/report.py runs two scripts in one process) is a
    # no-op: TensorFlow refuses to change these once its runtime has started.
    if intra_op_threads and tf.config.threading.get_intra_op_parallelism_threads() != intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    if inter_op_threads and tf.config.threading.get_inter_op_parallelism_threads() != inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)


def env_summary() -> str:
    """Versions, devices, oneDNN and thread settings, load average: printed before every table."""
    lines = [f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}, "
             f"{platform.machine()}, {os.cpu_count()} CPUs visible",
             "devices: " + ", ".join(d.name for d in tf.config.list_logical_devices())]
    from hne_tf.layers.kernels import onednn_enabled  # noqa: PLC0415 (TensorFlow is loaded by now)

    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    # The variable counts only if it was set before TensorFlow loaded: report what TensorFlow runs.
    lines.append(f"oneDNN {'on' if onednn_enabled() else 'OFF (grouped-conv gradients per group: slower)'} "
                 f"(TF_ENABLE_ONEDNN_OPTS={onednn if onednn is not None else '(unset)'}), threads intra="
                 f"{tf.config.threading.get_intra_op_parallelism_threads()} inter="
                 f"{tf.config.threading.get_inter_op_parallelism_threads()} (0 = default)")
    if hasattr(os, "getloadavg"):
        lines.append(load_average_line("start"))
    return "\n".join(lines)


def load_average_line(when: str) -> str:
    """``"load average at WHEN: 1m 5m 15m"`` (call only where ``os.getloadavg`` exists)."""
    return f"load average at {when}: " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def print_load_average_at_end() -> None:
    """The closing line of every script's output, beside :func:`env_summary`'s start line."""
    if hasattr(os, "getloadavg"):
        print(load_average_line("end"))


def write_csv(path: str, rows: list[dict]) -> None:
    """Writes ``rows`` (dicts with the same keys) to ``path`` as CSV, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


def median_ms_round_robin(steps: dict[str, Callable], inputs: tuple, warmup: int, iters: int) -> dict[str, float]:
    """Times ``step(*inputs)`` of each step ``warmup + iters`` times, round-robin (A, B, C, A, B,
    C, ...), so that load changes hit every variant alike; returns the median of the last
    ``iters`` per name, in ms. Each call waits for all of the step's outputs."""
    times: dict[str, list[float]] = {n: [] for n in steps}
    for i in range(warmup + iters):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for t in tf.nest.flatten(step(*inputs)):
                t.numpy()
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {n: statistics.median(t) * 1e3 for n, t in times.items()}


def ms_row(label: str, med: dict[str, float], variants: list[str], base: str) -> list[str]:
    """A table row: ``label``, each variant's median ms, then each other variant's time / ``base``'s."""
    row = [label] + [f"{med[n]:.2f}" for n in variants]
    if base in med:
        row += [f"{med[n] / med[base]:.2f}" for n in variants if n != base]
    return row


def markdown_row(cells: list[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def print_markdown_table(header: list[str], rows: list[list[str]]) -> None:
    """The closing table, then the load average at the end of the run."""
    print()
    print(markdown_row(header))
    print("|" + "---|" * len(header))
    for row in rows:
        print(markdown_row(row))
    print_load_average_at_end()


def parse_hwc_shapes(parser: argparse.ArgumentParser, text: str, flag: str = "--shapes") -> list[tuple[int, int, int]]:
    """``"32x32x16,8x8x90"`` -> ``[(32, 32, 16), (8, 8, 90)]``; a malformed value is a usage error."""
    try:
        shapes = [tuple(int(v) for v in s.split("x")) for s in text.split(",")]
    except ValueError:
        parser.error(f"{flag}: expected HxWxC,HxWxC,..., got {text!r}")
    if any(len(s) != 3 for s in shapes):
        parser.error(f"{flag}: each shape is HxWxC")
    return shapes


def parse_variants(parser: argparse.ArgumentParser, text: str, valid, flag: str = "--variants") -> list[str]:
    """A comma-separated subset of ``valid``; an unknown name is a usage error that lists the valid ones."""
    variants = text.split(",")
    unknown = set(variants) - set(valid)
    if unknown:
        parser.error(f"{flag}: unknown {sorted(unknown)}; valid: {', '.join(valid)}")
    return variants


def ratio_header(variants: list[str], base: str, first: str = "HxWxC") -> list[str]:
    """The header matching :func:`ms_row` (ratio columns only when ``base`` is timed)."""
    ratios = [f"{v}/{base}" for v in variants if v != base] if base in variants else []
    return [first] + variants + ratios


def start_run(args: argparse.Namespace, description: str) -> None:
    """Applies the thread flags, then prints the environment header and ``description``."""
    set_threads(args.intra_op_threads, args.inter_op_threads)
    print(env_summary())
    print(description)


def model_spec(text: str) -> tuple[str, tuple[int, int, int]]:
    """``PRESET:H,W,C`` -> ``(preset, (H, W, C))`` (argparse type)."""
    name, _, shape = text.partition(":")
    try:
        dims = tuple(int(v) for v in shape.split(","))
    except ValueError:
        dims = ()
    if name not in hne_tf.list_models() or len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected PRESET:H,W,C with a preset of {', '.join(hne_tf.list_models())}"
                                         f", got {text!r}")
    return name, dims


def int_list(text: str) -> list[int]:
    """``1,2,4`` -> ``[1, 2, 4]``, every value positive (argparse type)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def prefix_file_parser(doc: str, runs: int, warmup: int, csv_rows: str) -> argparse.ArgumentParser:
    """The flags the deploy benchmarks of one prefix file per preset share (bench_batch.py, bench_int8.py):
    --models, --num_classes, --threads, --runs, --warmup, --tolerance and --csv."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    p.add_argument("--models", nargs="+", type=model_spec,
                   default=[("hne_resnet_mini", (28, 28, 1)), ("hne_resnet_small", (32, 32, 3))],
                   help="PRESET:H,W,C entries")
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--threads", type=int_list, default=[1, 2], help="LiteRT thread counts")
    p.add_argument("--runs", type=int, default=runs, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=warmup)
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="float32 files: largest |TFLite - Keras| / max(1, max |logit|)")
    p.add_argument("--csv", default=None, help=f"write one row per {csv_rows}")
    return p


def check_runs(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Refuses --runs below 1; the TF thread flags of :func:`start_run` at TensorFlow's defaults."""
    if args.runs < 1:
        p.error(f"--runs must be at least 1, got {args.runs}")
    args.intra_op_threads = args.inter_op_threads = 0
    return args


def run_models(args: argparse.Namespace, description: str, bench_model: Callable) -> int:
    """The environment header and ``description``, then ``bench_model(name, shape, args)`` (its CSV rows) for
    every --models entry, then the CSV; exit status 0."""
    start_run(args, description)
    rows = []
    for name, shape in args.models:
        rows += bench_model(name, shape, args)
    if args.csv:
        write_csv(args.csv, rows)
    return 0


def print_partitions(files: dict[str, bytes]) -> None:
    """One line per one-signature file: its size, XNNPACK partitions and the ops left outside."""
    from hne_tf.export import runtime as rt

    for label, buf in files.items():
        (info,) = rt.partitions(buf).values()
        outside = sorted(set(info["fallback"]))
        print(f"{label}: {len(buf):,} bytes, {info['partitions']} XNNPACK partition(s), "
              f"ops outside: {', '.join(outside) if outside else 'none'}")
