"""``manifest.json``: the contract between the export, the host runner and the app.

Schema version 1 (documented field by field in the README, "The manifest"):

``format``       ``"hne-tf-manifest"``
``version``      ``1``
``model``        preset, family, options, branching, num_leaves, num_classes,
                 dataset, loss, epochs_trained
``input``        name, shape (batch first: ``1`` static, ``-1`` any), batch, dtype, layout, normalization
                 (``(pixel / 255 - mean) / std`` per channel)
``labels``       class names, ``num_classes`` of them
``num_leaves``   N
``ensemble``     how leaves combine: ``combine`` is ``"mean_logits"`` (softmax of the mean
                 of their logits) or ``"mean_probs"`` (the mean of their probabilities,
                 EnsembleNet), :data:`hne_tf.ensemble.RULES`
``evaluation``   dataset, split and number of test examples behind every accuracy
``latency``      how latencies were measured (batch 1, threads, runs, median)
``files``        one entry per ``.tflite`` (see ``FILE_KINDS``)
``anytime``      slots (cache tensors and shapes) and the ordered steps:
                 signature, leaf, reads, writes, start_block, MACs, params
``teacher``      only for models with a teacher role (ONE's gated teacher,
                 "ONE-E"): role, combine, prediction, num_leaves, output
                 (name, shape), macs = leaves_macs + gate_macs, params =
                 leaves_params + gate_params; its files have kind ``"teacher"``
``checks``       parity, int8 accuracy drops, the anytime size bound

The Python consumers (the runner ``hne_tf.export.anytime``, the benchmark,
the fixture, the demo samples) call :func:`validate` (through :func:`load`)
before reading anything. The Java and JS engines read the same file with
validators of their own (``android_demo/engine``'s ``Manifest``,
``web_demo/engine.js``'s ``validateManifest``), which must apply the same
checks; nothing but Python runs this one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from hne_tf.ensemble import RULES as COMBINE_RULES
from hne_tf.export.precisions import REGISTRY
from hne_tf.osutil import read_json

FORMAT = "hne-tf-manifest"
VERSION = 1
FILE_KINDS = ("prefix", "member", "anytime", "teacher")
#: The ``teacher`` section's cost fields (non-negative integers).
TEACHER_COSTS = ("macs", "params", "leaves_macs", "leaves_params", "gate_macs", "gate_params")
PRECISIONS = tuple(REGISTRY)  # the names, in the registry's order


class ManifestError(ValueError):
    """The manifest is missing, malformed or does not match its files."""


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _need(obj, key, kind, where, problems) -> object:
    if not isinstance(obj, dict) or key not in obj:
        problems.append(f"{where}: missing {key!r}")
        return None
    value = obj[key]
    ok = isinstance(value, kind) and not (kind in (int, (int, float)) and isinstance(value, bool))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        problems.append(f"{where}.{key}: expected {names}, got {type(value).__name__}")
        return None
    return value


def _numbers(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def validate(manifest: dict, base_dir: str | None = None, check_files: bool = True) -> None:
    """Raises ManifestError listing every problem found.

    With ``base_dir`` and ``check_files``, every listed file must exist there
    with the recorded size and sha256, and its signatures must have the
    inputs and outputs, in the order, that the entry's ``tensor_order``
    records (when it has one: manifests written before that field lack it).
    """
    p: list[str] = []
    if not isinstance(manifest, dict):
        raise ManifestError("manifest: expected a JSON object")
    if manifest.get("format") != FORMAT:
        p.append(f"format: expected {FORMAT!r}, got {manifest.get('format')!r}")
    version = manifest.get("version")
    if version != VERSION:
        p.append(f"version: this reader understands version {VERSION}, got {version!r}")
    n = _need(manifest, "num_leaves", int, "manifest", p)
    model = _need(manifest, "model", dict, "manifest", p)
    num_classes = None
    if model is not None:
        _need(model, "preset", str, "model", p)
        _need(model, "family", str, "model", p)
        _need(model, "dataset", str, "model", p)
        num_classes = _need(model, "num_classes", int, "model", p)
        branching = _need(model, "branching", list, "model", p)
        if branching is not None and n is not None:
            prod = 1
            for r in branching:
                prod *= r if isinstance(r, int) and not isinstance(r, bool) else 0
            if prod != n:
                p.append(f"model.branching {branching} does not give num_leaves={n}")
        options = model.get("options")
        if options is not None and not isinstance(options, dict):
            p.append(f"model.options: expected dict, got {type(options).__name__}")
    inp = _need(manifest, "input", dict, "manifest", p)
    if inp is not None:
        _need(inp, "name", str, "input", p)
        shape = _need(inp, "shape", list, "input", p)
        if shape is not None and (len(shape) != 4 or not all(isinstance(d, int) and not isinstance(d, bool)
                                                            for d in shape)):
            p.append(f"input.shape: expected [batch, H, W, C] integers, got {shape}")
            shape = None
        if inp.get("dtype") != "float32":
            p.append(f"input.dtype: expected 'float32', got {inp.get('dtype')!r}")
        norm = _need(inp, "normalization", dict, "input", p)
        if norm is not None:
            for key in ("mean", "std"):
                v = _need(norm, key, list, "input.normalization", p)
                if v is None:
                    continue
                if not _numbers(v):
                    p.append(f"input.normalization.{key}: expected numbers, got {v}")
                elif shape is not None and len(v) != shape[3]:
                    p.append(f"input.normalization.{key}: {len(v)} values for {shape[3]} channels")
                elif key == "std" and any(x == 0 for x in v):
                    p.append("input.normalization.std: must not contain 0")
    labels = _need(manifest, "labels", list, "manifest", p)
    if num_classes is not None and labels is not None and num_classes != len(labels):
        p.append(f"labels: {len(labels)} names for num_classes={num_classes}")
    ensemble = _need(manifest, "ensemble", dict, "manifest", p)
    combine = _need(ensemble, "combine", str, "ensemble", p) if ensemble is not None else None
    if combine is not None and combine not in COMBINE_RULES:
        p.append(f"ensemble.combine: {combine!r} is not one of {tuple(COMBINE_RULES)}")

    anytime = manifest.get("anytime")
    if anytime is not None:
        _validate_anytime(anytime, n, p)
    teacher = manifest.get("teacher")
    if teacher is not None:
        _validate_teacher(teacher, n, num_classes, anytime, p)
    files = _need(manifest, "files", list, "manifest", p) or []
    names = set()
    for i, f in enumerate(files):
        where = f"files[{i}]"
        if not isinstance(f, dict):
            p.append(f"{where}: expected an object, got {type(f).__name__}")
            continue
        name = _need(f, "file", str, where, p)
        kind = _need(f, "kind", str, where, p)
        precision = _need(f, "precision", str, where, p)
        _need(f, "sha256", str, where, p)
        size = _need(f, "bytes", int, where, p)
        if name is not None:
            if name in names:
                p.append(f"{where}.file: {name} listed twice")
            if os.path.basename(name) != name or name in ("", ".", ".."):
                p.append(f"{where}.file: must be a bare file name, got {name!r}")
                name = None
            else:
                names.add(name)
        if kind is not None and kind not in FILE_KINDS:
            p.append(f"{where}.kind: {kind!r} is not one of {FILE_KINDS}")
        if precision is not None and precision not in PRECISIONS:
            p.append(f"{where}.precision: {precision!r} is not one of {PRECISIONS}")
        if kind == "prefix":
            k = _need(f, "k", int, where, p)
            if k is not None and n is not None and not 1 <= k <= n:
                p.append(f"{where}.k: {k} outside [1, {n}]")
        if kind == "member":
            leaf = _need(f, "leaf", int, where, p)
            if leaf is not None and n is not None and not 0 <= leaf < n:
                p.append(f"{where}.leaf: {leaf} outside [0, {n - 1}]")
        if kind == "anytime":
            if anytime is None:
                p.append(f"{where}: an anytime file needs the manifest's 'anytime' section")
            acc = f.get("accuracy_by_leaves")
            if acc is not None and (not _numbers(acc) or (n is not None and len(acc) != n)):
                p.append(f"{where}.accuracy_by_leaves: expected {n} numbers, got {acc!r:.80}")
        if kind == "teacher":
            if not isinstance(teacher, dict):
                p.append(f"{where}: a teacher file needs the manifest's 'teacher' section")
            elif "macs" in f and f["macs"] != teacher.get("macs"):
                p.append(f"{where}.macs: {f['macs']!r} differs from teacher.macs {teacher.get('macs')!r}")
        order = f.get("tensor_order")
        if order is not None and not _is_tensor_order(order):
            p.append(f"{where}.tensor_order: expected {{signature: {{inputs: [names], outputs: [names]}}}}")
            order = None
        if base_dir is not None and check_files and name is not None:
            path = os.path.join(base_dir, name)
            if not os.path.isfile(path):
                p.append(f"{where}: {path} does not exist")
            elif os.path.getsize(path) != size:
                p.append(f"{where}: {path} has {os.path.getsize(path)} bytes, manifest says {size}")
            elif sha256(path) != f.get("sha256"):
                p.append(f"{where}: {path} does not match its sha256")
            elif order is not None:
                p.extend(f"{where}.tensor_order: {problem}" for problem in _order_problems(path, order))
    if p:
        raise ManifestError("invalid manifest:\n  " + "\n  ".join(p))


def _validate_anytime(anytime, n, p: list[str]) -> None:
    if not isinstance(anytime, dict):
        p.append(f"anytime: expected dict, got {type(anytime).__name__}")
        return
    slots = _need(anytime, "slots", dict, "anytime", p) or {}
    for name, shape in slots.items():
        if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
            p.append(f"anytime.slots.{name}: expected a list of integers, got {shape!r:.80}")
    steps = _need(anytime, "steps", list, "anytime", p) or []
    if n is not None and len(steps) != n:
        p.append(f"anytime.steps: {len(steps)} steps for num_leaves={n}")
    available = {"input"}
    macs = []
    for i, s in enumerate(steps):
        where = f"anytime.steps[{i}]"
        if not isinstance(s, dict):
            p.append(f"{where}: expected an object, got {type(s).__name__}")
            continue
        if _need(s, "step", int, where, p) not in (None, i + 1):
            p.append(f"{where}.step: expected {i + 1} (steps are ordered)")
        _need(s, "signature", str, where, p)
        macs.append(_need(s, "macs", int, where, p))
        reads = _need(s, "reads", str, where, p)
        writes = _need(s, "writes", list, where, p) or []
        if reads is not None and reads not in available:
            p.append(f"{where}.reads: slot {reads!r} is not written by an earlier step")
        for w in writes:
            if not isinstance(w, str):
                p.append(f"{where}.writes: expected slot names, got {w!r}")
            elif w not in slots:
                p.append(f"{where}.writes: slot {w!r} not declared in anytime.slots")
            else:
                available.add(w)
    full = anytime.get("full_macs")
    if steps and isinstance(full, int) and macs and all(isinstance(m, int) for m in macs):
        if sum(macs) != full:
            p.append(f"anytime: step MACs sum to {sum(macs)}, full_macs is {full}")


def _validate_teacher(teacher, n, num_classes, anytime, p: list[str]) -> None:
    """The ``teacher`` section: what the teacher files compute and cost."""
    if not isinstance(teacher, dict):
        p.append(f"teacher: expected dict, got {type(teacher).__name__}")
        return
    role = _need(teacher, "role", str, "teacher", p)
    if role is not None and role != "teacher":
        p.append(f"teacher.role: expected 'teacher', got {role!r}")
    _need(teacher, "combine", str, "teacher", p)
    leaves = _need(teacher, "num_leaves", int, "teacher", p)
    if leaves is not None and n is not None and leaves != n:
        p.append(f"teacher.num_leaves: {leaves}, the manifest's num_leaves is {n} (the teacher uses every leaf)")
    output = _need(teacher, "output", dict, "teacher", p)
    if output is not None:
        _need(output, "name", str, "teacher.output", p)
        shape = _need(output, "shape", list, "teacher.output", p)
        if shape is not None and not (len(shape) == 2 and all(isinstance(d, int) and not isinstance(d, bool)
                                                              for d in shape)
                                      and (num_classes is None or shape[1] == num_classes)):
            p.append(f"teacher.output.shape: expected [batch, {num_classes}], got {shape!r:.80}")
    costs = {key: _need(teacher, key, int, "teacher", p) for key in TEACHER_COSTS}
    for key, value in costs.items():
        if value is not None and value < 0:
            p.append(f"teacher.{key}: must not be negative, got {value}")
    for total in ("macs", "params"):
        parts = costs[f"leaves_{total}"], costs[f"gate_{total}"]
        if costs[total] is not None and None not in parts and costs[total] != sum(parts):
            p.append(f"teacher.{total}: {costs[total]} is not leaves_{total} + gate_{total} = {sum(parts)}")
    full = anytime.get("full_macs") if isinstance(anytime, dict) else None
    if isinstance(full, int) and costs["leaves_macs"] is not None and costs["leaves_macs"] != full:
        p.append(f"teacher.leaves_macs: {costs['leaves_macs']}, anytime.full_macs is {full} "
                 "(the teacher runs every leaf)")


def _is_tensor_order(order) -> bool:
    return isinstance(order, dict) and all(
        isinstance(sig, dict) and set(sig) == {"inputs", "outputs"}
        and all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in sig.values())
        for sig in order.values())


def tensor_order(path_or_bytes) -> dict[str, dict[str, list[str]]]:
    """Each signature's input and output names, in the order of its subgraph's
    input and output tensors (the indices an index-based API such as
    ``getOutputTensor(i)`` uses), read from the ``.tflite`` flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema  # flatbuffers only: no TensorFlow

    if isinstance(path_or_bytes, (bytes, bytearray)):
        buf = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            buf = f.read()
    model = schema.Model.GetRootAs(buf, 0)
    out = {}
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        subgraph = model.Subgraphs(sig.SubgraphIndex())

        def names(count: int, get: Callable, tensors: list[int]) -> list[str]:
            by_tensor = {get(j).TensorIndex(): get(j).Name().decode() for j in range(count)}
            return [by_tensor[t] for t in tensors if t in by_tensor]

        out[sig.SignatureKey().decode()] = {
            "inputs": names(sig.InputsLength(), sig.Inputs, subgraph.InputsAsNumpy().tolist()),
            "outputs": names(sig.OutputsLength(), sig.Outputs, subgraph.OutputsAsNumpy().tolist())}
    return out


