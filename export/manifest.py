"""``manifest.json``: the contract between the export, the host runner and the app.

Schema version 1 (documented field by field in the README, "The manifest"):

``format``       ``"hne-tf-manifest"``
``version``      ``1``
``model``        preset, family, options, branching, num_leaves, num_classes,
                 dataset, loss, epochs_trained
``input``        name, shape (``-1`` = any batch), dtype, layout, normalization
                 (``(pixel / 255 - mean) / std`` per channel)
``labels``       class names, ``num_classes`` of them
``num_leaves``   N
``ensemble``     how leaves combine: the mean of their logits, then softmax
``evaluation``   dataset, split and number of test examples behind every accuracy
``latency``      how latencies were measured (batch 1, threads, runs, median)
``files``        one entry per ``.tflite`` (see ``FILE_KINDS``)
``anytime``      slots (cache tensors and shapes) and the ordered steps:
                 signature, leaf, reads, writes, start_block, MACs, params
``checks``       parity, int8 accuracy drops, the anytime size bound

The Python runner (``export.anytime``) and the Java engine read the same file;
:func:`validate` is what both trust.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Optional

FORMAT = "hne-tf-manifest"
VERSION = 1
FILE_KINDS = ("prefix", "member", "anytime")
PRECISIONS = ("float32", "float16", "dynamic", "int8")


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


def validate(manifest: dict, base_dir: Optional[str] = None, check_files: bool = True) -> None:
    """Raises ManifestError listing every problem found.

    With ``base_dir`` and ``check_files``, every listed file must exist there
    with the recorded size and sha256.
    """
    p: List[str] = []
    if not isinstance(manifest, dict):
        raise ManifestError("manifest: expected a JSON object")
    if manifest.get("format") != FORMAT:
        p.append(f"format: expected {FORMAT!r}, got {manifest.get('format')!r}")
    version = manifest.get("version")
    if version != VERSION:
        p.append(f"version: this reader understands version {VERSION}, got {version!r}")
    n = _need(manifest, "num_leaves", int, "manifest", p)
    model = _need(manifest, "model", dict, "manifest", p)
    if model is not None:
        _need(model, "preset", str, "model", p)
        _need(model, "family", str, "model", p)
        branching = _need(model, "branching", list, "model", p)
        if branching is not None and n is not None:
            prod = 1
            for r in branching:
                prod *= r if isinstance(r, int) else 0
            if prod != n:
                p.append(f"model.branching {branching} does not give num_leaves={n}")
    inp = _need(manifest, "input", dict, "manifest", p)
    if inp is not None:
        _need(inp, "name", str, "input", p)
        shape = _need(inp, "shape", list, "input", p)
        if shape is not None and (len(shape) != 4 or not all(isinstance(d, int) for d in shape)):
            p.append(f"input.shape: expected [batch, H, W, C] integers, got {shape}")
        if inp.get("dtype") != "float32":
            p.append(f"input.dtype: expected 'float32', got {inp.get('dtype')!r}")
        norm = _need(inp, "normalization", dict, "input", p)
        if norm is not None and shape is not None and len(shape) == 4:
            for key in ("mean", "std"):
                v = _need(norm, key, list, "input.normalization", p)
                if v is not None and len(v) != shape[3]:
                    p.append(f"input.normalization.{key}: {len(v)} values for {shape[3]} channels")
            if any(s == 0 for s in norm.get("std", []) or []):
                p.append("input.normalization.std: must not contain 0")
    labels = _need(manifest, "labels", list, "manifest", p)
    if model is not None and labels is not None and model.get("num_classes") != len(labels):
        p.append(f"labels: {len(labels)} names for num_classes={model.get('num_classes')}")

    steps = []
    anytime = manifest.get("anytime")
    if anytime is not None:
        slots = _need(anytime, "slots", dict, "anytime", p) or {}
        steps = _need(anytime, "steps", list, "anytime", p) or []
        if n is not None and len(steps) != n:
            p.append(f"anytime.steps: {len(steps)} steps for num_leaves={n}")
        available = {"input"}
        for i, s in enumerate(steps):
            where = f"anytime.steps[{i}]"
            if _need(s, "step", int, where, p) not in (None, i + 1):
                p.append(f"{where}.step: expected {i + 1} (steps are ordered)")
            _need(s, "signature", str, where, p)
            _need(s, "macs", int, where, p)
            reads = _need(s, "reads", str, where, p)
            writes = _need(s, "writes", list, where, p) or []
            if reads is not None and reads not in available:
                p.append(f"{where}.reads: slot {reads!r} is not written by an earlier step")
            for w in writes:
                if w not in slots:
                    p.append(f"{where}.writes: slot {w!r} not declared in anytime.slots")
            available.update(writes)
        full = anytime.get("full_macs")
        if steps and isinstance(full, int) and all(isinstance(s.get("macs"), int) for s in steps):
            if sum(s["macs"] for s in steps) != full:
                p.append(f"anytime: step MACs sum to {sum(s['macs'] for s in steps)}, full_macs is {full}")

    files = _need(manifest, "files", list, "manifest", p) or []
    names = set()
    for i, f in enumerate(files):
        where = f"files[{i}]"
        name = _need(f, "file", str, where, p)
        kind = _need(f, "kind", str, where, p)
        precision = _need(f, "precision", str, where, p)
        _need(f, "sha256", str, where, p)
        _need(f, "bytes", int, where, p)
        if name is not None:
            if name in names:
                p.append(f"{where}.file: {name} listed twice")
            if os.path.basename(name) != name:
                p.append(f"{where}.file: must be a bare file name, got {name!r}")
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
            if acc is not None and n is not None and len(acc) != n:
                p.append(f"{where}.accuracy_by_leaves: {len(acc)} values for {n} leaves")
        if base_dir is not None and check_files and name is not None and os.path.basename(name) == name:
            path = os.path.join(base_dir, name)
            if not os.path.exists(path):
                p.append(f"{where}: {path} does not exist")
            elif os.path.getsize(path) != f.get("bytes"):
                p.append(f"{where}: {path} has {os.path.getsize(path)} bytes, manifest says {f.get('bytes')}")
            elif sha256(path) != f.get("sha256"):
                p.append(f"{where}: {path} does not match its sha256")
    if p:
        raise ManifestError("invalid manifest:\n  " + "\n  ".join(p))


def load(path: str, check_files: bool = True) -> dict:
    """Reads and validates ``path``; raises ManifestError with every problem."""
    if os.path.isdir(path):
        path = os.path.join(path, "manifest.json")
    if not os.path.exists(path):
        raise ManifestError(f"{path} does not exist (run `python -m export --model_dir=RUN --out_dir=OUT` first)")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}")
    validate(manifest, os.path.dirname(os.path.abspath(path)), check_files)
    return manifest


def files_of(manifest: dict, kind: str, precision: Optional[str] = None) -> List[Dict]:
    return [f for f in manifest["files"] if f["kind"] == kind and (precision is None or f["precision"] == precision)]


def anytime_file(manifest: dict, precision: str) -> Dict:
    found = files_of(manifest, "anytime", precision)
    if not found:
        have = sorted({f["precision"] for f in files_of(manifest, "anytime")})
        raise ManifestError(f"the manifest has no {precision} anytime file; it has: {', '.join(have) or 'none'}")
    return found[0]


__all__ = ["FORMAT", "FILE_KINDS", "ManifestError", "VERSION", "anytime_file", "files_of", "load", "sha256",
           "validate"]
