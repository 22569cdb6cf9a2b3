"""``manifest.json``: the contract between the export, the host runner and the app.

Schema version 1 (documented field by field in docs/architecture.md, section 11):

``format``       ``"hne-tf-manifest"``
``version``      ``1``
``model``        preset, family, options, branching, num_leaves, num_classes,
                 dataset, loss, epochs_trained
``input``        name, shape (batch first: ``1`` static, ``-1`` any), batch, dtype, layout, normalization
                 (``(pixel / 255 - mean) / std`` per channel)
``input_spec``   how a raw image of any size becomes the input (``InputSpec.to_json``: size, channels,
                 color, grayscale formula, resize rule, normalization); older exports lack it
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
before reading anything. The contract is ``manifest.schema.json`` beside this
file (the structure; :mod:`hne_tf.export.schema` validates it) plus
:func:`cross_field_problems`; the Java and JS engines (``android_demo/engine``'s
``Manifest`` and ``Schema``, ``web_demo/engine.js``'s ``manifestProblems``)
read the same schema and apply the same rules, and
``tests/data/manifest_vectors.json`` holds all three to the same verdicts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable

from hne_tf.export import schema
from hne_tf.osutil import read_json

FORMAT = "hne-tf-manifest"
VERSION = 1
#: The ``teacher`` section's cost fields (non-negative integers).
TEACHER_COSTS = ("macs", "params", "leaves_macs", "leaves_params", "gate_macs", "gate_params")
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.schema.json")
with open(SCHEMA_PATH, encoding="utf-8") as _f:
    #: The structure of a manifest (JSON Schema): one file, read by all three readers' tests.
    SCHEMA = json.load(_f)
#: What a precision's name may be: readers accept any such name (a new registry entry needs no reader change).
PRECISION_PATTERN = SCHEMA["$defs"]["precision"]["pattern"]
#: The kinds of file (the schema's list): prefix, member, anytime, teacher and batched (host-only, --batch_sizes).
FILE_KINDS = tuple(SCHEMA["$defs"]["file"]["properties"]["kind"]["enum"])


class ManifestError(ValueError):
    """The manifest is missing, malformed or does not match its files."""


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def problems(manifest) -> list[tuple[str, str]]:
    """Every problem of ``manifest`` as ``(path, message)``: the schema's, then the cross-field rules'.

    The paths are those of :mod:`hne_tf.export.schema` (``files[2].precision``); the JS and Java
    readers name the same paths for the same manifest (``tests/data/manifest_vectors.json``).
    """
    if not isinstance(manifest, dict):
        return [("manifest", "expected a JSON object")]
    return schema.problems(manifest, SCHEMA) + cross_field_problems(manifest)


def cross_field_problems(m: dict) -> list[tuple[str, str]]:
    """The rules that relate fields to each other (docs/architecture.md, "The manifest contract").

    Written alike in ``web_demo/engine.js`` (``crossFieldProblems``) and ``Manifest.java``
    (``crossFieldProblems``). Each rule reads only fields of the right type (the schema reports
    the others), so a broken field is reported once.
    """
    p: list[tuple[str, str]] = []
    n = _int(m.get("num_leaves"))
    model = _dict(m.get("model"))
    num_classes = _int(model.get("num_classes"))
    branching = model.get("branching")
    if n is not None and isinstance(branching, list) and all(_int(r) for r in branching):
        if math.prod(branching) != n:
            p.append(("model.branching", f"{branching} does not give num_leaves={n}"))
    if n is not None and _int(model.get("num_leaves")) not in (None, n):
        p.append(("model.num_leaves", f"{model['num_leaves']}, the manifest's num_leaves is {n}"))
    p.extend(_input_problems(m))
    labels = m.get("labels")
    if num_classes is not None and isinstance(labels, list) and len(labels) != num_classes:
        p.append(("labels", f"{len(labels)} names for num_classes={num_classes}"))
    anytime = m.get("anytime")
    if isinstance(anytime, dict):
        p.extend(_anytime_problems(anytime, n))
    teacher = m.get("teacher")
    if isinstance(teacher, dict):
        p.extend(_teacher_problems(teacher, n, num_classes, anytime))
    names: set[str] = set()
    for i, f in enumerate(_list(m.get("files"))):
        if isinstance(f, dict):
            p.extend(_file_problems(f"files[{i}]", f, n, names, anytime, teacher))
    return p


def _input_problems(m: dict) -> list[tuple[str, str]]:
    """``input``'s shape against its normalization, and ``input_spec`` against ``input``."""
    p: list[tuple[str, str]] = []
    inp = _dict(m.get("input"))
    shape = inp.get("shape")
    channels = None
    if isinstance(shape, list) and len(shape) == 4 and all(_int(d) is not None for d in shape):
        if shape[0] not in (1, -1) or min(shape[1:3]) < 1 or shape[3] not in (1, 3):
            p.append(("input.shape", f"expected an image [1 or -1, H >= 1, W >= 1, 1 or 3 channels], got {shape}"))
        else:
            channels = shape[3]
    norm = _dict(inp.get("normalization"))
    for key in ("mean", "std"):
        if channels is not None and isinstance(norm.get(key), list) and len(norm[key]) != channels:
            p.append((f"input.normalization.{key}", f"{len(norm[key])} values for {channels} channels"))
    spec = m.get("input_spec")
    if not isinstance(spec, dict) or channels is None:
        return p
    if isinstance(spec.get("size"), list) and spec["size"] != shape[1:3]:
        p.append(("input_spec.size", f"{spec['size']}, the input's H, W are {shape[1:3]}"))
    if _int(spec.get("channels")) is not None and spec["channels"] != channels:
        p.append(("input_spec.channels", f"{spec['channels']}, the input has {channels}"))
    if spec.get("color") in ("grayscale", "rgb") and spec["color"] != ("grayscale" if channels == 1 else "rgb"):
        p.append(("input_spec.color", f"{spec['color']!r} for {channels} channel(s)"))
    spec_norm = _dict(spec.get("normalization"))
    for key in ("mean", "std"):
        if isinstance(spec_norm.get(key), list) and isinstance(norm.get(key), list) and spec_norm[key] != norm[key]:
            p.append((f"input_spec.normalization.{key}", f"{spec_norm[key]} differs from input.normalization."
                                                         f"{key} {norm[key]}"))
    return p


