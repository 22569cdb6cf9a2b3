"""Latency benchmark of an export (LiteRT + XNNPACK on this CPU, batch 1).

  hne-bench --manifest=runs/hne_fashion_mnist_tflite/manifest.json

(or python3 -m hne_tf.export.benchmark; in a checkout, python3 -m export.benchmark.)

Prints, for every thread count and precision (default 1 and 2 threads,
float32 and int8):

1. each prefix model: median latency, latency(k)/latency(1) beside
   MACs(k)/MACs(1);
2. each anytime step: median latency and MACs;
3. progressive cost: steps 1..N run in sequence against the N-leaf prefix
   model run once (target <= 1.1);
4. HNE against an independent ensemble with the same N and base network
   (same preset, branching (N, 1, ..., 1), random weights: latency does not
   depend on them), beside the MAC ratio and the paper's
   R = (B + 1) / (2 - 2^-B).

Also, per file, the XNNPACK partitions per signature, the ops left outside
XNNPACK and LiteRT CompiledModel's ``is_fully_accelerated``.

Every latency is the median of --runs rounds after --warmup rounds; each
round calls every measured path once, round-robin (``runtime.interleaved_ms``),
so load lands on all of them alike, each timed call right after an untimed
one of the same path (``prime``), so every path runs with its own weights in
the caches. The main paths are zero-copy Python
calls (``runtime.Runner.one``, ``runtime.Steps``; their overhead of a few
microseconds per call is included, as in the host runner); beside them the
copying signature calls, invoke only, LiteRT's CompiledModel with buffer
handover between steps and, at 2 threads, a per-step thread choice.
Ratios are taken within one run; the machine is shared, so compare ratios,
not absolute times across runs. Writes the numbers to --output as JSON.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hne_tf import osutil
from hne_tf.cli import run_app
from hne_tf.export import litert_adapter as litert
from hne_tf.export import manifest as mf
from hne_tf.export import runtime as rt


def _independent_ensemble(manifest: dict, log: Callable[[str], None]) -> dict | None:
    """Latency of the N-leaf independent ensemble with the manifest model's base network."""
    from hne_tf.quiet import quiet_native_stderr

    with quiet_native_stderr():  # TensorFlow's start-up lines
        from hne_tf.cost import cost_table
        from hne_tf.export import convert as conv
        from hne_tf.models import build_model
        from hne_tf.tree import hne_cost_formula

    model_info = manifest["model"]
    n = manifest["num_leaves"]
    branching = model_info["branching"]
    independent = [n] + [1] * (len(branching) - 1)
    options = {**model_info.get("options", {}), "branching": independent}
    shape = manifest["input"]["shape"][1:]
    try:
        model = build_model(model_info["preset"], shape, model_info["num_classes"], **options)
    except (TypeError, ValueError) as e:
        log(f"independent ensemble: {model_info['preset']} cannot be rebuilt with branching {independent} ({e}); "
            "skipped")
        return None
    graphs = conv.trace_graphs(model, [n], [], anytime=False, log=lambda _: None)
    buf = conv.Converter(graphs).convert([conv.prefix_key(n)], "float32")
    b = sum(1 for r in branching[1:] if r > 1)
    _, paper_r = hne_cost_formula(b) if all(r in (1, 2) for r in branching) else (None, None)
    return {"branching": independent, "macs": cost_table(model)["full_macs"], "paper_R": paper_r,
            "branching_blocks": b, "model": buf}


def _partitions(base, files, log) -> dict:
    """XNNPACK partitions of every file (most over its signatures) and the ops left outside."""
    out = {}
    for f in files:
        with open(os.path.join(base, f["file"]), "rb") as fh:
            per = rt.partitions(fh.read())
        cm = rt.compiled_model(os.path.join(base, f["file"]))
        fallback = sorted({op for p in per.values() for op in p["fallback"]})
        out[f["file"]] = {"partitions_max": max(p["partitions"] for p in per.values()),
                          "signatures": len(per), "fallback_ops": fallback,
                          "fully_accelerated": None if cm is None else bool(cm.is_fully_accelerated())}
        row = out[f["file"]]
        log(f"  {f['file']:<28} XNNPACK partitions per signature: {row['partitions_max']} (over {len(per)} "
            f"signature(s)); outside XNNPACK: {', '.join(fallback) or 'nothing'}; CompiledModel "
            f"is_fully_accelerated: {row['fully_accelerated']}")
    return out


