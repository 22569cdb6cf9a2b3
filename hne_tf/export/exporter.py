"""The export job: a ``train.py`` run -> TFLite files + ``manifest.json``, checked.

Everything is written to a staging directory beside ``out_dir`` and moved
into place only when every check passed, so a failed or interrupted export
never leaves a partial ``out_dir`` behind, and never touches an existing one
unless ``overwrite`` and it is an export (:mod:`hne_tf.export.publish`).

The data flows one way: the run is read once (:func:`hne_tf.training.load_run`:
model, ``config.json``, the checkpoint restored and its epochs), each graph is
traced, converted and written once, each file is loaded into LiteRT once (to
measure it, count its XNNPACK partitions and time it), and the manifest is
built from those results (:class:`_Measured`).
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hne_tf import cost as hne_cost
from hne_tf import datasets, osutil
from hne_tf.cost import cost_table
from hne_tf.ensemble import RULES as ENSEMBLE_RULES
from hne_tf.ensemble import ensemble_logits, prefix_ensembles
from hne_tf.export import convert as conv
from hne_tf.export import inputs, publish
from hne_tf.export import litert_adapter as litert
from hne_tf.export import manifest as mf
from hne_tf.export import precisions as precision_registry
from hne_tf.export import runtime as rt
from hne_tf.osutil import os_reason
from hne_tf.presets import TEACHER
from hne_tf.tree import default_prefixes

if TYPE_CHECKING:
    from hne_tf.training import TrainedRun


class ExportError(RuntimeError):
    """Bad input or a failed check; the message says what to do."""


@dataclasses.dataclass
class ExportConfig:
    """Options of ``python -m export`` (see its ``--help``)."""

    model_dir: str
    out_dir: str
    prefixes: Sequence[int] | None = None      # default 1, 2, 4, ..., N; "all": 1..N
    precisions: Sequence[str] = tuple(precision_registry.REGISTRY)
    members: Sequence[int] | None = None       # default: every OEMC student, none otherwise
    batch_sizes: Sequence[int] = ()            # static batches (> 1) of the extra batched k = N files
    anytime: bool = True
    teacher: bool = True                       # the family's own teacher file, where the model has one
    eval_examples: int | None = None           # default: the whole test split
    calibration_images: int = 256
    parity_examples: int = 256
    parity_tolerance: float = 1e-5               # relative to max(1, the largest |Keras logit|)
    max_anytime_size_ratio: float = 1.05
    latency_threads: int = 2
    latency_runs: int = 50
    latency_warmup: int = 5
    data_dir: str | None = None                # default: the run's --data_dir
    overwrite: bool = False
    allow_training: bool = False               # export even while a train.py holds the run's lock


def _check_config(config: ExportConfig) -> None:
    try:
        config.precisions = precision_registry.check_names(config.precisions)  # drop repeats, keep the order
    except ValueError as e:
        raise ExportError(str(e)) from None
    for name in ("calibration_images", "parity_examples", "latency_threads", "latency_runs"):
        if getattr(config, name) < 1:
            raise ExportError(f"--{name} must be at least 1, got {getattr(config, name)}")
    if config.latency_warmup < 0:
        raise ExportError(f"latency_warmup must be at least 0, got {config.latency_warmup}")
    if config.eval_examples is not None and config.eval_examples < 1:
        raise ExportError(f"--eval_examples must be at least 1, got {config.eval_examples}")
    for name in ("prefixes", "members"):
        value = getattr(config, name)
        if value is not None and value != "all" and not isinstance(value, (list, tuple)):
            raise ExportError(f"--{name} must be a list of integers, got {value!r}")
    if not isinstance(config.batch_sizes, (list, tuple)) or any(
            not isinstance(b, int) or isinstance(b, bool) or b < 2 for b in config.batch_sizes):
        raise ExportError(f"--batch_sizes must be integers of at least 2 (batch 1 is always written), "
                          f"got {config.batch_sizes!r}")
    config.batch_sizes = sorted(set(config.batch_sizes))
    if config.prefixes is not None and len(config.prefixes) == 0:
        # An empty list is no ensemble size at all, not "the default ones".
        raise ExportError("--prefixes is empty; give ensemble sizes such as 1,2,4 or 'default' or 'all'")
    if not config.parity_tolerance > 0 or not config.max_anytime_size_ratio > 0:
        raise ExportError("--parity_tolerance and --max_anytime_size_ratio must be positive")
    try:
        publish.check_out_dir(config.out_dir, config.model_dir, config.overwrite)
    except publish.PublishError as e:
        raise ExportError(str(e)) from None


def _check_trainer(config: ExportConfig, log: Callable[[str], None]) -> None:
    """Refuses (or, with ``allow_training``, warns) while a ``train.py`` holds the run's lock: its
    checkpoints change under the export."""
    from hne_tf.training import trainer_holding

    holder = trainer_holding(config.model_dir)
    if holder is None:
        return
    what = f"--model_dir {config.model_dir} is being trained right now (train.py, {holder})"
    if not config.allow_training:
        raise ExportError(f"{what}: its checkpoints change under the export. Wait for it to finish, or pass "
                          "--allow_training to export the newest checkpoint that restores now")
    log(f"WARNING: {what}; exporting its newest checkpoint that restores now (--allow_training)")


def _load_run(config: ExportConfig, log: Callable[[str], None]) -> TrainedRun:
    """The run, read once: model, config.json, the checkpoint restored and its epochs (from the checkpoint
    itself, which is what is exported); eval.json is only checked against it."""
    from hne_tf.training import TrainingError, load_run

    try:
        run = load_run(config.model_dir)
    except TrainingError as e:
        raise ExportError(str(e)) from e
    log(f"using {run.checkpoint} ({run.epochs_trained} epochs trained)")
    eval_path = os.path.join(config.model_dir, "eval.json")
    try:
        evaluated = osutil.read_json(eval_path)
    except FileNotFoundError:
        return run
    except (ValueError, OSError) as e:
        reason = os_reason(e) if isinstance(e, OSError) else e
        raise ExportError(f"{eval_path} cannot be read ({reason}): rewrite it with train.py "
                          f"--model_dir={config.model_dir} --eval_only, or move it away") from None
    epochs = evaluated.get("epochs_trained") if isinstance(evaluated, dict) else None
    if epochs != run.epochs_trained:
        log(f"WARNING: {eval_path} is for {epochs} epochs, the checkpoint exported for {run.epochs_trained}: "
            "the manifest records the checkpoint's")
    return run


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
        members = model.default_members()  # the family's deployable members (OEMC's students)
    else:
        members = sorted(set(config.members))
    bad = [m for m in members if not isinstance(m, int) or not 0 <= m < n]
    if bad:
        raise ExportError(f"--members {bad} outside [0, {n - 1}]: leaves are numbered from 0")
    return prefixes, members


def run_export(config: ExportConfig, log: Callable[[str], None] = print) -> dict:
    """Exports, checks and publishes; returns the manifest. Raises ExportError."""
    started = time.time()
    publish.recover(config.out_dir, log)
    _check_config(config)
    _check_trainer(config, log)
    try:
        stage = publish.Stage(config.out_dir)  # before any work: an unwritable folder fails fast
    except publish.PublishError as e:
        raise ExportError(str(e)) from None
    try:
        return _export(config, stage, started, log)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(f"disk full while writing the export beside {config.out_dir} ({e.strerror}); "
                              f"nothing was published and the previous contents of {config.out_dir} are "
                              "unchanged: free some space and rerun") from e
        raise ExportError(f"cannot write the export beside {config.out_dir}: {e.strerror or e}"
                          + (f" ({e.filename})" if e.filename else "")
                          + f"; the previous contents of {config.out_dir} are unchanged") from e
    except (publish.PublishError, litert.UnsupportedLiteRT) as e:
        raise ExportError(str(e)) from None
    finally:
        stage.close()  # whatever is left of the staging folder, and its lock


@dataclasses.dataclass
class _Loaded:
    """A file in LiteRT, loaded once (``--latency_threads`` threads): measured, its XNNPACK partitions
    counted, then timed. ``runner``: a single model's; ``steps``: the anytime file's."""

    interpreter: object
    runner: rt.Runner | None = None
    steps: rt.Steps | None = None


@dataclasses.dataclass
class _Measured:
    """What the export measured, for the manifest (:func:`_manifest`)."""

    entries: list[dict]
    checks: dict
    latency: dict
    num_eval: int
    costs: dict
    slot_shapes: dict[str, tuple]
    teacher: dict | None


def _export(config: ExportConfig, stage: publish.Stage, started: float, log: Callable[[str], None]) -> dict:  # noqa: C901 -- the export in order: load, convert, check, measure, time, manifest
    run = _load_run(config, log)
    model = run.model
    prefixes, members = _resolve_leaves(config, model)
    n = model.num_leaves
    data_dir = config.data_dir if config.data_dir is not None else run.config.get("data_dir")
    try:  # the run's data set, with the input spec and labels its dataset.json recorded
        dataset = datasets.for_run(config.model_dir, data_dir)
        info = dataset.info
    except (datasets.DataError, ValueError) as e:
        raise ExportError(str(e)) from e
    try:
        x_test, y_test = inputs.load_split(dataset, "test", data_dir, config.eval_examples)
        calibration = None
        if any(precision_registry.get(p).calibrated for p in config.precisions):
            num = config.calibration_images
            if info.train_size and info.train_size < num:  # a small folder: all of it, rather than refuse
                log(f"calibrating on all {info.train_size} training images of {run.config['dataset']} "
                    f"(fewer than --calibration_images={num})")
                num = info.train_size
            calibration = inputs.calibration_images(dataset, num, data_dir)
    except inputs.InputError as e:
        raise ExportError(str(e)) from e
    x_parity = x_test[:config.parity_examples]
    costs = cost_table(model)
    # Asked by role: a family with a "teacher" extra (ONE's gate) gets its teacher file.
    teacher = _teacher_cost(model, costs) if config.teacher and model.extra(TEACHER) else None
    log(f"exporting {model.preset} ({n} leaves, {costs['full_macs'] / 1e6:.2f} MMACs) from {config.model_dir}: "
        f"prefixes {prefixes}, members {members or 'none'}, anytime {'yes' if config.anytime else 'no'}, "
        f"{'teacher (every leaf + gate), ' if teacher else ''}"
        f"precisions {', '.join(config.precisions)}; ensemble rule {model.ensemble_rule}; accuracy on "
        f"{len(y_test)} {dataset} test images; Keras reference on {_keras_device()}")

    # The size bound compares the anytime file with the reference (float32)
    # k = N model, so that one is always built (and published only if asked for).
    reference_precision = precision_registry.REFERENCE
    traced_prefixes = sorted(set(prefixes) | ({n} if config.anytime or config.batch_sizes else set()))
    log(f"tracing and freezing {len(traced_prefixes) + len(members) + (n if config.anytime else 0) + bool(teacher)}"
        " graphs")
    graphs = conv.trace_graphs(model, traced_prefixes, members, anytime=config.anytime, log=log,
                               teacher=teacher is not None)
    converter = conv.Converter(graphs)
    steps = model.anytime_steps()
    step_dicts = [_step_dict(s) for s in steps]
    reference = {conv.prefix_key(k): model.prefix(k)(x_parity, training=False).numpy() for k in traced_prefixes}
    reference.update({conv.member_key(m): model.member_logits(x_parity, m).numpy() for m in members})
    if config.anytime:
        reference["anytime"] = model.run_anytime(x_parity).numpy()
    if teacher:
        reference[conv.TEACHER_KEY] = model.teacher_logits(model(x_parity, training=False)).numpy()

    entries: list[dict] = []
    loaded: dict[str, _Loaded] = {}  # the published files, kept loaded for the timing
    parity: list[dict] = []
    full_reference = None
    measure = _Measure(x_test, y_test, len(x_parity), costs, teacher, model.ensemble_rule, config.latency_threads)
    for precision in config.precisions:
        calibrated = precision_registry.get(precision).calibrated
        jobs = [("prefix", k, conv.prefix_key(k)) for k in traced_prefixes]
        jobs += [("member", m, conv.member_key(m)) for m in members]
        jobs += [("teacher", None, conv.TEACHER_KEY)] if teacher else []
        for kind, index, key in jobs:
            publish_it = kind != "prefix" or index in prefixes
            if not publish_it and precision != reference_precision:
                continue
            t = time.time()
            rep = conv.representative_batches(graphs, [key], steps, calibration) if calibrated else None
            buf = converter.convert([key], precision, rep)
            name = f"{key}_{precision}.tflite"
            sha = _write(stage.path, name, buf) if publish_it else None
            entry, logits, handle = measure.single(buf, os.path.join(stage.path, name) if sha else buf,
                                                   kind, index, precision, name)
            if kind == "prefix" and index == n and precision == reference_precision:
                full_reference = {"bytes": len(buf), "weight_bytes": conv.weight_bytes(buf), "file": name}
            if precision == reference_precision:
                parity.append(parity_result(name, "serving_default", logits, reference[key],
                                            config.parity_tolerance))
            if publish_it:
                entry["sha256"] = sha
                entries.append(entry)
                loaded[name] = handle
                log(f"  {name:<32} {len(buf) / 1024:9.1f} KiB  acc {entry['accuracy'] * 100:6.2f}%  "
                    f"({time.time() - t:.1f} s)")
        for b in config.batch_sizes:  # the full ensemble at a larger static batch, for hosts
            t = time.time()
            key = conv.prefix_key(n)
            rep = conv.representative_batches(graphs, [key], steps, calibration, batch=b) if calibrated else None
            buf = converter.convert([key], precision, rep, batch=b)
            name = f"batched_k{n:02d}_b{b}_{precision}.tflite"
            sha = _write(stage.path, name, buf)
            entry, logits, loaded[name] = measure.single(buf, os.path.join(stage.path, name), "batched", n,
                                                         precision, name)
            entries.append({**entry, "batch": b, "sha256": sha})
            if precision == reference_precision:
                parity.append(parity_result(name, "serving_default", logits, reference[key], config.parity_tolerance))
            log(f"  {name:<32} {len(buf) / 1024:9.1f} KiB  acc {entry['accuracy'] * 100:6.2f}%  "
                f"({time.time() - t:.1f} s)")
        if config.anytime:
            t = time.time()
            keys = [conv.step_key(s.step) for s in steps]
            rep = conv.representative_batches(graphs, keys, steps, calibration) if calibrated else None
            buf = converter.convert(keys, precision, rep)
            name = f"anytime_{precision}.tflite"
            sha = _write(stage.path, name, buf)
            entry, logits, loaded[name] = measure.anytime(os.path.join(stage.path, name), buf, precision,
                                                          step_dicts)
            entries.append({**entry, "sha256": sha})
            if precision == reference_precision:
                for s in steps:
                    parity.append(parity_result(name, conv.step_key(s.step), logits[:, s.step - 1],
                                                reference["anytime"][:, s.step - 1], config.parity_tolerance))
            log(f"  {name:<32} {len(buf) / 1024:9.1f} KiB  acc@N {entry['accuracy_by_leaves'][-1] * 100:6.2f}%  "
                f"({time.time() - t:.1f} s)")
    latency = _time_files(entries, loaded, x_test, config, stage.path, step_dicts, log)
    loaded.clear()  # every interpreter closes before the publish
    checks = {"parity": {"tolerance": config.parity_tolerance,
                         "tolerance_kind": "relative: max |TFLite - Keras| <= tolerance x max(1, max |Keras|)",
                         "examples": int(len(x_parity)),
                         "passed": all(p["passed"] for p in parity), "results": parity},
              **_accuracy_drops(entries)}
    if config.anytime and reference_precision in config.precisions:
        checks["anytime_size"] = _size_check(entries, full_reference, config.max_anytime_size_ratio)
    # The slots' shapes are the traced step graphs' inputs and outputs.
    slot_shapes = {"input": tuple(model.image_shape)}
    for s in steps if config.anytime else ():
        slot_shapes.update({w: graphs[conv.step_key(s.step)].outputs[w] for w in s.writes})
    manifest = _manifest(run, info, config, _Measured(entries, checks, latency, len(y_test), costs, slot_shapes,
                                                      teacher))
    mf.validate(manifest, stage.path)
    _write(stage.path, "manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
    _report(manifest, log)
    failures = _failures(checks)
    if failures:
        rejected = publish.reject(stage)
        raise ExportError("export checks failed:\n  " + "\n  ".join(failures)
                          + f"\nNothing was written to {config.out_dir}; the rejected files are in {rejected}")
    publish.publish(stage, config.overwrite)
    log(f"wrote {len(entries)} files and manifest.json to {config.out_dir} in {time.time() - started:.0f} s")
    return manifest


def _keras_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return ", ".join(d.name for d in gpus) if gpus else "CPU (no GPU found)"


def _write(stage: str, name: str, buf: bytes) -> str:
    """Writes ``buf`` to ``stage/name`` and syncs it; its sha256."""
    with open(os.path.join(stage, name), "wb") as f:
        f.write(buf)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(buf).hexdigest()


@dataclasses.dataclass
class _Measure:
    """Loads each file into LiteRT and measures it on the test split: one interpreter at ``threads``
    (kept for the timing), and ``workers`` 1-thread ones that share the pass over the test split.

    The parity images are the first ``num_parity`` test images, so their
    TFLite logits are the first rows of the test-split logits. A prefix
    file's accuracy is that of its ensemble under ``rule``
    (:func:`hne_tf.ensemble.ensemble_logits`); the anytime file's
    ``accuracy_by_leaves`` are those of the running ensemble
    (:func:`hne_tf.ensemble.prefix_ensembles`).
    """

    x_test: np.ndarray
    y_test: np.ndarray
    num_parity: int
    costs: dict
    teacher: dict | None
    rule: str
    threads: int
    #: 1-thread interpreters that share the test split's pass (rt.split_run); the timing uses ``threads``.
    workers: int = dataclasses.field(default_factory=osutil.host_cpus)

    def single(self, buf: bytes, source, kind: str, index, precision: str,
               name: str) -> tuple[dict, np.ndarray, _Loaded]:
        """``source``: the staged file's path, or ``buf`` for a file that is not published."""
        interpreter = rt.load_interpreter(source, num_threads=self.threads)
        runner = rt.Runner(interpreter, conv.DEFAULT_SIGNATURE)
        test_logits = rt.split_run([rt.Runner(rt.load_interpreter(source, num_threads=1), conv.DEFAULT_SIGNATURE)
                                    for _ in range(self.workers)], rt.run_batched, self.x_test)
        if kind in ("prefix", "batched"):
            ensemble = ensemble_logits(test_logits, index, self.rule)  # [n, k, C] -> [n, C]
            cost, extra = self.costs["prefixes"][index - 1], {"k": index}
        elif kind == "teacher":
            ensemble, cost, extra = test_logits, self.teacher, {}
        else:
            ensemble, cost, extra = test_logits, self.costs["members"][index], {"leaf": index}
        entry = {"file": name, "kind": kind, "precision": precision, **extra, "bytes": len(buf),
                 "macs": cost["macs"], "params": cost["params"],
                 "accuracy": rt.accuracy(ensemble, self.y_test),
                 "delegate": interpreter.delegate_used,
                 "predictions": np.argmax(ensemble, -1),  # dropped before writing; for the accuracy drops
                 "signatures": interpreter.get_signature_list(),
                 "tensor_order": mf.tensor_order(buf),
                 "xnnpack": _xnnpack(buf, interpreter)}
        return entry, test_logits[:self.num_parity], _Loaded(interpreter, runner=runner)

    def anytime(self, path: str, buf: bytes, precision: str, step_dicts: list[dict]) -> tuple[dict, np.ndarray,
                                                                                                  _Loaded]:
        interpreter = rt.load_interpreter(path, num_threads=self.threads)
        sequence = rt.Steps(interpreter, step_dicts)
        test_logits = rt.split_run([rt.Steps(rt.load_interpreter(path, num_threads=1), step_dicts)
                                    for _ in range(self.workers)], rt.Steps.run, self.x_test)
        running = prefix_ensembles(test_logits, self.rule)
        acc = [rt.accuracy(running[:, k], self.y_test) for k in range(len(step_dicts))]
        entry = {"file": os.path.basename(path), "kind": "anytime", "precision": precision, "bytes": len(buf),
                 "weight_bytes": conv.weight_bytes(buf), "accuracy_by_leaves": acc,
                 "delegate": interpreter.delegate_used,
                 "signatures": interpreter.get_signature_list(),
                 "tensor_order": mf.tensor_order(buf),
                 "xnnpack": _xnnpack(buf, interpreter)}
        return entry, test_logits[:self.num_parity], _Loaded(interpreter, steps=sequence)