def _file_problems(where: str, f: dict, n: int | None, names: set[str], anytime, teacher) -> list[tuple[str, str]]:
    """One ``files`` entry against the rest: a name listed once (``names``: those seen so far), k and leaf
    within the tree, the sections its kind needs, per-leaf accuracies and the teacher's MACs."""
    p: list[tuple[str, str]] = []
    name, kind = f.get("file"), f.get("kind")
    if isinstance(name, str):
        if name in names:
            p.append((f"{where}.file", f"{name} listed twice"))
        names.add(name)
    k, leaf = _int(f.get("k")), _int(f.get("leaf"))
    if kind in ("prefix", "batched") and k is not None and n is not None and k > n:
        p.append((f"{where}.k", f"{k} outside [1, {n}]"))
    if kind == "member":
        if "leaf" not in f:
            p.append((f"{where}.leaf", "missing (a member file names its leaf)"))
        elif leaf is not None and n is not None and leaf >= n:
            p.append((f"{where}.leaf", f"{leaf} outside [0, {n - 1}]"))
    if kind == "anytime" and not isinstance(anytime, dict):
        p.append((f"{where}.kind", "an anytime file needs the manifest's 'anytime' section"))
    acc = f.get("accuracy_by_leaves")
    if isinstance(acc, list) and n is not None and len(acc) != n:
        p.append((f"{where}.accuracy_by_leaves", f"{len(acc)} values for num_leaves={n}"))
    if kind == "teacher":
        if not isinstance(teacher, dict):
            p.append((f"{where}.kind", "a teacher file needs the manifest's 'teacher' section"))
        elif "macs" in f and f["macs"] != teacher.get("macs"):
            p.append((f"{where}.macs", f"{f['macs']!r} differs from teacher.macs {teacher.get('macs')!r}"))
    return p


