"""Is the full-int8 file faster than float32? The N-leaf prefix file of each preset, batch 1.

For each preset and input shape (untrained weights: latency does not depend on the
values) the script converts the N-leaf prefix graph to float32 and to each of
``--precisions`` (the export's registry: ``int8`` is calibrated on ``--calibration`` random images),
checks the float32 file against Keras (``--tolerance``, relative to the largest logit) and reports
how far each other file's logits are from float32's (for information: random weights are not what
quantization is tuned for). Then it times all files round-robin (``runtime.interleaved_ms``) at each
thread count in ``--threads`` and prints the median ms and each precision's time over float32's,
beside the XNNPACK partitions of each file and the ops left outside.

The tree's layers are G groups of narrow convolutions (``hne_resnet_mini``: 4 channels per group);
XNNPACK's int8 kernels lose to float32 on narrow layers and win on wide ones, so the presets differ.

``--layers`` times single layers instead, to show where int8 pays on this CPU: for each
``C:HW:G`` entry, a 3x3 convolution then a 1x1 one, C channels in and out, HW x HW, in G groups
(G = 0: a depthwise 3x3 then a dense 1x1), float32 against the registry's ``int8``, interleaved.

Examples:
  python bench/bench_int8.py                                    # two presets, about 3 minutes
  python bench/bench_int8.py --models hne_mobilenetv2:224,224,3 --calibration 2 --runs 5 --threads 2
  python bench/bench_int8.py --layers --threads 1               # the layer widths, about 1 minute
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # bench/common.py
import numpy as np

import hne_tf
from hne_tf.export import convert as conv
from hne_tf.export import precisions as precision_registry
from hne_tf.export import runtime as rt
from hne_tf.quiet import quiet_native_stderr

DEFAULT_LAYERS = ("4:28:1", "16:28:1", "64:28:1", "128:28:1", "256:14:1", "512:7:1", "64:28:16", "256:14:16",
                  "256:14:0")


def layer_spec(text: str) -> tuple[int, int, int]:
    try:
        c, hw, g = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C:HW:G (three integers), got {text!r}") from None
    if c < 1 or hw < 1 or g < 0 or (g and c % g):
        raise argparse.ArgumentTypeError(f"{text!r}: C and HW must be positive and G (0 = depthwise) divide C")
    return c, hw, g


def parse_args(argv=None) -> argparse.Namespace:
    p = common.prefix_file_parser(__doc__, runs=20, warmup=3, csv_rows="model, thread count and precision")
    p.add_argument("--precisions", default="int8", help="comma list of precisions to compare with float32")
    p.add_argument("--calibration", type=int, default=16, help="random calibration images for int8")
    p.add_argument("--layers", nargs="*", type=layer_spec, default=None,
                   help="time single layers instead of --models: C:HW:G entries (G = 0: depthwise), "
                        f"default {' '.join(DEFAULT_LAYERS)}")
    args = common.check_runs(p, p.parse_args(argv))
    try:
        args.precisions = [n for n in precision_registry.check_names(args.precisions.split(",")) if n != "float32"]
    except ValueError as e:
        p.error(str(e))
    if args.calibration < 1:
        p.error(f"--calibration must be at least 1, got {args.calibration}")
    if args.layers == []:
        args.layers = [layer_spec(t) for t in DEFAULT_LAYERS]
    return args


def bench_model(name: str, shape: tuple[int, int, int], args) -> list[dict]:
    model = hne_tf.build_model(name, shape, args.num_classes)
    n = model.num_leaves
    key = conv.prefix_key(n)
    graphs = conv.trace_graphs(model, [n], [], anytime=False, log=lambda _: None)
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((args.calibration,) + shape).astype(np.float32)
    image = rng.standard_normal((1,) + shape).astype(np.float32)
    want = model.prefix(n)(image, training=False).numpy()
    converter = conv.Converter(graphs)
    files = {"float32": converter.convert([key], "float32")}
    for p in args.precisions:
        rep = (conv.representative_batches(graphs, [key], model.anytime_steps(), calibration)
               if precision_registry.get(p).calibrated else None)
        files[p] = converter.convert([key], p, rep)
    print(f"\n## {name} at {'x'.join(map(str, shape))}: prefix k={n}, batch 1")
    common.print_partitions(files)
    rows, table = [], []
    for threads in args.threads:
        runners = {label: rt.Runner(rt.load_interpreter(buf, num_threads=threads), conv.DEFAULT_SIGNATURE)
                   for label, buf in files.items()}
        outputs = {label: r.one(image) for label, r in runners.items()}
        scale = max(1.0, float(np.abs(want).max()))
        err = float(np.abs(outputs["float32"] - want).max()) / scale
        if err > args.tolerance:
            raise SystemExit(f"error: {name} float32 file differs from Keras by {err:.2e} (--tolerance "
                             f"{args.tolerance:g})")
        times = rt.interleaved_ms({label: (lambda r=r: r.one(image)) for label, r in runners.items()},
                                  args.runs, args.warmup, prime=True)
        base = float(np.median(times["float32"]))
        cells = [f"{base:.3f}"]
        for label in files:
            med = float(np.median(times[label]))
            dev = float(np.abs(outputs[label] - outputs["float32"]).max()) / scale
            rows.append({"model": name, "shape": "x".join(map(str, shape)), "threads": threads, "precision": label,
                         "ms": med, "ratio_to_float32": med / base, "max_dev_from_float32": dev})
            if label != "float32":
                cells.append(f"{med:.3f} ({med / base:.2f}; dev {dev:.2f})")
        table.append([str(threads)] + cells)
        print(common.markdown_row(table[-1]), flush=True)
    common.print_markdown_table(["threads", "float32 ms"] + [f"{p} ms (/ float32; max dev)" for p in args.precisions],
                                table)
    return rows


def layer_files(c: int, hw: int, groups: int, args) -> tuple[dict[str, bytes], int]:
    """float32 and --precisions files of one two-layer model, and its MACs."""
    import keras
    import tensorflow as tf

    inp = keras.Input((hw, hw, c), batch_size=1)
    first = (keras.layers.DepthwiseConv2D(3, padding="same") if groups == 0
             else keras.layers.Conv2D(c, 3, padding="same", groups=groups))
    x = keras.layers.Conv2D(c, 1, groups=max(groups, 1))(first(inp))
    model = keras.Model(inp, x)
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((1, hw, hw, c)).astype(np.float32) for _ in range(args.calibration)]
    files = {}
    for p in ("float32", *args.precisions):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        entry = precision_registry.get(p)
        entry.configure(converter, tf, (lambda: ([x] for x in calibration)) if entry.calibrated else None)
        # Keras' export prints the SavedModel it writes on the way; the int8 calibration warns that the
        # float input has no statistics (it is quantized by the first op, as in the export's files).
        with quiet_native_stderr(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files[p] = converter.convert()
    return files, layer_macs(c, hw, groups)


def layer_macs(c: int, hw: int, groups: int) -> int:
    """MACs of the two layers :func:`layer_files` builds (``groups`` 0: the 3x3 is depthwise)."""
    per_output = 9 * (1 if groups == 0 else c // groups)  # the 3x3's inputs per output value
    return hw * hw * c * per_output + hw * hw * c * (c // max(groups, 1))


def bench_layers(args) -> list[dict]:
    rows, table = [], []
    for threads in args.threads:
        for c, hw, groups in args.layers:
            files, macs = layer_files(c, hw, groups, args)
            image = np.random.default_rng(1).standard_normal((1, hw, hw, c)).astype(np.float32)
            calls = {}
            for label, buf in files.items():
                interpreter = rt.load_interpreter(buf, num_threads=threads)
                runner = rt.Runner(interpreter, next(iter(interpreter.get_signature_list())))
                (input_name,) = interpreter.get_signature_list()[runner.key]["inputs"]
                runner(**{input_name: image})  # sets the input once; each timed call runs the graph on it
                calls[label] = runner.invoke
            times = rt.interleaved_ms(calls, args.runs, args.warmup, prime=True)
            base = float(np.median(times["float32"]))
            kind = "depthwise 3x3 + 1x1" if groups == 0 else f"3x3 + 1x1, {groups} group(s)"
            cells = [str(threads), f"{c} x {hw}x{hw}, {kind}", f"{base:.3f}", f"{macs / base / 1e6:.1f}"]
            for label in args.precisions:
                med = float(np.median(times[label]))
                cells.append(f"{med:.3f} ({med / base:.2f})")
                rows.append({"threads": threads, "channels": c, "size": hw, "groups": groups, "precision": label,
                             "ms": med, "float32_ms": base, "ratio_to_float32": med / base})
            table.append(cells)
            print(common.markdown_row(cells), flush=True)
    common.print_markdown_table(["threads", "layers (channels x size)", "float32 ms", "float32 GMAC/s"]
                                + [f"{p} ms (/ float32)" for p in args.precisions], table)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.layers is not None:
        common.start_run(args, f"single layers, batch 1, float32 against {', '.join(args.precisions)}; median of "
                         f"{args.runs} interleaved rounds")
        rows = bench_layers(args)
        if args.csv:
            common.write_csv(args.csv, rows)
        return 0
    description = (f"N-leaf prefix files, batch 1, float32 against {', '.join(args.precisions)}; "
                   f"median of {args.runs} interleaved rounds, each timed call after an untimed one of the same file")
    return common.run_models(args, description, bench_model)


if __name__ == "__main__":
    sys.exit(main())