def _order_problems(path: str, recorded: dict) -> list[str]:
    try:
        actual = tensor_order(path)
    except Exception as e:  # any parse failure is reported as a bad file
        return [f"{path} is not a readable .tflite flatbuffer ({type(e).__name__}: {e})"]
    problems = []
    if sorted(actual) != sorted(recorded):
        problems.append(f"{path} has signatures {sorted(actual)}, the manifest records {sorted(recorded)}")
    for key in sorted(set(actual) & set(recorded)):
        for side in ("inputs", "outputs"):
            if actual[key][side] != recorded[key][side]:
                problems.append(f"{key} {side} are {actual[key][side]} in {os.path.basename(path)}, "
                                f"the manifest records {recorded[key][side]}")
    return problems


def load(path: str, check_files: bool = True) -> dict:
    """Reads and validates ``path``; raises ManifestError with every problem."""
    if os.path.isdir(path):
        path = os.path.join(path, "manifest.json")
    if not os.path.isfile(path):
        raise ManifestError(f"{path} does not exist (run `python -m export --model_dir=RUN --out_dir=OUT` first)")
    manifest = read(path)
    validate(manifest, os.path.dirname(os.path.abspath(path)), check_files)
    return manifest


def read(path: str) -> object:
    """The JSON in ``path``, unvalidated; ManifestError (one line) for a file that cannot be read or parsed.

    Size and nesting depth are bounded before parsing (:func:`hne_tf.osutil.read_json`), so a hostile
    file (200,000 nested ``[``) is one clear error, not a ``RecursionError``.
    """
    try:
        return read_json(path)
    except ValueError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise ManifestError(f"{path} cannot be read: {e.strerror or e}") from None


