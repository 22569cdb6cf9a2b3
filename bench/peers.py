"""Our exported tree against the runtimes a PyTorch user would pick: the same network, the same weights.

For each preset of ``--models`` (untrained weights, batch-norm statistics
randomized; the time does not depend on the values), the script compares:

- ``ours``: the float32 prefix files k = 1 and k = N (N = all leaves) as
  ``python -m export`` writes them (static batch 1), run by ``ai_edge_litert``'s
  Interpreter with XNNPACK (``runtime.Runner.one``, zero-copy), and the k = N
  graph converted at a static batch of ``--batch`` images (``bench_batch.py``'s
  file; invoke only, the images bound once);
- ``ORT``: the same tree rebuilt in PyTorch (``torch_reference.build_torch_net``:
  our layers' settings, our weights copied in), exported per prefix k with
  ``torch.onnx.export`` and run by ONNX Runtime's CPU execution provider
  (``intra_op_num_threads`` = the thread count, inputs and outputs bound once
  with IOBinding), at batch 1 and at ``--batch``;
- ``ET``: the same PyTorch module through ``torch.export`` ->
  ``to_edge_transform_and_lower(XnnpackPartitioner())`` -> ``.pte``, run by
  ``executorch.runtime`` at batch 1. ExecuTorch's thread pool is one per
  process and a loaded method keeps the pool it was loaded with, so each
  thread count runs in a worker process of its own (it times its calls
  itself; the pipe is not timed).

The peers take ``[batch, C, H, W]`` images (PyTorch's layout), ours
``[batch, H, W, C]``: the same values. Before any timing every peer's logits
are checked against our file's on the same random images (largest |diff| /
max(1, largest |logit|) <= ``--rtol``) and ours against Keras'; the script stops
at the first that differs. Printed besides: the XNNPACK partitions of our files
and of the ExecuTorch programs (with the ops left outside) and each prefix's
MACs per image (``hne_tf.cost_table``).

Then all variants of a preset (runtime x k x batch x thread count) are timed in
the same rounds, round-robin (``runtime.interleaved_ms``, each timed call right
after an untimed call of the same variant), ``--runs`` rounds after
``--warmup``; the table gives medians with the interquartile range in brackets
(per image at ``--batch``) and ours / each peer (below 1: ours is faster); then
the cost per MAC (ps per MAC) at k = 1 and k = N and their ratio, and at
``--batch`` ours per image against ours at batch 1 and against ORT's.

Every peer is optional (``bench/requirements-peers.txt``): one that does not
import is skipped with a line saying how to install it. Our files are converted
in a child process (TensorFlow only); a preset whose conversion fails or takes
longer than ``--convert_timeout`` is reported and skipped.

Examples:
  python bench/peers.py                                        # hne_resnet_mini 28x28x1, about 2 minutes
  python bench/peers.py --models hne_resnet_small:32,32,3 --runs 20
  python bench/peers.py --models hne_mobilenetv2:224,224,3 --batch 0 --runs 5 --warmup 1
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INSTALL = ("pip install --no-deps -r bench/requirements-peers.txt --extra-index-url "
           "https://download.pytorch.org/whl/cpu (see bench/README.md)")
#: Peer -> the modules it needs.
PEERS = {"ort": ("torch", "onnx", "onnxruntime"), "et": ("torch", "executorch")}
NAMES = {"ours": "ours", "ort": "ORT", "et": "ET"}
#: The child's exit status when our file disagrees with Keras (the run stops, as for a peer).
MISMATCH = 3
#: ExecuTorch's native notes when it sets up its thread pool (what it found of the CPU, the pool's size).
ET_NOISE = (re.compile(r"^\[(cpuinfo_utils|threadpool)\.cpp:\d+\] "),)


def quiet_libraries() -> None:
    """Silences the peers' Python notes that are not problems: torchao's CUDA kernels that a CPU build cannot
    load, PyTorch's deprecation notes (pytree) and torch.onnx's skipped torchvision ops."""
    import logging
    import warnings

    for name in ("torchao", "torch.utils._pytree", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)


def parse_args(argv=None) -> argparse.Namespace:
    import common  # bench/common.py

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--models", nargs="+", type=common.model_spec, default=[("hne_resnet_mini", (28, 28, 1))],
                   help="PRESET:H,W,C entries (default: the main job's hne_resnet_mini:28,28,1)")
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--threads", type=common.int_list, default=[1, 2],
                   help="thread counts: LiteRT's num_threads, ORT's intra_op_num_threads, ExecuTorch's pool")
    p.add_argument("--batch", type=int, default=64,
                   help="the batch of the per-image comparison (ours and ORT, k = N); 0 or 1 leaves it out")
    p.add_argument("--peers", default="ort,et", help="comma-separated: ort (ONNX Runtime), et (ExecuTorch)")
    p.add_argument("--runs", type=int, default=30, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="largest |peer - ours| (and |ours - Keras|) / max(1, largest |logit|)")
    p.add_argument("--onnx_exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="torch.onnx.export's exporter (dynamo=True or the legacy dynamo=False)")
    p.add_argument("--convert_timeout", type=float, default=900,
                   help="seconds for tracing and converting a preset's files before it is skipped")
    p.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder, removed)")
    p.add_argument("--_prepare", dest="prepare_spec", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.peers = common.parse_variants(p, args.peers, list(PEERS), "--peers")
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be at least 1 and --warmup at least 0")
    args.batch = args.batch if args.batch > 1 else 0
    return args


# ----------------------------------------------------------------- child: our files (TensorFlow only)

def prepare(spec_text: str, out: str, args: argparse.Namespace) -> int:
    """Builds the preset, converts our files, checks them against Keras and writes into ``out``: the
    ``.tflite`` files, ``weights.npz``, ``images.npy`` and ``spec.json`` (``torch_reference.tree_spec``
    plus the preset, its input shape and the MACs of each prefix)."""
    import common
    import numpy as np
    import tensorflow as tf
    from bench_batch import convert_batched
    from torch_reference import randomize_bn_statistics, tree_spec

    import hne_tf
    from hne_tf.export import convert as conv
    from hne_tf.export import runtime as rt

    name, shape = common.model_spec(spec_text)
    tf.random.set_seed(0)
    model = hne_tf.build_model(name, shape, args.num_classes)
    rng = np.random.default_rng(0)
    randomize_bn_statistics(model, rng)
    n = model.num_leaves
    ks = sorted({1, n})
    t0 = time.perf_counter()
    graphs = conv.trace_graphs(model, ks, [], anytime=False, log=lambda _: None)
    print(f"{name}: traced prefixes {ks} in {time.perf_counter() - t0:.1f} s", flush=True)
    converter = conv.Converter(graphs)
    images = rng.standard_normal((max(args.batch, 1),) + shape).astype(np.float32)
    files = {}
    for k in ks:
        files[(k, 1)] = converter.convert([conv.prefix_key(k)], "float32")
    if args.batch:
        files[(n, args.batch)] = convert_batched(graphs[conv.prefix_key(n)], args.batch)
    print(f"{name}: converted {len(files)} files in {time.perf_counter() - t0:.1f} s", flush=True)
    for (k, batch), buf in files.items():
        want = model.prefix(k)(images[:batch], training=False).numpy()
        got = rt.Runner(rt.load_interpreter(buf, num_threads=1), conv.DEFAULT_SIGNATURE)(input=images[:batch])["logits"]
        err = relative_error(got, want)
        if err > args.rtol:
            print(f"error: {name}: our k={k} batch-{batch} file differs from Keras by {err:.2e} (--rtol {args.rtol:g})",
                  file=sys.stderr)
            return MISMATCH
        with open(os.path.join(out, f"k{k}_b{batch}.tflite"), "wb") as f:
            f.write(buf)
    costs = hne_tf.cost_table(model)["prefixes"]
    spec = {**tree_spec(model), "preset": name, "shape": list(shape),
            "macs": {str(k): costs[k - 1]["macs"] for k in ks}, "files": [list(key) for key in files]}
    with open(os.path.join(out, "spec.json"), "w") as f:
        json.dump(spec, f)
    np.savez(os.path.join(out, "weights.npz"), **{v.path: v.numpy() for v in model.variables})
    np.save(os.path.join(out, "images.npy"), images)
    return 0


def relative_error(got, want) -> float:
    """Largest |got - want| over max(1, largest |want|)."""
    import numpy as np

    return float(np.abs(np.asarray(got) - want).max()) / max(1.0, float(np.abs(want).max()))


# ----------------------------------------------------------------- ExecuTorch worker (one thread count)

def et_worker(config_path: str) -> int:
    """Sets ExecuTorch's thread pool, loads the programs, then answers JSON lines on stdin: ``logits`` (of one
    program on its input) and ``time`` (one untimed call, then one timed: seconds)."""
    import numpy as np

    from hne_tf.quiet import NOISE, quiet_native_stderr

    quiet_libraries()
    config = json.load(open(config_path))
    with quiet_native_stderr(NOISE + ET_NOISE):
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        # The pool is the process's; a method keeps the one it was loaded with, so set it first.
        portable_lib._unsafe_reset_threadpool(config["threads"])  # noqa: SLF001 -- ExecuTorch's only thread setting
        runtime = Runtime.get()
        programs, methods, inputs = {}, {}, {}
        for name, (path, images) in config["programs"].items():
            programs[name] = runtime.load_program(path)
            methods[name] = programs[name].load_method("forward")
            inputs[name] = [torch_input(np.load(images))]
    print(json.dumps({"threads": portable_lib._threadpool_get_thread_count()}), flush=True)  # noqa: SLF001
    for line in sys.stdin:
        cmd = json.loads(line)
        method, x = methods[cmd["name"]], inputs[cmd["name"]]
        if cmd["op"] == "logits":
            reply = {"logits": method.execute(x)[0].numpy().tolist()}
        else:
            method.execute(x)
            t0 = time.perf_counter()
            method.execute(x)
            reply = {"seconds": time.perf_counter() - t0}
        print(json.dumps(reply), flush=True)
    return 0


class EtWorker:
    """The main process's end of :func:`et_worker`."""

    def __init__(self, threads: int, programs: dict[str, tuple[str, str]], folder: str) -> None:
        config = os.path.join(folder, f"et_worker_{threads}.json")
        with open(config, "w") as f:
            json.dump({"threads": threads, "programs": programs}, f)
        code = f"import sys; sys.path.insert(0, {HERE!r}); import peers; sys.exit(peers.et_worker({config!r}))"
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.threads = self._read()["threads"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the ExecuTorch worker exited (code {self.proc.wait()})")
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# ----------------------------------------------------------------- main process

def available_peers(wanted: list[str]) -> list[str]:
    """The peers of ``wanted`` whose modules import; a line for each that does not."""
    import importlib

    ok = []
    for peer in wanted:
        missing = []
        for module in PEERS[peer]:
            try:
                importlib.import_module(module)
            except ImportError as e:
                missing.append(f"{module} ({e})")
        if missing:
            print(f"{NAMES[peer]}: skipped, cannot import {', '.join(missing)}; install: {INSTALL}")
        else:
            ok.append(peer)
    return ok


def versions() -> str:
    out = []
    for dist in ("ai-edge-litert", "torch", "onnx", "onnxruntime", "onnxscript", "executorch"):
        try:
            out.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


class SelfTimedClock:
    """A clock for ``runtime.interleaved_ms`` that moves only by what each call measured of itself: the
    ExecuTorch workers report their own times, so the pipe to them is not counted."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def wrap(self, timed: Callable[[], float]) -> Callable[[], None]:
        def call() -> None:
            self.seconds += timed()
        return call


def perf(fn: Callable[[], object]) -> Callable[[], float]:
    """``fn`` timed with ``time.perf_counter`` (seconds)."""
    def timed() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    return timed


def run_prepare(spec_text: str, folder: str, args: argparse.Namespace) -> str | None:
    """Our files of one preset, converted in a child process; None (and a line saying why) when it fails
    or times out."""
    cmd = [sys.executable, os.path.abspath(__file__), "--_prepare", spec_text, "--workdir", folder,
           "--num_classes", str(args.num_classes), "--batch", str(args.batch), "--rtol", str(args.rtol)]
    sys.stdout.flush()
    proc = subprocess.Popen(cmd)
    try:
        code = proc.wait(timeout=args.convert_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        print(f"{spec_text}: skipped: tracing and converting did not finish in {args.convert_timeout:g} s "
              "(--convert_timeout)")
        return None
    if code == MISMATCH:
        raise SystemExit(f"error: {spec_text}: our TFLite file is not the Keras model (see above)")
    if code:
        print(f"{spec_text}: skipped: tracing and converting failed (exit status {code}, see above)")
        return None
    return folder


def torch_input(images: np.ndarray) -> torch.Tensor:
    """``images`` (numpy, [batch, C, H, W]) as a PyTorch tensor with the standard strides.

    NumPy gives a size-1 axis any stride (``np.ascontiguousarray`` of the transposed 28x28x1 images gives
    the channel axis a stride of one element), and PyTorch then reads the tensor as channels-last
    (``dim_order()`` (0, 2, 3, 1)). ``torch.export`` records that order, and the ExecuTorch program then
    computes wrong logits for inputs of the usual order, without an error (ExecuTorch 1.4.1)."""
    import torch

    return torch.from_numpy(images).clone(memory_format=torch.contiguous_format)


def onnx_file(net, x, path: str, exporter: str) -> None:
    import torch

    torch.onnx.export(net, (x,), path, input_names=["input"], output_names=["logits"],
                      dynamo=exporter == "dynamo", verbose=False)


def ort_session(path: str, threads: int, x: np.ndarray) -> tuple[Callable[[], None], np.ndarray]:
    """``(run, logits)``: ``run()`` runs the session on ``x`` bound once (IOBinding), its logits bound to one
    output buffer."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    out_shape = session.run(None, {"input": x})[0].shape
    binding = session.io_binding()
    binding.bind_cpu_input("input", x)
    logits = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, np.float32)
    binding.bind_ortvalue_output("logits", logits)

    def run() -> None:
        session.run_with_iobinding(binding)
    run()
    return run, logits.numpy()