def _xnnpack(buf, interpreter) -> dict:
    """XNNPACK partitions of a file: the most and the total over its signatures, and the ops left outside
    (a one-signature file read from ``interpreter``, which already holds it)."""
    per = rt.partitions(buf, interpreter=interpreter)
    return {"partitions_max": max((p["partitions"] for p in per.values()), default=0),
            "partitions_total": sum(p["partitions"] for p in per.values()),
            "fallback_ops": sorted({op for p in per.values() for op in p["fallback"]})}


def _time_files(entries, loaded: dict[str, _Loaded], images, config, stage_path: str, step_dicts: list[dict],
                log) -> dict:
    """Latency of every file at 1 thread and at ``--latency_threads``, timed interleaved: each round runs every
    file once at each thread count (batch 1: ``images[0]``; a batched file: one invoke on its first ``batch``
    ``images``, which also gives ``latency_ms_per_image``).

    Fills, at ``--latency_threads``, ``latency_ms`` and ``latency_iqr_ms`` of single models and
    ``step_latency_ms`` / ``all_steps_latency_ms`` (with their IQRs) of anytime files, as before; and for
    the thread choice (issue 24 §2) ``latency_ms_by_threads`` / ``step_latency_ms_by_threads`` and
    ``all_steps_latency_ms_by_threads``, keyed by the thread count, with ``threads``, the count
    :func:`runtime.faster_count` picks, and for anytime files ``step_threads``, that choice per step: the
    plan the host runner follows. Returns the conditions for the manifest's ``latency`` section.
    """
    counts = sorted({1, config.latency_threads})
    handles: dict[tuple[str, int], _Loaded] = {}
    for e in entries:
        for t in counts:
            if t == config.latency_threads:
                handles[e["file"], t] = loaded[e["file"]]
                continue
            interpreter = rt.load_interpreter(os.path.join(stage_path, e["file"]), num_threads=t)
            handles[e["file"], t] = (_Loaded(interpreter, steps=rt.Steps(interpreter, step_dicts))
                                     if e["kind"] == "anytime" else
                                     _Loaded(interpreter, runner=rt.Runner(interpreter, conv.DEFAULT_SIGNATURE)))
    image = images[:1]
    load_before = _loadavg()
    callables = {}
    step_rows: dict[tuple[str, int], list] = {}
    for key, handle in handles.items():
        if handle.steps is not None:
            rows = step_rows.setdefault(key, [])

            def run_all(sequence=handle.steps, rows=rows) -> None:
                row = np.zeros(len(sequence))
                sequence.run(image, row)
                rows.append(row)
            callables[key] = run_all
        elif handle.runner.batch not in (None, conv.BATCH):  # a batched file: its images bound once
            handle.runner(input=images[np.arange(handle.runner.batch) % len(images)])
            callables[key] = handle.runner.invoke
        else:
            callables[key] = lambda runner=handle.runner: runner.one(image)
    t0 = time.time()
    # prime: each timed call follows an untimed call of the same file, so
    # every file is timed with its own weights in the caches.
    times = rt.interleaved_ms(callables, config.latency_runs, config.latency_warmup, prime=True)
    main = config.latency_threads
    for e in entries:
        whole = {t: rt.median_iqr(times[e["file"], t]) for t in counts}
        e["threads"] = rt.faster_count(counts, [whole[t][0] for t in counts])
        if e["kind"] == "anytime":
            stats = {}
            for t in counts:
                # Rows: the warm-up calls, then per round the priming call and the timed one.
                rows = np.asarray(step_rows[e["file"], t][config.latency_warmup + 1::2])
                stats[t] = [rt.median_iqr(rows[:, i]) for i in range(rows.shape[1])]
            e["step_latency_ms"] = [round(m, 4) for m, _ in stats[main]]
            e["step_latency_iqr_ms"] = [round(q, 4) for _, q in stats[main]]
            e["all_steps_latency_ms"], e["all_steps_latency_iqr_ms"] = (round(v, 4) for v in whole[main])
            e["step_latency_ms_by_threads"] = {str(t): [round(m, 4) for m, _ in stats[t]] for t in counts}
            e["all_steps_latency_ms_by_threads"] = {str(t): round(whole[t][0], 4) for t in counts}
            e["step_threads"] = [rt.faster_count(counts, [stats[t][i][0] for t in counts])
                                 for i in range(len(step_dicts))]
        else:
            e["latency_ms"], e["latency_iqr_ms"] = (round(v, 4) for v in whole[main])
            e["latency_ms_by_threads"] = {str(t): round(whole[t][0], 4) for t in counts}
            if e["kind"] == "batched":
                e["latency_ms_per_image"] = round(min(whole[t][0] for t in counts) / e["batch"], 4)
    log(f"timed {len(entries)} files interleaved at {' and '.join(map(str, counts))} thread(s): "
        f"{config.latency_runs} rounds after {config.latency_warmup} warm-up ({time.time() - t0:.1f} s)")
    return {"load_average": {"before": load_before, "after": _loadavg()}, "threads_compared": counts}


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _teacher_cost(model, costs) -> dict:
    """The teacher file's MACs and params: ``cost_table``'s teacher row (every leaf plus the gate)."""
    try:
        teacher = costs.get("teacher") or hne_cost.teacher_cost(model, costs["prefixes"][-1])
    except ValueError as e:
        raise ExportError(f"{e}; export with --noteacher") from None
    return dict(teacher)


