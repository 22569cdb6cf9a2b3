"""Shared by the benchmark scripts: thread settings, the environment header and the CSV output."""

import csv
import os
import platform

import keras
import tensorflow as tf


def set_threads(intra_op_threads: int, inter_op_threads: int) -> None:
    """Applies the --intra_op_threads / --inter_op_threads flags (0 keeps TF's default)."""
    if intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    if inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)


def env_summary() -> str:
    """Versions, devices, oneDNN and thread settings, load average: printed before every table."""
    lines = [f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}, "
             f"{platform.machine()}, {os.cpu_count()} CPUs visible",
             "devices: " + ", ".join(d.name for d in tf.config.list_logical_devices())]
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    lines.append(f"TF_ENABLE_ONEDNN_OPTS={onednn if onednn is not None else '(unset)'}, threads intra="
                 f"{tf.config.threading.get_intra_op_parallelism_threads()} inter="
                 f"{tf.config.threading.get_inter_op_parallelism_threads()} (0 = default)")
    if hasattr(os, "getloadavg"):
        lines.append("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    return "\n".join(lines)


def write_csv(path: str, rows: list[dict]) -> None:
    """Writes ``rows`` (dicts with the same keys) to ``path`` as CSV, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")