def validate(manifest: dict, base_dir: str | None = None, check_files: bool = True) -> None:
    """Raises ManifestError listing every problem found: :func:`problems`, then the files.

    With ``base_dir`` and ``check_files``, every listed file must exist there
    with the recorded size and sha256, and its signatures must have the
    inputs and outputs, in the order, that the entry's ``tensor_order``
    records (when it has one: manifests written before that field lack it).
    """
    found = problems(manifest)
    p = [f"{path}: {message}" for path, message in found]
    if not isinstance(manifest, dict):
        raise ManifestError("manifest: expected a JSON object")
    bad = {path.split(".")[0] for path, _ in found}  # entries the schema or a rule faulted: not opened
    for i, f in enumerate(_list(manifest.get("files"))):
        where = f"files[{i}]"
        if base_dir is None or not check_files or where in bad or not isinstance(f, dict):
            continue
        path = os.path.join(base_dir, f["file"])
        order = f.get("tensor_order")
        if not os.path.isfile(path):
            p.append(f"{where}: {path} does not exist")
        elif os.path.getsize(path) != f["bytes"]:
            p.append(f"{where}: {path} has {os.path.getsize(path)} bytes, manifest says {f['bytes']}")
        elif sha256(path) != f["sha256"]:
            p.append(f"{where}: {path} does not match its sha256")
        elif order is not None:
            p.extend(f"{where}.tensor_order: {problem}" for problem in _order_problems(path, order))
    if p:
        error = ManifestError("invalid manifest:\n  " + "\n  ".join(p))
        error.problems = found
        raise error


def _anytime_problems(anytime: dict, n: int | None) -> list[tuple[str, str]]:
    p = []
    slots = _dict(anytime.get("slots"))
    steps = anytime.get("steps")
    if n is not None and isinstance(steps, list) and len(steps) != n:
        p.append(("anytime.steps", f"{len(steps)} steps for num_leaves={n}"))
    available = {"input"}
    macs = []
    for i, s in enumerate(_list(steps)):
        where = f"anytime.steps[{i}]"
        if not isinstance(s, dict):
            macs.append(None)
            continue
        if _int(s.get("step")) not in (None, i + 1):
            p.append((f"{where}.step", f"expected {i + 1} (steps are ordered)"))
        macs.append(_int(s.get("macs")))
        reads = s.get("reads")
        if isinstance(reads, str) and reads not in available:
            p.append((f"{where}.reads", f"slot {reads!r} is not written by an earlier step"))
        for w in _list(s.get("writes")):
            if isinstance(w, str) and w not in slots:
                p.append((f"{where}.writes", f"slot {w!r} not declared in anytime.slots"))
            elif isinstance(w, str):
                available.add(w)
    full = _int(anytime.get("full_macs"))
    if macs and full is not None and None not in macs and sum(macs) != full:
        p.append(("anytime.full_macs", f"{full}, but the step MACs sum to {sum(macs)}"))
    return p


def _teacher_problems(teacher: dict, n, num_classes, anytime) -> list[tuple[str, str]]:
    """The ``teacher`` section: what the teacher files compute and cost."""
    p = []
    leaves = _int(teacher.get("num_leaves"))
    if leaves is not None and n is not None and leaves != n:
        p.append(("teacher.num_leaves", f"{leaves}, the manifest's num_leaves is {n} (the teacher uses every leaf)"))
    shape = _dict(teacher.get("output")).get("shape")
    if isinstance(shape, list) and len(shape) == 2 and num_classes is not None and shape[1] != num_classes:
        p.append(("teacher.output.shape", f"expected [batch, {num_classes}], got {shape}"))
    costs = {key: _int(teacher.get(key)) for key in TEACHER_COSTS}
    for total in ("macs", "params"):
        parts = costs[f"leaves_{total}"], costs[f"gate_{total}"]
        if costs[total] is not None and None not in parts and costs[total] != sum(parts):
            p.append((f"teacher.{total}", f"{costs[total]} is not leaves_{total} + gate_{total} = {sum(parts)}"))
    full = _int(_dict(anytime).get("full_macs"))
    if full is not None and costs["leaves_macs"] is not None and costs["leaves_macs"] != full:
        p.append(("teacher.leaves_macs", f"{costs['leaves_macs']}, anytime.full_macs is {full} "
                                         "(the teacher runs every leaf)"))
    return p


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


__all__ = ["FORMAT", "FILE_KINDS", "ManifestError", "PRECISION_PATTERN", "SCHEMA", "TEACHER_COSTS", "VERSION",
           "anytime_file", "cross_field_problems", "files_of", "load", "problems", "read", "sha256", "teacher_file",
           "tensor_order", "validate"]