def files_of(manifest: dict, kind: str, precision: str | None = None) -> list[dict]:
    return [f for f in manifest["files"] if f["kind"] == kind and (precision is None or f["precision"] == precision)]


def teacher_file(manifest: dict, precision: str) -> dict:
    """The teacher file of ``precision``; ManifestError naming what there is when it is missing."""
    if "teacher" not in manifest:
        raise ManifestError("the manifest has no teacher section: its model has no teacher role (only ONE's "
                            "gated teacher is one), or it was exported with --noteacher")
    found = files_of(manifest, "teacher", precision)
    if not found:
        have = sorted({f["precision"] for f in files_of(manifest, "teacher")})
        raise ManifestError(f"the manifest has no {precision} teacher file; it has: {', '.join(have) or 'none'}")
    return found[0]


def anytime_file(manifest: dict, precision: str) -> dict:
    found = files_of(manifest, "anytime", precision)
    if not found:
        have = sorted({f["precision"] for f in files_of(manifest, "anytime")})
        raise ManifestError(f"the manifest has no {precision} anytime file; it has: {', '.join(have) or 'none'}")
    return found[0]


__all__ = ["FORMAT", "FILE_KINDS", "ManifestError", "PRECISIONS", "TEACHER_COSTS", "VERSION", "anytime_file",
           "files_of", "load", "read", "sha256", "teacher_file", "tensor_order", "validate"]
