"""Per-image cost of the exported tree at batch 1 and in batches (LiteRT + XNNPACK, float32).

Does running images in batches make the exported prefix file cheaper per
image? For each preset and input shape (untrained weights: the time does not
depend on them) the script converts the N-leaf prefix graph three ways:

- ``B1``, ``B4``, ``B16``, ``B64`` (``--batches``): a **static** batch of B, as
  ``python -m export`` writes B = 1, one XNNPACK partition;
- ``dyn``: a **dynamic** batch (-1), resized to the largest B before it is
  allocated.

Before timing, each file's logits on the same ``max(--batches)`` images are
checked against the Keras model's (``--tolerance``, relative to the largest
logit); a file that disagrees stops the script. Then, at every thread count
in ``--threads``, ``max(--batches)`` images are pushed through every file
(B images per invoke), the files timed round-robin (``runtime.interleaved_ms``)
and each reported as the median ms **per image** and as a ratio to ``B1``'s.
The XNNPACK partitions of each file and the ops it leaves outside are printed.

Examples:
  python bench/bench_batch.py                                # hne_resnet_mini and hne_resnet_small, ~3 min
  python bench/bench_batch.py --models hne_mobilenetv2:224,224,3 --batches 1,4,16 --runs 5
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # bench/common.py
import numpy as np

import hne_tf
from hne_tf.export import convert as conv
from hne_tf.export import runtime as rt


def parse_args(argv=None) -> argparse.Namespace:
    p = common.prefix_file_parser(__doc__, runs=9, warmup=2, csv_rows="model, thread count and file")
    p.add_argument("--batches", type=common.int_list, default=[1, 4, 16, 64],
                   help="static batch sizes (1 is always added)")
    p.add_argument("--no_dynamic", action="store_true", help="leave out the dynamic-batch file")
    args = common.check_runs(p, p.parse_args(argv))
    args.batches = sorted(set(args.batches) | {1})
    return args


def convert_batched(graph: conv.Graph, batch: int | None) -> bytes:
    """The frozen prefix graph with a static input batch ``batch`` (None: dynamic), float32: the
    export's converter (``--batch_sizes`` writes the static ones)."""
    return conv.Converter({graph.key: graph}).convert([graph.key], "float32", batch=batch)


def _invoker(buf: bytes, batch: int, threads: int, images: np.ndarray):
    """``(run, logits)``: ``run()`` pushes all of ``images`` through the file, ``batch`` per invoke."""
    interpreter = rt.load_interpreter(buf, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    if detail["shape_signature"][0] == -1:
        interpreter.resize_tensor_input(detail["index"], [batch, *images.shape[1:]])
        interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]["index"]

    def run() -> np.ndarray:
        chunks = []
        for i in range(0, len(images), batch):
            interpreter.set_tensor(detail["index"], images[i:i + batch])
            interpreter.invoke()
            chunks.append(interpreter.get_tensor(out))
        return np.concatenate(chunks)
    return run, run()


def bench_model(name: str, shape: tuple[int, int, int], args) -> list[dict]:
    model = hne_tf.build_model(name, shape, args.num_classes)
    n = model.num_leaves
    graph = conv.trace_graphs(model, [n], [], anytime=False, log=lambda _: None)[conv.prefix_key(n)]
    images = np.random.default_rng(0).standard_normal((max(args.batches),) + shape).astype(np.float32)
    want = model.prefix(n)(images, training=False).numpy()
    files = {f"B{b}": (convert_batched(graph, b), b) for b in args.batches}
    if not args.no_dynamic:
        files["dyn"] = (convert_batched(graph, None), max(args.batches))
    print(f"\n## {name} at {'x'.join(map(str, shape))}: prefix k={n}, {len(images)} images per round")
    common.print_partitions({label: buf for label, (buf, _) in files.items()})
    rows, table = [], []
    for threads in args.threads:
        runs = {}
        for label, (buf, batch) in files.items():
            run, got = _invoker(buf, batch, threads, images)
            err = float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))
            if err > args.tolerance:
                raise SystemExit(f"error: {name} {label} at {threads} thread(s) differs from Keras by {err:.2e} "
                                 f"(--tolerance {args.tolerance:g})")
            runs[label] = run
        times = rt.interleaved_ms(runs, args.runs, args.warmup)
        base = float(np.median(times["B1"])) / len(images)
        cells = []
        for label, t in times.items():
            per_image = float(np.median(t)) / len(images)
            rows.append({"model": name, "shape": "x".join(map(str, shape)), "threads": threads, "file": label,
                         "batch": files[label][1], "ms_per_image": per_image, "ratio_to_B1": per_image / base})
            cells.append(f"{per_image:.3f} ({per_image / base:.2f})")
        table.append([str(threads)] + cells)
        print(common.markdown_row(table[-1]), flush=True)
    common.print_markdown_table(["threads"] + list(files), table)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    description = (f"float32 prefix files at static batches {args.batches}"
                   f"{'' if args.no_dynamic else ' and a dynamic batch'}; ms per image, median of "
                   f"{args.runs} interleaved rounds (ratio to B1 in brackets)")
    return common.run_models(args, description, bench_model)


if __name__ == "__main__":
    sys.exit(main())