def _step_dict(s) -> dict:
    return {"step": s.step, "signature": conv.step_key(s.step), "reads": s.reads, "writes": list(s.writes)}


def parity_result(name: str, signature: str, got: np.ndarray, want: np.ndarray, tolerance: float) -> dict:
    """The float32 parity check of one graph: ``got`` (TFLite) against ``want`` (Keras) logits.

    Float32 rounding grows with the size of the numbers: a model with logits
    near 3,000 differs from Keras by about 1e-3 through rounding alone. The
    bound is therefore relative to the logits' scale, ``tolerance x max(1,
    max |want|)`` (an absolute ``tolerance`` for logits within +-1), which
    still catches a wrong graph: a changed weight moves the logits by far
    more than rounding does.
    """
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    bound = tolerance * max(1.0, scale)
    return {"file": name, "signature": signature, "max_abs_diff": diff, "logit_scale": scale,
            "bound": bound, "passed": bool(diff <= bound)}


def _graph_key(e: dict) -> tuple:
    """Which graph a file holds, whatever its precision: kind, k (prefix) or leaf (member), and batch."""
    return e["kind"], e.get("k", e.get("leaf", -1)), e.get("batch", conv.BATCH)


def _accuracy_drops(entries) -> dict:
    """Each non-reference file's accuracy against the same graph in the reference precision.

    Returns ``{"accuracy_drops": rows}`` (every precision, with a
    ``precision`` field) and, for schema version 1 readers, ``{"int8": rows}``
    (the int8 rows without that field).
    """
    reference = precision_registry.REFERENCE
    # A batched file is its batch-1 prefix file's graph: its drop is that file's.
    by = {(*_graph_key(e)[:2], e["precision"]): e for e in entries if e["kind"] not in ("anytime", "batched")}
    rows = []
    order = list(precision_registry.REGISTRY)
    for (kind, index, precision), e in sorted(by.items(), key=lambda kv: (order.index(kv[0][2]), kv[0][0],
                                                                          kv[0][1])):
        ref = by.get((kind, index, reference))
        if precision == reference or ref is None:
            continue
        where = {} if kind == "teacher" else {("k" if kind == "prefix" else "leaf"): index}
        rows.append({"precision": precision, "kind": kind, **where,
                     f"{reference}_accuracy": ref["accuracy"], "accuracy": e["accuracy"],
                     "drop_points": round((ref["accuracy"] - e["accuracy"]) * 100, 3),
                     "top1_agreement": float(np.mean(ref["predictions"] == e["predictions"]))})
    for e in entries:
        e.pop("predictions", None)
    legacy = [{"kind": r["kind"], **({"k": r["k"]} if "k" in r else {"leaf": r["leaf"]}),
               "float32_accuracy": r[f"{reference}_accuracy"], "int8_accuracy": r["accuracy"],
               "drop_points": r["drop_points"], "top1_agreement": r["top1_agreement"]}
              for r in rows if r["precision"] == "int8" and r["kind"] != "teacher"]  # the v1 field checks.int8
    return {"accuracy_drops": rows, "int8": legacy}


