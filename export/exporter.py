"""The export job: a ``train.py`` run -> TFLite files + ``manifest.json``, checked.

Everything is written to a staging directory beside ``out_dir`` and moved
into place only when every check passed, so a failed or interrupted export
never leaves a partial ``out_dir`` behind (and never touches an existing one
unless ``overwrite``).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import time
from typing import Callable, List, Optional, Sequence

import numpy as np

from export import convert as conv
from export import manifest as mf
from export import runtime as rt
from hne_tf import data as data_lib
from hne_tf.cost import cost_table
from hne_tf.tree import default_prefixes


class ExportError(RuntimeError):
    """Bad input or a failed check; the message says what to do."""


@dataclasses.dataclass
class ExportConfig:
    """Options of ``python -m export`` (see its ``--help``)."""

    model_dir: str
    out_dir: str
    prefixes: Optional[Sequence[int]] = None      # default 1, 2, 4, ..., N; "all": 1..N
    precisions: Sequence[str] = mf.PRECISIONS
    members: Optional[Sequence[int]] = None       # default: every OEMC student, none otherwise
    anytime: bool = True
    eval_examples: Optional[int] = None           # default: the whole test split
    calibration_images: int = 256
    parity_examples: int = 256
    parity_tolerance: float = 1e-4
    max_anytime_size_ratio: float = 1.05
    latency_threads: int = 2
    latency_runs: int = 20
    data_dir: Optional[str] = None                # default: the run's --data_dir
    overwrite: bool = False


def _check_config(config: ExportConfig) -> None:
    config.precisions = tuple(dict.fromkeys(config.precisions))  # drop repeats, keep the order
    unknown = [p for p in config.precisions if p not in mf.PRECISIONS]
    if unknown or not config.precisions:
        raise ExportError(f"unknown precision(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"choose from {', '.join(mf.PRECISIONS)}")
    for name in ("calibration_images", "parity_examples", "latency_threads", "latency_runs"):
        if getattr(config, name) < 1:
            raise ExportError(f"--{name} must be at least 1, got {getattr(config, name)}")
    if config.eval_examples is not None and config.eval_examples < 1:
        raise ExportError(f"--eval_examples must be at least 1, got {config.eval_examples}")
    if config.parity_tolerance <= 0 or config.max_anytime_size_ratio <= 0:
        raise ExportError("--parity_tolerance and --max_anytime_size_ratio must be positive")
    out = os.path.abspath(config.out_dir)
    if os.path.abspath(config.model_dir) == out:
        raise ExportError("--out_dir must differ from --model_dir")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExportError(f"--out_dir {out} exists and is not a directory")
    if os.path.isdir(out) and os.listdir(out) and not config.overwrite:
        raise ExportError(f"--out_dir {out} already holds files; pass --overwrite to replace them "
                          "(the old export is kept until the new one has passed every check)")


def _load_run(config: ExportConfig):
    from hne_tf.training import TrainingError, load_trained

    try:
        model = load_trained(config.model_dir)
    except TrainingError as e:
        raise ExportError(str(e))
    with open(os.path.join(config.model_dir, "config.json")) as f:
        run = json.load(f)
    epochs = None
    eval_path = os.path.join(config.model_dir, "eval.json")
    if os.path.exists(eval_path):
        try:
            with open(eval_path) as f:
                epochs = json.load(f).get("epochs_trained")
        except (json.JSONDecodeError, AttributeError):
            epochs = None
    return model, run, epochs


def _resolve_leaves(config: ExportConfig, model) -> tuple:
    n = model.num_leaves
    if config.prefixes == "all":
        prefixes = list(range(1, n + 1))
    else:
        prefixes = sorted(set(config.prefixes)) if config.prefixes else default_prefixes(n)
    bad = [k for k in prefixes if not isinstance(k, int) or not 1 <= k <= n]
    if bad:
        raise ExportError(f"--prefixes {bad} outside [1, {n}]: this {model.preset} has {n} leaves")
    if config.members is None:
        members = list(range(n)) if model.family == "oemc" else []
    else:
        members = sorted(set(config.members))
    bad = [m for m in members if not isinstance(m, int) or not 0 <= m < n]
    if bad:
        raise ExportError(f"--members {bad} outside [0, {n - 1}]: leaves are numbered from 0")
    return prefixes, members


def _stage_dir(out_dir: str) -> str:
    out = os.path.abspath(out_dir)
    stage = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    return stage


def _publish(stage: str, out_dir: str) -> None:
    out = os.path.abspath(out_dir)
    old = None
    if os.path.exists(out):
        old = f"{out}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(stage, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def run_export(config: ExportConfig, log: Callable[[str], None] = print) -> dict:
    """Exports, checks and publishes; returns the manifest. Raises ExportError."""
    started = time.time()
    _check_config(config)
    model, run, epochs = _load_run(config)
    prefixes, members = _resolve_leaves(config, model)
    n = model.num_leaves
    data_dir = config.data_dir if config.data_dir is not None else run.get("data_dir")
    dataset = run["dataset"]
    info = data_lib.dataset_info(dataset)
    try:
        x_test, y_test = data_lib.load_arrays(dataset, "test", data_dir=data_dir, take=config.eval_examples)
    except data_lib.DataError as e:
        raise ExportError(str(e))
    x_parity = x_test[:config.parity_examples]
    calibration = None
    if "int8" in config.precisions:
        try:
            calibration = data_lib.representative_images(dataset, config.calibration_images, data_dir=data_dir)
        except (data_lib.DataError, ValueError) as e:
            raise ExportError(f"int8 calibration images: {e}")
    costs = cost_table(model)
    log(f"exporting {model.preset} ({n} leaves, {costs['full_macs'] / 1e6:.2f} MMACs) from {config.model_dir}: "
        f"prefixes {prefixes}, members {members or 'none'}, anytime {'yes' if config.anytime else 'no'}, "
        f"precisions {', '.join(config.precisions)}; accuracy on {len(y_test)} {dataset} test images")

    # The size bound compares the anytime file with the float32 k = N model,
    # so that one is always built (and published only if asked for).
    traced_prefixes = sorted(set(prefixes) | ({n} if config.anytime else set()))
    stage = _stage_dir(config.out_dir)
    try:
        log(f"tracing and freezing {len(traced_prefixes) + len(members) + (n if config.anytime else 0)} graphs")
        graphs = conv.trace_graphs(model, traced_prefixes, members, anytime=config.anytime, log=log)
        converter = conv.Converter(graphs)
        steps = model.anytime_steps()
        step_dicts = [_step_dict(s) for s in steps]
        reference = {conv.prefix_key(k): model.prefix(k)(x_parity, training=False).numpy() for k in traced_prefixes}
        reference.update({conv.member_key(m): model.member_logits(x_parity, m).numpy() for m in members})
        if config.anytime:
            reference["anytime"] = model.run_anytime(x_parity).numpy()

        entries: List[dict] = []
        parity: List[dict] = []
        full_f32 = None
        for precision in config.precisions:
            jobs = [("prefix", k, conv.prefix_key(k)) for k in traced_prefixes]
            jobs += [("member", m, conv.member_key(m)) for m in members]
            for kind, index, key in jobs:
                publish = kind == "member" or index in prefixes
                if not publish and precision != "float32":
                    continue
                t = time.time()
                rep = None
                if precision == "int8":
                    rep = conv.representative_batches(graphs, [key], steps, calibration)
                buf = converter.convert([key], precision, rep)
                name = f"{key}_{precision}.tflite"
                entry, logits = _measure_single(buf, kind, index, precision, name, x_test, y_test,
                                                len(x_parity), config, costs)
                if kind == "prefix" and index == n and precision == "float32":
                    full_f32 = {"bytes": len(buf), "weight_bytes": conv.weight_bytes(buf), "file": name}
                if precision == "float32":
                    parity.append(_parity(name, "serving_default", logits, reference[key], config.parity_tolerance))
                if publish:
                    entry["sha256"] = _write(stage, name, buf)
                    entries.append(entry)
                    log(f"  {name:<32} {len(buf) / 1024:9.1f} KiB  acc {entry['accuracy'] * 100:6.2f}%  "
                        f"{entry['latency_ms']:7.3f} ms  ({time.time() - t:.1f} s)")
            if config.anytime:
                t = time.time()
                keys = [conv.step_key(s.step) for s in steps]
                rep = conv.representative_batches(graphs, keys, steps, calibration) if precision == "int8" else None
                buf = converter.convert(keys, precision, rep)
                name = f"anytime_{precision}.tflite"
                sha = _write(stage, name, buf)
                entry, logits = _measure_anytime(os.path.join(stage, name), buf, precision, step_dicts, x_test,
                                                 y_test, len(x_parity), config)
                entries.append({**entry, "sha256": sha})
                if precision == "float32":
                    for s in steps:
                        parity.append(_parity(name, conv.step_key(s.step), logits[:, s.step - 1],
                                              reference["anytime"][:, s.step - 1], config.parity_tolerance))
                log(f"  {name:<32} {len(buf) / 1024:9.1f} KiB  acc@N {entry['accuracy_by_leaves'][-1] * 100:6.2f}%  "
                    f"all steps {entry['all_steps_latency_ms']:7.3f} ms  ({time.time() - t:.1f} s)")
        checks = {"parity": {"tolerance": config.parity_tolerance,
                             "passed": all(p["passed"] for p in parity), "results": parity},
                  "int8": _int8_drops(entries)}
        if config.anytime and "float32" in config.precisions:
            checks["anytime_size"] = _size_check(entries, full_f32, config.max_anytime_size_ratio)
        manifest = _manifest(model, run, epochs, info, config, costs, entries, checks, len(y_test), steps, graphs)
        mf.validate(manifest, stage)
        with open(os.path.join(stage, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
        _report(manifest, log)
        failures = _failures(checks)
        if failures:
            rejected = os.path.abspath(config.out_dir) + ".rejected"
            shutil.rmtree(rejected, ignore_errors=True)
            os.replace(stage, rejected)
            raise ExportError("export checks failed:\n  " + "\n  ".join(failures)
                              + f"\nNothing was written to {config.out_dir}; the rejected files are in {rejected}")
        _publish(stage, config.out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    log(f"wrote {len(entries)} files and manifest.json to {config.out_dir} in {time.time() - started:.0f} s")
    return manifest


def _write(stage: str, name: str, buf: bytes) -> str:
    """Writes ``buf`` to ``stage/name``; its sha256."""
    with open(os.path.join(stage, name), "wb") as f:
        f.write(buf)
    return hashlib.sha256(buf).hexdigest()


# The parity images are the first ``num_parity`` test images, so their
# TFLite logits are the first rows of the test-split logits.

def _measure_single(buf, kind, index, precision, name, x_test, y_test, num_parity, config, costs):
    interpreter = rt.load_interpreter(buf, num_threads=os.cpu_count() or 1)
    run = rt.Runner(interpreter, conv.DEFAULT_SIGNATURE)
    test_logits = rt.run_batched(run, x_test)
    parity_logits = test_logits[:num_parity]
    ensemble = test_logits.mean(axis=1) if kind == "prefix" else test_logits
    timed = rt.Runner(rt.load_interpreter(buf, num_threads=config.latency_threads), conv.DEFAULT_SIGNATURE)
    one = x_test[:1]
    latency = rt.median_latency_ms(lambda: timed(input=one), config.latency_runs)
    if kind == "prefix":
        cost = costs["prefixes"][index - 1]
        extra = {"k": index}
    else:
        cost = costs["members"][index]
        extra = {"leaf": index}
    entry = {"file": name, "kind": kind, "precision": precision, **extra, "bytes": len(buf),
             "macs": cost["macs"], "params": cost["params"],
             "accuracy": rt.accuracy(ensemble, y_test), "latency_ms": round(latency, 4),
             "delegate": interpreter.delegate_used,
             "predictions": np.argmax(ensemble, -1),  # dropped before writing; for int8 agreement
             "signatures": interpreter.get_signature_list()}
    return entry, parity_logits


def _measure_anytime(path, buf, precision, step_dicts, x_test, y_test, num_parity, config):
    interpreter = rt.load_interpreter(path, num_threads=os.cpu_count() or 1)
    test_logits = rt.run_steps(interpreter, step_dicts, x_test)
    parity_logits = test_logits[:num_parity]
    n = len(step_dicts)
    running = np.cumsum(test_logits, axis=1) / np.arange(1, n + 1)[None, :, None]
    acc = [rt.accuracy(running[:, k], y_test) for k in range(n)]
    timed = rt.load_interpreter(path, num_threads=config.latency_threads)
    per_step, all_steps = rt.step_latencies_ms(timed, step_dicts, x_test[0], config.latency_runs)
    entry = {"file": os.path.basename(path), "kind": "anytime", "precision": precision, "bytes": len(buf),
             "weight_bytes": conv.weight_bytes(buf), "accuracy_by_leaves": acc,
             "step_latency_ms": [round(v, 4) for v in per_step], "all_steps_latency_ms": round(all_steps, 4),
             "delegate": interpreter.delegate_used,
             "signatures": interpreter.get_signature_list()}
    return entry, parity_logits


def _step_dict(s) -> dict:
    return {"step": s.step, "signature": conv.step_key(s.step), "reads": s.reads, "writes": list(s.writes)}


def _parity(name, signature, got, want, tolerance) -> dict:
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    return {"file": name, "signature": signature, "max_abs_diff": diff, "passed": bool(diff <= tolerance)}


def _int8_drops(entries) -> List[dict]:
    by = {(e["kind"], e.get("k", e.get("leaf")), e["precision"]): e for e in entries if e["kind"] != "anytime"}
    rows = []
    for (kind, index, precision), e in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        ref = by.get((kind, index, "float32"))
        if precision != "int8" or ref is None:
            continue
        rows.append({"kind": kind, ("k" if kind == "prefix" else "leaf"): index,
                     "float32_accuracy": ref["accuracy"], "int8_accuracy": e["accuracy"],
                     "drop_points": round((ref["accuracy"] - e["accuracy"]) * 100, 3),
                     "top1_agreement": float(np.mean(ref["predictions"] == e["predictions"]))})
    for e in entries:
        e.pop("predictions", None)
    return rows


def _size_check(entries, full_f32, bound) -> dict:
    anytime = next(e for e in entries if e["kind"] == "anytime" and e["precision"] == "float32")
    ratio = anytime["bytes"] / full_f32["bytes"]
    weight_ratio = anytime["weight_bytes"] / full_f32["weight_bytes"]
    return {"anytime_bytes": anytime["bytes"], "full_model_bytes": full_f32["bytes"], "ratio": round(ratio, 4),
            "bound": bound, "anytime_weight_bytes": anytime["weight_bytes"],
            "full_model_weight_bytes": full_f32["weight_bytes"], "weight_ratio": round(weight_ratio, 4),
            # Every node's weights stored once: no more constant bytes than the
            # full model (1% slack for small shared constants such as shapes).
            "passed": bool(ratio <= bound and weight_ratio <= 1.01)}


def _failures(checks) -> List[str]:
    out = []
    for p in checks["parity"]["results"]:
        if not p["passed"]:
            out.append(f"float32 parity: {p['file']} [{p['signature']}] differs from Keras by "
                       f"{p['max_abs_diff']:.2e} > {checks['parity']['tolerance']:.0e}")
    size = checks.get("anytime_size")
    if size and not size["passed"]:
        out.append(f"anytime size: {size['anytime_bytes']} bytes = {size['ratio']:.3f} x the full float32 model "
                   f"(bound {size['bound']}), weights {size['weight_ratio']:.3f} x (bound 1.01); "
                   "raise --max_anytime_size_ratio for very small models, whose per-op metadata dominates")
    return out


def _manifest(model, run, epochs, info, config, costs, entries, checks, num_eval, steps, graphs) -> dict:
    n = model.num_leaves
    manifest = {
        "format": mf.FORMAT,
        "version": mf.VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"preset": model.preset, "family": model.family, "options": run.get("model_options") or {},
                  "branching": list(model.spec.branching), "num_leaves": n, "num_classes": model.num_classes,
                  "dataset": run["dataset"], "loss": run.get("loss"), "epochs_trained": epochs},
        "input": {"name": "input", "shape": [-1, *model.image_shape], "dtype": "float32", "layout": "NHWC",
                  "normalization": {"formula": "(pixel / 255 - mean) / std, per channel",
                                    "mean": list(info.mean), "std": list(info.std)}},
        "labels": list(info.labels),
        "num_leaves": n,
        "ensemble": {"combine": "mean_logits",
                     "prediction": "softmax of the mean of the first k leaves' logits"},
        "evaluation": {"dataset": run["dataset"], "split": "test", "num_examples": num_eval},
        "latency": {"unit": "ms", "statistic": "median", "batch": 1, "threads": config.latency_threads,
                    "runs": config.latency_runs, "warmup": 3, "delegate": rt.DELEGATE,
                    "note": "host CPU, Python LiteRT; includes the Python call overhead"},
        "precisions": {p: conv.PRECISION_HELP[p] for p in config.precisions},
        "files": entries,
        "checks": checks,
    }
    if config.anytime:
        # The slots' shapes are the traced step graphs' inputs and outputs.
        shapes = {"input": tuple(model.image_shape)}
        for s in steps:
            shapes.update({w: graphs[conv.step_key(s.step)].outputs[w] for w in s.writes})
        manifest["anytime"] = {
            "slots": {name: [-1, *shape] for name, shape in shapes.items()},
            "steps": [{**_step_dict(s), "leaf": s.leaf, "start_block": s.start_block,
                       "macs": costs["steps"][s.step - 1]["macs"], "params": costs["steps"][s.step - 1]["params"]}
                      for s in steps],
            "full_macs": costs["full_macs"],
        }
    return manifest


def _report(manifest, log) -> None:
    rows = [f"{'file':<32} {'MMACs':>7} {'acc %':>7} {'ms':>8}"]
    for e in manifest["files"]:
        if e["kind"] == "anytime":
            continue
        rows.append(f"{e['file']:<32} {e['macs'] / 1e6:7.2f} {e['accuracy'] * 100:7.2f} {e['latency_ms']:8.3f}")
    log("\n".join(rows))
    for row in manifest["checks"]["int8"]:
        what = f"k={row['k']}" if "k" in row else f"leaf {row['leaf']}"
        log(f"int8 {row['kind']} {what}: float32 {row['float32_accuracy'] * 100:.2f}% -> int8 "
            f"{row['int8_accuracy'] * 100:.2f}% (drop {row['drop_points']:.2f} points, "
            f"top-1 agreement {row['top1_agreement'] * 100:.1f}%)")
    parity = manifest["checks"]["parity"]
    worst = max((p["max_abs_diff"] for p in parity["results"]), default=0.0)
    log(f"float32 parity with Keras: {len(parity['results'])} graphs, worst max |diff| {worst:.2e} "
        f"(tolerance {parity['tolerance']:.0e}): {'ok' if parity['passed'] else 'FAILED'}")
    size = manifest["checks"].get("anytime_size")
    if size:
        log(f"anytime file {size['anytime_bytes']:,} bytes = {size['ratio']:.3f} x the full float32 model "
            f"(bound {size['bound']}); weights {size['weight_ratio']:.3f} x: {'ok' if size['passed'] else 'FAILED'}")


__all__ = ["ExportConfig", "ExportError", "run_export"]