def _copy_steps(interpreter: rt.Interpreter, steps: list[dict]) -> Callable[[np.ndarray], None]:
    """The anytime steps through copying signature calls (SetTensor / GetTensor), as before issue 10."""
    runners = [rt.Runner(interpreter, s["signature"]) for s in steps]

    def run(image) -> None:
        cache = {"input": image}
        for s, r in zip(steps, runners, strict=True):
            out = r(**{s["reads"]: cache[s["reads"]]})
            cache.update({w: out[w] for w in s["writes"]})
    return run


def benchmark(manifest_path, threads_list=(1, 2), precisions=("float32", "int8"), runs=50, warmup=5,  # noqa: C901, PLR0913 -- the benchmark: each path timed and reported in turn
              independent=True, log=print) -> dict:
    if os.path.isdir(manifest_path):
        manifest_path = os.path.join(manifest_path, "manifest.json")
    manifest = mf.load(manifest_path)
    base = os.path.dirname(os.path.abspath(manifest_path))
    image = np.random.RandomState(0).standard_normal([1] + manifest["input"]["shape"][1:]).astype(np.float32)
    n = manifest["num_leaves"]
    steps = (manifest.get("anytime") or {}).get("steps", [])
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    log(f"{manifest['model']['preset']} ({n} leaves), {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load}; median of {runs} interleaved rounds after {warmup} warm-up, batch 1; "
        "each call timed right after an untimed call of the same path (warm caches)")
    out = {"manifest": os.path.abspath(manifest_path), "runs": runs, "warmup": warmup, "results": [],
           "load_average": {"before": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}}
    ind = _independent_ensemble(manifest, log) if independent else None
    for precision in precisions:
        prefixes = sorted(mf.files_of(manifest, "prefix", precision), key=lambda f: f["k"])
        any_file = mf.files_of(manifest, "anytime", precision)
        if not prefixes and not any_file:
            log(f"\n{precision}: not in this export; skipped")
            continue
        log(f"\n== {precision}: partitions ==")
        out.setdefault("partitions", {}).update(_partitions(base, prefixes + any_file, log))
        for threads in threads_list:
            callables = {}
            for f in prefixes:
                path = os.path.join(base, f["file"])
                runner = rt.Runner(rt.load_interpreter(path, num_threads=threads), "serving_default")
                runner.one(image)
                callables[f"k{f['k']}"] = lambda runner=runner: runner.one(image)
                if f["k"] == n:
                    callables["full_copy"] = lambda runner=runner: runner(input=image)
                    callables["full_invoke"] = runner.invoke
                    cm = rt.compiled_model(path, threads)
                    if cm is not None:
                        cin = cm.create_input_buffers(0)
                        cout = cm.create_output_buffers(0)
                        size = int(np.prod(cm.get_output_tensor_details("serving_default")["logits"]["shape"]))

                        def full_compiled(cm=cm, cin=cin, cout=cout, size=size) -> np.ndarray:
                            cin[0].write(image)
                            cm.run_by_index(0, cin, cout)
                            return cout[0].read(size, np.float32)
                        callables["full_compiled"] = full_compiled
            sequence = None
            step_ms = []  # one row of per-step times per timed run of the sequence
            plan = None
            if any_file and steps:
                path = os.path.join(base, any_file[0]["file"])
                interpreter = rt.load_interpreter(path, num_threads=threads)
                sequence = rt.Steps(interpreter, steps)

                def run_sequence(sequence=sequence, step_ms=step_ms) -> None:
                    step_ms.append(np.zeros(len(steps)))
                    sequence.run(image, step_ms[-1])

                callables["steps"] = run_sequence  # with per-step times
                callables["steps_untimed"] = lambda sequence=sequence: sequence.run(image)
                sequence.run(image)
                callables["steps_invoke"] = sequence.invoke
                copy_run = _copy_steps(rt.load_interpreter(path, threads), steps)
                callables["steps_copy"] = lambda run=copy_run: run(image)
                cm = rt.compiled_model(path, threads)
                if cm is not None:
                    compiled = rt.CompiledSteps(cm, steps)
                    callables["steps_compiled"] = lambda compiled=compiled: compiled.run(image)
                if threads > 1:
                    plan = rt.thread_plan(path, steps, threads, image)
                    if len(set(plan)) > 1 or plan[0] != threads:
                        planned = rt.planned_steps(path, steps, plan)
                        callables["steps_planned"] = lambda planned=planned: planned.run(image)
            if ind is not None and precision == "float32":
                runner = rt.Runner(rt.load_interpreter(ind["model"], num_threads=threads), "serving_default")
                runner.one(image)
                callables["independent"] = lambda runner=runner: runner.one(image)
            times = rt.interleaved_ms(callables, runs, warmup, prime=True)
            medians = {name: rt.median_iqr(v)[0] for name, v in times.items()}
            res = {"precision": precision, "threads": threads, "prefixes": [], "steps": [],
                   "medians_ms": medians}
            log(f"\n== {precision}, {threads} thread(s) ==")
            log(f"{'k':>4} {'MMACs':>8} {'ms':>9} {'lat(k)/lat(1)':>14} {'MACs(k)/MACs(1)':>16}")
            first = prefixes[0] if prefixes and prefixes[0]["k"] == 1 else None
            for f in prefixes:
                ms = medians[f"k{f['k']}"]
                row = {"k": f["k"], "macs": f["macs"], "latency_ms": ms,
                       "latency_ratio": ms / medians["k1"] if first else None,
                       "mac_ratio": f["macs"] / first["macs"] if first else None}
                res["prefixes"].append(row)
                ratio = f"{row['latency_ratio']:.2f}" if first else "-"
                mac_ratio = f"{row['mac_ratio']:.2f}" if first else "-"
                log(f"{f['k']:>4} {f['macs'] / 1e6:>8.2f} {ms:>9.3f} {ratio:>14} {mac_ratio:>16}")
            full = next((r for r in res["prefixes"] if r["k"] == n), None)
            if sequence is not None:
                # The last ``runs`` rows are the timed runs; the first are warm-up.
                per_step = [float(v) for v in np.median(step_ms[-runs:], axis=0)]
                res["steps"] = [{"step": s["step"], "macs": s["macs"], "latency_ms": ms}
                                for s, ms in zip(steps, per_step, strict=True)]
                res["all_steps_ms"] = medians["steps"]
                log("anytime steps (ms):    " + ", ".join(f"{ms:.3f}" for ms in per_step))
                log("anytime steps (MMACs): " + ", ".join(f"{s['macs'] / 1e6:.2f}" for s in steps))
                if plan is not None:
                    res["thread_plan"] = plan
                    log(f"per-step thread choice (faster of 1 and {threads} threads per step): {plan}")
                if full:
                    ref = full["latency_ms"]
                    res["progressive_ratio"] = medians["steps_untimed"] / ref
                    ratios = {"zero-copy steps (runtime.Steps) / k=N zero-copy": ("steps_untimed", "k" + str(n)),
                              "  the same, timing each step": ("steps", "k" + str(n)),
                              "copying signature calls / k=N copying call": ("steps_copy", "full_copy"),
                              "invoke only / k=N invoke only": ("steps_invoke", "full_invoke"),
                              "CompiledModel buffer handover / k=N CompiledModel": ("steps_compiled",
                                                                                    "full_compiled"),
                              f"per-step threads {plan} / k=N": ("steps_planned", "k" + str(n))}
                    res["progressive"] = {}
                    log(f"progressive cost, steps 1..{n} in sequence / the k={n} model once "
                        f"(goal <= {1.05 if threads == 1 else 1.10} float32, 1.10 int8 at 1 thread):")
                    for label, (a, b) in ratios.items():
                        if a in medians and b in medians:
                            res["progressive"][a] = {"steps_ms": medians[a], "full_ms": medians[b],
                                                     "ratio": medians[a] / medians[b]}
                            log(f"  {label:<52} {medians[a]:8.3f} / {medians[b]:8.3f} ms = "
                                f"{medians[a] / medians[b]:.3f}")
            if "independent" in medians and full:
                ms = medians["independent"]
                res["independent"] = {k: v for k, v in ind.items() if k != "model"}
                res["independent"].update(latency_ms=ms, speedup=ms / full["latency_ms"],
                                          mac_ratio=ind["macs"] / full["macs"])
                paper = f"{ind['paper_R']:.2f}" if ind["paper_R"] else "n/a"
                log(f"independent ensemble {ind['branching']}: {ms:.3f} ms, {ind['macs'] / 1e6:.2f} MMACs; "
                    f"HNE k={n}: {full['latency_ms']:.3f} ms, {full['macs'] / 1e6:.2f} MMACs. Measured speedup "
                    f"{ms / full['latency_ms']:.2f}, MAC ratio {ind['macs'] / full['macs']:.2f}, paper R "
                    f"(equal-cost blocks, B={ind['branching_blocks']}) {paper}")
            out["results"].append(res)
    out["load_average"]["after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    log(f"\nload average after: {' '.join(f'{v:.2f}' for v in out['load_average']['after'] or [])}")
    return out


def main(argv) -> None:
    from absl import flags

    FLAGS = flags.FLAGS
    try:
        threads = [int(t) for t in FLAGS.threads.split(",")]
    except ValueError:
        sys.exit(f"export.benchmark: error: --threads must be a comma list of integers, got {FLAGS.threads!r}")
    precisions = [p for p in FLAGS.precisions.split(",") if p]
    from hne_tf.export.precisions import REGISTRY

    unknown = [p for p in precisions if p not in REGISTRY]
    if unknown:
        sys.exit(f"export.benchmark: error: unknown precision(s) {unknown}; choose from {', '.join(REGISTRY)}")
    if FLAGS.runs < 20:
        sys.exit(f"export.benchmark: error: --runs must be at least 20, got {FLAGS.runs}")
    if FLAGS.warmup < 0:
        sys.exit(f"export.benchmark: error: --warmup must be at least 0, got {FLAGS.warmup}")
    if not threads or min(threads) < 1:
        sys.exit(f"export.benchmark: error: --threads must be positive integers, got {FLAGS.threads!r}")
    if not precisions:
        sys.exit("export.benchmark: error: --precisions is empty")
    started = time.time()
    try:
        result = benchmark(FLAGS.manifest, threads, precisions, FLAGS.runs, FLAGS.warmup, FLAGS.independent)
    except (mf.ManifestError, litert.UnsupportedLiteRT) as e:
        sys.exit(f"export.benchmark: error: {e}")
    output = FLAGS.output or os.path.join(os.path.dirname(os.path.abspath(FLAGS.manifest)), "latency.json")
    osutil.write_json(output, result)
    print(f"\nwrote {output} ({time.time() - started:.0f} s)")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("manifest", "runs/hne_fashion_mnist_tflite/manifest.json", "An export's manifest.json.")
    flags.DEFINE_string("threads", "1,2", "Comma list of interpreter thread counts.")
    flags.DEFINE_string("precisions", "float32,int8", "Comma list of precisions to time.")
    flags.DEFINE_integer("runs", 50, "Timed runs per measurement (at least 20); the median is reported.")
    flags.DEFINE_integer("warmup", 5, "Untimed runs before timing.")
    flags.DEFINE_bool("independent", True, "Also time an independent ensemble of the same N and base network.")
    flags.DEFINE_string("output", None, "JSON output (default: <manifest dir>/latency.json).")


def cli() -> None:
    """The ``hne-bench`` command."""
    run_app(main, _define_flags, __doc__, "export.benchmark")


if __name__ == "__main__":
    cli()