def et_program(net, x, path: str) -> str:
    """Lowers ``net`` to XNNPACK and writes the ``.pte``; returns its partitions and the ops left outside."""
    import collections

    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(torch.export.export(net, (x,)), partitioner=[XnnpackPartitioner()])
    calls = [str(n.target) for n in edge.exported_program().graph.nodes if n.op == "call_function"]
    delegates = sum("executorch_call_delegate" in c for c in calls)
    outside = collections.Counter(c.split(">")[0].removeprefix("<EdgeOpOverload: ") for c in calls
                                  if "executorch_call_delegate" not in c and "getitem" not in c)
    with open(path, "wb") as f:
        f.write(edge.to_executorch().buffer)
    return (f"{delegates} XNNPACK partition(s), ops outside: "
            + (", ".join(f"{op} x{count}" for op, count in sorted(outside.items())) or "none"))


def bench_model(spec_text: str, args: argparse.Namespace, peers: list[str], folder: str) -> None:  # noqa: C901, PLR0915 -- one preset: files, checks, timing and report in order
    import common
    import numpy as np

    from hne_tf.export import runtime as rt

    print(f"\n## {spec_text}", flush=True)
    if run_prepare(spec_text, folder, args) is None:
        return
    spec = json.load(open(os.path.join(folder, "spec.json")))
    name = spec["preset"]
    images = np.load(os.path.join(folder, "images.npy"))
    nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    macs = {int(k): v for k, v in spec["macs"].items()}
    files = {(k, b): open(os.path.join(folder, f"k{k}_b{b}.tflite"), "rb").read() for k, b in spec["files"]}
    common.print_partitions({f"ours k={k} batch {b}": buf for (k, b), buf in files.items()})
    print("MMACs per image: " + ", ".join(f"k={k}: {m / 1e6:.2f}" for k, m in macs.items()))

    variants: dict[str, Callable[[], float]] = {}
    reference = {}  # (k, batch) -> our logits
    for (k, b), buf in files.items():
        for t in args.threads:
            runner = rt.Runner(rt.load_interpreter(buf, num_threads=t), "serving_default")
            if b == 1:
                reference[(k, b)] = np.array(runner.one(images[:1]))
                variants[f"ours k{k} b{b} t{t}"] = perf(lambda runner=runner: runner.one(images[:1]))
            else:
                reference[(k, b)] = runner(input=images[:b])["logits"]
                variants[f"ours k{k} b{b} t{t}"] = perf(runner.invoke)

    workers: list[EtWorker] = []
    try:
        if peers:
            from torch_reference import build_torch_net

            weights = dict(np.load(os.path.join(folder, "weights.npz")))
            nets = {k: build_torch_net(spec, weights, k).eval() for k in sorted({k for k, _ in files})}
        for peer in peers:
            t0 = time.perf_counter()
            try:
                if peer == "ort":
                    for k, b in files:
                        path = os.path.join(folder, f"k{k}_b{b}.onnx")
                        onnx_file(nets[k], torch_input(nchw[:b]), path, args.onnx_exporter)
                        for t in args.threads:
                            run, logits = ort_session(path, t, nchw[:b])
                            check(f"{name} ORT k={k} batch {b} at {t} thread(s)", logits, reference[(k, b)], args.rtol)
                            variants[f"ort k{k} b{b} t{t}"] = perf(run)
                else:
                    programs = {}
                    for k, b in files:
                        if b != 1:
                            continue
                        path = os.path.join(folder, f"k{k}_b1.pte")
                        print(f"ExecuTorch k={k}: " + et_program(nets[k], torch_input(nchw[:1]), path), flush=True)
                        np.save(os.path.join(folder, "nchw1.npy"), nchw[:1])
                        programs[f"k{k}"] = (path, os.path.join(folder, "nchw1.npy"))
                    for t in args.threads:
                        worker = EtWorker(t, programs, folder)
                        workers.append(worker)
                        if worker.threads != t:
                            print(f"ExecuTorch: asked for {t} thread(s), its pool has {worker.threads}")
                        for key in programs:
                            logits = np.asarray(worker.ask(op="logits", name=key)["logits"], np.float32)
                            k = int(key[1:])
                            check(f"{name} ET k={k} batch 1 at {t} thread(s)", logits, reference[(k, 1)], args.rtol)
                            variants[f"et k{k} b1 t{t}"] = (
                                lambda worker=worker, key=key: worker.ask(op="time", name=key)["seconds"])
            except SystemExit:
                raise
            except Exception as e:  # noqa: BLE001 -- a peer that cannot export or run this preset is reported and left out
                print(f"{NAMES[peer]}: skipped for {name}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                variants = {v: f for v, f in variants.items() if not v.startswith(peer + " ")}
                continue
            print(f"{NAMES[peer]}: exported, loaded and checked in {time.perf_counter() - t0:.1f} s", flush=True)

        print(f"timing {len(variants)} variants round-robin: {args.runs} rounds after {args.warmup}", flush=True)
        clock = SelfTimedClock()
        times = rt.interleaved_ms({v: clock.wrap(f) for v, f in variants.items()}, args.runs, args.warmup,
                                  clock=clock, prime=True)
    finally:
        for worker in workers:
            worker.close()
    report(spec, files, times, args)


def check(label: str, logits, want, rtol: float) -> None:
    err = relative_error(logits, want)
    print(f"{label}: logits max |diff| / max(1, max |ours|) = {err:.2e}")
    if err > rtol:
        raise SystemExit(f"error: {label}: logits differ from our TFLite file's by {err:.2e} (--rtol {rtol:g})")


def report(spec: dict, files: dict, times: dict, args: argparse.Namespace) -> None:  # noqa: C901 -- the table and the lines below it
    import common

    from hne_tf.export import runtime as rt

    runtimes = [r for r in ("ours", "ort", "et") if any(v.startswith(r + " ") for v in times)]
    med = {v: rt.median_iqr(t) for v, t in times.items()}
    n, macs = spec["leaves"], {int(k): v for k, v in spec["macs"].items()}

    def ms(r, k, b, t) -> float | None:
        v = f"{r} k{k} b{b} t{t}"
        return med[v][0] / b if v in med else None

    header = ["k", "batch", "threads", "MMACs/img"] + [f"{NAMES[r]} ms" for r in runtimes]
    header += [f"ours/{NAMES[r]}" for r in runtimes if r != "ours"]
    rows = []
    for k, b in files:
        for t in args.threads:
            row = [str(k), str(b), str(t), f"{macs[k] / 1e6:.2f}"]
            for r in runtimes:
                v = f"{r} k{k} b{b} t{t}"
                row.append(f"{med[v][0] / b:.3f} [{med[v][1] / b:.3f}]" if v in med else "-")
            ours = ms("ours", k, b, t)
            for r in runtimes[1:]:
                theirs = ms(r, k, b, t)
                row.append(f"{ours / theirs:.2f}" if theirs else "-")
            rows.append(row)
    print(f"\n{spec['preset']} at {'x'.join(map(str, spec['shape']))}: ms per image, median of {args.runs} "
          "interleaved rounds [interquartile range]; ours/peer below 1: ours is faster")
    common.print_markdown_table(header, rows)
    for r in runtimes:
        for t in args.threads:
            one, full = ms(r, 1, 1, t), ms(r, n, 1, t)
            if one and full and n > 1:
                a, z = one * 1e9 / macs[1], full * 1e9 / macs[n]
                print(f"{NAMES[r]}, {t} thread(s): {a:.1f} ps per MAC at k=1, {z:.1f} at k={n}; k=1 / k={n}: "
                      f"{a / z:.2f} (latency ratio k={n} / k=1 {full / one:.2f} for {macs[n] / macs[1]:.2f}x the MACs)")
    if args.batch:
        for t in args.threads:
            ours_b, ours_1, ort_b = ms("ours", n, args.batch, t), ms("ours", n, 1, t), ms("ort", n, args.batch, t)
            if ours_b and ours_1:
                line = (f"batch {args.batch}, {t} thread(s), k={n}: ours per image / ours at batch 1 = "
                        f"{ours_b / ours_1:.2f} (goal <= 0.5)")
                if ort_b:
                    line += f"; ours / ORT per image at batch {args.batch} = {ours_b / ort_b:.2f} (goal <= 1)"
                print(line)


def main(argv=None) -> int:
    from hne_tf.quiet import StderrFilter

    StderrFilter().start()  # before TensorFlow's start-up lines (no GPU here, oneDNN's note)
    args = parse_args(argv)
    if args.prepare_spec:
        return prepare(args.prepare_spec, args.workdir, args)
    import common

    print(common.env_summary())
    print(versions())
    peers = available_peers(args.peers)
    quiet_libraries()
    print(f"batch 1{f' and {args.batch}' if args.batch else ''}, threads {args.threads}, peers: "
          f"{', '.join(NAMES[p] for p in peers) or 'none'}; ONNX exporter: {args.onnx_exporter}")
    root = args.workdir or tempfile.mkdtemp(prefix="peers_")
    try:
        for name, shape in args.models:
            spec_text = f"{name}:{','.join(map(str, shape))}"
            folder = os.path.join(root, f"{name}_{'x'.join(map(str, shape))}")
            os.makedirs(folder, exist_ok=True)
            bench_model(spec_text, args, peers, folder)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