def _size_check(entries, full_reference, bound) -> dict:
    """The anytime file of the reference precision against the k = N model of that precision."""
    reference = precision_registry.REFERENCE
    anytime = next(e for e in entries if e["kind"] == "anytime" and e["precision"] == reference)
    ratio = anytime["bytes"] / full_reference["bytes"]
    weight_ratio = anytime["weight_bytes"] / full_reference["weight_bytes"]
    return {"anytime_bytes": anytime["bytes"], "full_model_bytes": full_reference["bytes"], "ratio": round(ratio, 4),
            "bound": bound, "anytime_weight_bytes": anytime["weight_bytes"],
            "full_model_weight_bytes": full_reference["weight_bytes"], "weight_ratio": round(weight_ratio, 4),
            # Every node's weights stored once: no more constant bytes than the
            # full model (1% slack for small shared constants such as shapes).
            "passed": bool(ratio <= bound and weight_ratio <= 1.01)}


def _failures(checks) -> list[str]:
    out = []
    for p in checks["parity"]["results"]:
        if not p["passed"]:
            out.append(f"float32 parity: {p['file']} [{p['signature']}] differs from Keras by "
                       f"{p['max_abs_diff']:.2e} > {p['bound']:.2e} (--parity_tolerance "
                       f"{checks['parity']['tolerance']:g} x logit scale {max(1.0, p['logit_scale']):.3g})")
    size = checks.get("anytime_size")
    if size and not size["passed"]:
        out.append(f"anytime size: {size['anytime_bytes']} bytes = {size['ratio']:.3f} x the full float32 model "
                   f"(bound {size['bound']}), weights {size['weight_ratio']:.3f} x (bound 1.01); "
                   "raise --max_anytime_size_ratio for very small models, whose per-op metadata dominates")
    return out


def _manifest(run: TrainedRun, info, config: ExportConfig, measured: _Measured) -> dict:
    """The manifest (schema v1, docs/architecture.md section 11) of the run ``run``, exported as ``config``
    asked and measured as ``measured`` says; ``info``: the data set's (``data.dataset_info``)."""
    model, costs, teacher = run.model, measured.costs, measured.teacher
    n = model.num_leaves
    steps = model.anytime_steps()
    manifest = {
        "format": mf.FORMAT,
        "version": mf.VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": {"preset": model.preset, "family": model.family, "options": run.config.get("model_options") or {},
                  "branching": list(model.spec.branching), "num_leaves": n, "num_classes": model.num_classes,
                  "dataset": run.config["dataset"], "loss": run.config.get("loss"),
                  "epochs_trained": run.epochs_trained, "checkpoint": os.path.basename(run.checkpoint)},
        "input": {"name": "input", "shape": [conv.BATCH, *model.image_shape], "dtype": "float32", "layout": "NHWC",
                  "batch": {"size": conv.BATCH, "static": True,
                            "note": "every file takes one image per call (static batch, so that no op depends on "
                                    "a run-time batch size and XNNPACK takes the graph whole), except the "
                                    "host-only files of kind 'batched' (--batch_sizes), which give their own "
                                    "batch; host evaluation runs the test images one at a time through the "
                                    "same files"},
                  "normalization": {"formula": "(pixel / 255 - mean) / std, per channel",
                                    "mean": list(info.mean), "std": list(info.std)}},
        # How a raw image of any size becomes that input (resize rule, colour, normalization): the readers
        # preprocess uploads and camera frames by it; "input" above keeps the fields older readers use.
        "input_spec": info.input_spec.to_json(),
        "labels": list(info.labels),
        "num_leaves": n,
        "ensemble": {"combine": model.ensemble_rule, "prediction": ENSEMBLE_RULES[model.ensemble_rule]},
        "evaluation": {"dataset": run.config["dataset"], "split": "test", "num_examples": measured.num_eval},
        "latency": {"unit": "ms", "statistic": "median", "batch": 1, "threads": config.latency_threads,
                    "runs": config.latency_runs, "warmup": config.latency_warmup, "delegate": rt.DELEGATE,
                    "note": "host CPU, Python LiteRT, zero-copy calls (runtime.Runner.one, runtime.Steps: the "
                            "image and each step's slot copied into the input buffer, the outputs read in "
                            "place); includes the Python call overhead",
                    "order": "interleaved: each round runs every file once, round-robin, from a rotating first "
                             "file, so that a burst of load lands on all files alike",
                    "cache": "warm: each timed call right after an untimed call of the same file",
                    "spread": "*_iqr_ms: interquartile range (75th - 25th percentile) of the timed rounds",
                    "by_threads": "files[].latency_ms, step_latency_ms and all_steps_latency_ms are at 'threads'; "
                                  "*_by_threads hold the medians at every count in 'threads_compared', timed in "
                                  "the same rounds; files[].threads is the faster count for the whole file and "
                                  "files[].step_threads the faster count per anytime step (more threads only "
                                  "when over 'thread_margin' faster): the host runner's per-step plan, and "
                                  "the margin by which an engine that measures on its device prefers more threads",
                    "thread_margin": rt.THREAD_MARGIN, "cpu_count": os.cpu_count(), **measured.latency},
        "precisions": {p: precision_registry.get(p).help for p in config.precisions},
        "outputs": "signature outputs are keyed by name; files[].tensor_order gives each signature's inputs "
                   "and outputs in the order of its subgraph's tensors, for index-based APIs",
        "files": measured.entries,
        "checks": measured.checks,
    }
    if config.anytime:
        manifest["anytime"] = {
            "slots": {name: [conv.BATCH, *shape] for name, shape in measured.slot_shapes.items()},
            "steps": [{**_step_dict(s), "leaf": s.leaf, "start_block": s.start_block,
                       "macs": costs["steps"][s.step - 1]["macs"], "params": costs["steps"][s.step - 1]["params"]}
                      for s in steps],
            "full_macs": costs["full_macs"],
        }
    if teacher:
        manifest["teacher"] = {
            "role": TEACHER,
            "combine": "gated_sum",
            "prediction": "softmax of sum_i gate_i z_i over all N leaves' logits z_i, with gate weights "
                          "(softmax over the leaves) computed from the shared features (ONE, Lan et al. 2018: "
                          "the gated teacher, 'ONE-E')",
            "num_leaves": n,
            "output": {"name": "logits", "shape": [conv.BATCH, model.num_classes]},
            **teacher,
        }
    return manifest


def _report(manifest, log) -> None:
    rows = [f"{'file':<32} {'MMACs':>7} {'acc %':>7} {'ms':>8}"]
    for e in manifest["files"]:
        if e["kind"] == "anytime":
            continue
        rows.append(f"{e['file']:<32} {e['macs'] / 1e6:7.2f} {e['accuracy'] * 100:7.2f} {e['latency_ms']:8.3f}"
                    + (f"  ({e['batch']} images per call)" if e["kind"] == "batched" else ""))
    log("\n".join(rows))
    for line in batch_tradeoffs(manifest["files"]):
        log(line)
    reference = precision_registry.REFERENCE
    for row in manifest["checks"]["accuracy_drops"]:
        what = f" k={row['k']}" if "k" in row else f" leaf {row['leaf']}" if "leaf" in row else ""
        log(f"{row['precision']} {row['kind']}{what}: {reference} {row[reference + '_accuracy'] * 100:.2f}% -> "
            f"{row['accuracy'] * 100:.2f}% (drop {row['drop_points']:.2f} points, "
            f"top-1 agreement {row['top1_agreement'] * 100:.1f}%)")
    for line in precision_tradeoffs(manifest["files"]):
        log(line)
    parity = manifest["checks"]["parity"]
    worst = max(parity["results"], key=lambda p: p["max_abs_diff"] / p["bound"], default=None)
    if worst is not None:
        log(f"{reference} parity with Keras: {len(parity['results'])} graphs, worst max |diff| "
            f"{worst['max_abs_diff']:.2e} at logit scale {worst['logit_scale']:.3g} (bound {worst['bound']:.2e}, "
            f"--parity_tolerance {parity['tolerance']:g} relative): {'ok' if parity['passed'] else 'FAILED'}")
    size = manifest["checks"].get("anytime_size")
    if size:
        log(f"anytime file {size['anytime_bytes']:,} bytes = {size['ratio']:.3f} x the full float32 model "
            f"(bound {size['bound']}); weights {size['weight_ratio']:.3f} x: {'ok' if size['passed'] else 'FAILED'}")


def _best_ms(e: dict) -> float:
    """A file's median latency at its faster thread count (an anytime file: all its steps in sequence)."""
    field = "all_steps_latency_ms" if e["kind"] == "anytime" else "latency_ms"
    return min(e.get(field + "_by_threads", {}).values(), default=e[field])


def batch_tradeoffs(files: Sequence[dict]) -> list[str]:
    """One line per batched file: its time per image against its batch-1 twin's (the same graph and
    precision), each at its faster thread count, and whether the batch pays on this host."""
    single = {(e["k"], e["precision"]): e for e in files if e["kind"] == "prefix"}
    lines = []
    for e in files:
        twin = single.get((e.get("k"), e["precision"])) if e["kind"] == "batched" else None
        if twin is None:
            continue
        per_image = _best_ms(e) / e["batch"]
        ratio = per_image / _best_ms(twin)
        verdict = ("cheaper per image here" if ratio < 1 - SPEED_TOLERANCE else "dearer per image here: score "
                   "images one at a time (a process per core) on this host" if ratio > 1 + SPEED_TOLERANCE
                   else "about the same per image here")
        lines.append(f"{e['file']}: {per_image:.3f} ms per image at batch {e['batch']} against {_best_ms(twin):.3f} "
                     f"ms for {twin['file']} at batch 1 ({ratio:.2f}x, each at its faster thread count): {verdict}")
    return lines


#: A precision's median time ratio within this of 1 counts as "about as fast": one export's timing
#: (50 rounds on a shared machine) moves a file's ratio by about this much.
SPEED_TOLERANCE = 0.10


def precision_tradeoffs(files: Sequence[dict]) -> list[str]:
    """One line per non-reference precision: its files' size and host latency against the same
    files in the reference precision (the best thread count of each), as ranges over the files,
    with what to use it for where it is slower here."""
    reference = precision_registry.REFERENCE
    ref = {_graph_key(e): e for e in files if e["precision"] == reference}
    lines = []
    for precision in dict.fromkeys(e["precision"] for e in files if e["precision"] != reference):
        pairs = [(e, ref[_graph_key(e)]) for e in files if e["precision"] == precision and _graph_key(e) in ref]
        if not pairs:
            continue
        size = [r["bytes"] / e["bytes"] for e, r in pairs]
        time_ratio = [_best_ms(e) / _best_ms(r) for e, r in pairs]
        typical = float(np.median(time_ratio))
        verdict = ("slower here: choose it for size or for an accelerator that needs it, not for speed on this "
                   "CPU" if typical > 1 + SPEED_TOLERANCE else "faster here" if typical < 1 - SPEED_TOLERANCE
                   else "about as fast here")
        lines.append(f"{precision} against {reference} ({len(pairs)} files): {min(size):.2f}-{max(size):.2f}x "
                     f"smaller, {min(time_ratio):.2f}-{max(time_ratio):.2f}x the time (median {typical:.2f}; "
                     f"each file at its faster thread count): {verdict}")
    return lines


__all__ = ["ExportConfig", "ExportError", "batch_tradeoffs", "precision_tradeoffs", "run_export"]
