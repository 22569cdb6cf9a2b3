"""The manifest contract's test vectors, shared by the three readers.

``tests/data/manifest_vectors.json`` holds small manifests and the verdict every reader must give:
valid, or invalid with exactly the listed field paths named. Each invalid one differs from the
valid base by one defect. ``hne_tf.export.manifest.problems`` (Python), ``web_demo/engine.js``'s
``manifestProblems`` (``web_demo/test/manifest_vectors.test.js``) and the Java engine's
``Manifest.problems`` (``ManifestVectorsTest``) are all held to the same file.

Regenerate it (after a deliberate change of the contract): ``python3 tests/test_manifest_vectors.py --write``.
"""

import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "data", "manifest_vectors.json")


def _sha(i: int) -> str:
    return f"{i:02x}" * 32


def base() -> dict:
    """A small valid manifest: 2 leaves, 3 classes, an anytime file in two precisions, a teacher."""
    io = {"serving_default": {"inputs": ["input"], "outputs": ["logits"]}}
    steps = {f"step0{i}": {"inputs": [r], "outputs": ["logits", *w]}
             for i, r, w in ((1, "input", ["trunk"]), (2, "trunk", []))}
    return {
        "format": "hne-tf-manifest", "version": 1, "created": "2026-01-01T00:00:00+00:00",
        "model": {"preset": "toy", "family": "hne", "options": {}, "branching": [1, 2], "num_leaves": 2,
                  "num_classes": 3, "dataset": "folder:shapes", "loss": "hierarchical_distillation",
                  "epochs_trained": 1},
        "input": {"name": "input", "shape": [1, 8, 6, 3], "dtype": "float32", "layout": "NHWC",
                  "normalization": {"formula": "(pixel / 255 - mean) / std, per channel",
                                    "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.25, 0.2]}},
        "input_spec": {"size": [8, 6], "channels": 3, "color": "rgb", "grayscale": None,
                       "resize": {"rule": "center_crop", "crop_fraction": 0.875, "interpolation": "bilinear",
                                  "antialias": True},
                       "normalization": {"formula": "(pixel / 255 - mean) / std, per channel",
                                         "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.25, 0.2]}},
        "labels": ["circle", "square", "triangle"],
        "num_leaves": 2,
        "ensemble": {"combine": "mean_logits", "prediction": "softmax of the mean of the first k leaves' logits"},
        "evaluation": {"dataset": "folder:shapes", "split": "test", "num_examples": 9},
        "latency": {"unit": "ms", "statistic": "median", "batch": 1, "threads": 1, "runs": 20, "thread_margin": 0.05},
        "precisions": {"float32": "float32 weights and activations", "int8": "full integer quantization"},
        "files": [
            {"file": "prefix_k01_float32.tflite", "kind": "prefix", "precision": "float32", "k": 1, "bytes": 100,
             "sha256": _sha(1), "macs": 10, "params": 5, "accuracy": 0.5, "latency_ms": 0.1,
             "signatures": io, "tensor_order": io},
            {"file": "prefix_k02_float32.tflite", "kind": "prefix", "precision": "float32", "k": 2, "bytes": 200,
             "sha256": _sha(2), "macs": 16, "params": 9, "accuracy": 0.6, "latency_ms": 0.2, "threads": 1,
             "latency_ms_by_threads": {"1": 0.2, "2": 0.25}},
            {"file": "member_l1_float32.tflite", "kind": "member", "precision": "float32", "leaf": 1, "bytes": 90,
             "sha256": _sha(3)},
            {"file": "anytime_float32.tflite", "kind": "anytime", "precision": "float32", "bytes": 300,
             "sha256": _sha(4), "accuracy_by_leaves": [0.5, 0.6], "signatures": steps, "tensor_order": steps,
             "step_threads": [1, 2]},
            {"file": "anytime_int8.tflite", "kind": "anytime", "precision": "int8", "bytes": 120,
             "sha256": _sha(5), "accuracy_by_leaves": [0.5, 0.55]},
            {"file": "teacher_float32.tflite", "kind": "teacher", "precision": "float32", "bytes": 210,
             "sha256": _sha(6), "macs": 18},
        ],
        "anytime": {"slots": {"trunk": [1, 4, 3, 8]},
                    "steps": [{"step": 1, "signature": "step01", "leaf": 0, "reads": "input", "writes": ["trunk"],
                               "start_block": 0, "macs": 10, "params": 5},
                              {"step": 2, "signature": "step02", "leaf": 1, "reads": "trunk", "writes": [],
                               "start_block": 1, "macs": 6, "params": 4}],
                    "full_macs": 16},
        "teacher": {"role": "teacher", "combine": "gated_sum", "prediction": "softmax of sum_i gate_i z_i",
                    "num_leaves": 2, "output": {"name": "logits", "shape": [1, 3]}, "macs": 18, "params": 11,
                    "leaves_macs": 16, "leaves_params": 9, "gate_macs": 2, "gate_params": 2},
        "checks": {"parity": {"passed": True}},
    }


def _edit(fn):
    def apply(m):
        fn(m)
        return m
    return apply


def _file(kind, precision="float32"):
    return lambda m: next(f for f in m["files"] if f["kind"] == kind and f["precision"] == precision)


def _batched() -> dict:
    """A batched file entry (kind 'batched': the full ensemble at a static batch, for hosts)."""
    return {"file": "batched_k02_b8_float32.tflite", "kind": "batched", "precision": "float32", "k": 2, "batch": 8,
            "bytes": 210, "sha256": _sha(7), "macs": 16, "accuracy": 0.6, "latency_ms": 1.2,
            "latency_ms_per_image": 0.15}


def _cases():
    """(name, edit of the base, the paths an invalid verdict names; [] for valid)."""
    anytime = _file("anytime")
    return [
        ("the base", lambda m: None, []),
        ("a precision no reader knows yet (a new registry entry)",
         lambda m: m["files"].append({**copy.deepcopy(anytime(m)), "file": "anytime_int8_fallback.tflite",
                                      "precision": "int8_fallback"}), []),
        ("no input_spec (exports before it)", lambda m: m.pop("input_spec"), []),
        ("a grayscale model", lambda m: (m["input"].update(shape=[1, 8, 6, 1]),
                                         m["input"]["normalization"].update(mean=[0.5], std=[0.25]),
                                         m["input_spec"].update(channels=1, color="grayscale",
                                                                grayscale="0.2989 R + 0.5870 G + 0.1140 B"),
                                         m["input_spec"]["normalization"].update(mean=[0.5], std=[0.25])), []),
        ("fields the contract does not know are ignored", lambda m: m.update(notes="x", future={"a": 1}), []),
        ("no teacher", lambda m: (m.pop("teacher"), m["files"].remove(_file("teacher")(m))), []),
        ("no anytime section (exported with --noanytime)",
         lambda m: (m.pop("anytime"), [m["files"].remove(f) for f in list(m["files"]) if f["kind"] == "anytime"]),
         []),
        ("a dynamic batch", lambda m: m["input"].update(shape=[-1, 8, 6, 3]), []),
        ("a batched file (export --batch_sizes)", lambda m: m["files"].append(_batched()), []),
        # ---- one defect each
        ("not an object", None, ["manifest"]),
        ("wrong format", lambda m: m.update(format="tflite"), ["format"]),
        ("a newer version", lambda m: m.update(version=2), ["version"]),
        ("missing labels", lambda m: m.pop("labels"), ["labels"]),
        ("missing model.preset", lambda m: m["model"].pop("preset"), ["model.preset"]),
        ("missing files[0].sha256", lambda m: m["files"][0].pop("sha256"), ["files[0].sha256"]),
        ("num_leaves is a string", lambda m: m.update(num_leaves="2"), ["num_leaves"]),
        ("num_classes is true", lambda m: m["model"].update(num_classes=True), ["model.num_classes"]),
        ("labels is a string", lambda m: m.update(labels="circle,square,triangle"), ["labels"]),
        ("a label is a number", lambda m: m["labels"].__setitem__(1, 7), ["labels[1]"]),
        ("labels and num_classes disagree", lambda m: m["labels"].pop(), ["labels"]),
        ("a precision name outside the pattern", lambda m: m["files"][0].update(precision="Int8!"),
         ["files[0].precision"]),
        ("a precision that is not a string", lambda m: m["files"][1].update(precision=8), ["files[1].precision"]),
        ("an unknown file kind", lambda m: m["files"][0].update(kind="prefixes"), ["files[0].kind"]),
        ("a file in a folder", lambda m: m["files"][0].update(file="../prefix.tflite"), ["files[0].file"]),
        ("a hidden file", lambda m: m["files"][0].update(file=".prefix.tflite"), ["files[0].file"]),
        ("a file listed twice", lambda m: m["files"][1].update(file=m["files"][0]["file"]), ["files[1].file"]),
        ("a sha256 that is not hex", lambda m: m["files"][0].update(sha256="Z" * 64), ["files[0].sha256"]),
        ("negative bytes", lambda m: m["files"][0].update(bytes=-1), ["files[0].bytes"]),
        ("negative latency", lambda m: m["files"][1].update(latency_ms=-0.5), ["files[1].latency_ms"]),
        ("a thread count of 0", lambda m: m["files"][1].update(threads=0), ["files[1].threads"]),
        ("a thread margin above 1", lambda m: m["latency"].update(thread_margin=1.5), ["latency.thread_margin"]),
        ("a latency per thread count that is not a number",
         lambda m: m["files"][1].update(latency_ms_by_threads={"1": 0.1, "2": "fast"}),
         ["files[1].latency_ms_by_threads.2"]),
        ("a step thread count that is not an integer", lambda m: anytime(m).update(step_threads=[1, 1.5]),
         ["files[3].step_threads[1]"]),
        ("accuracy above 1", lambda m: m["files"][1].update(accuracy=1.5), ["files[1].accuracy"]),
        ("a prefix file without k", lambda m: m["files"][0].pop("k"), ["files[0].k"]),
        ("k above num_leaves", lambda m: m["files"][1].update(k=3), ["files[1].k"]),
        ("k of 0", lambda m: m["files"][0].update(k=0), ["files[0].k"]),
        ("a batched file without its batch",
         lambda m: m["files"].append({k: v for k, v in _batched().items() if k != "batch"}), ["files[6].batch"]),
        ("a batched file of batch 1", lambda m: m["files"].append({**_batched(), "batch": 1}), ["files[6].batch"]),
        ("a batched file without k", lambda m: m["files"].append({k: v for k, v in _batched().items() if k != "k"}),
         ["files[6].k"]),
        ("a batched file whose k is above num_leaves", lambda m: m["files"].append({**_batched(), "k": 3}),
         ["files[6].k"]),
        ("a member file without its leaf", lambda m: m["files"][2].pop("leaf"), ["files[2].leaf"]),
        ("a member leaf out of range", lambda m: m["files"][2].update(leaf=2), ["files[2].leaf"]),
        ("accuracy_by_leaves of the wrong length", lambda m: anytime(m)["accuracy_by_leaves"].append(0.7),
         ["files[3].accuracy_by_leaves"]),
        ("a tensor_order signature with an extra key",
         lambda m: m["files"][0].update(tensor_order={"serving_default": {"inputs": [], "outputs": [], "x": []}}),
         ["files[0].tensor_order.serving_default.x"]),
        ("a precisions help that is not a string", lambda m: m["precisions"].update(int8=8), ["precisions.int8"]),
        ("a 3-d input shape", lambda m: m["input"].update(shape=[1, 8, 6]), ["input.shape"]),
        ("4 channels", lambda m: m["input"].update(shape=[1, 8, 6, 4]), ["input.shape"]),
        ("dtype uint8", lambda m: m["input"].update(dtype="uint8"), ["input.dtype"]),
        ("a std of 0", lambda m: (m["input"]["normalization"]["std"].__setitem__(0, 0),
                                  m["input_spec"]["normalization"]["std"].__setitem__(0, 0)),
         ["input.normalization.std[0]", "input_spec.normalization.std[0]"]),
        ("a mean per channel too few", lambda m: (m["input"]["normalization"]["mean"].pop(),
                                                  m["input_spec"]["normalization"]["mean"].pop()),
         ["input.normalization.mean"]),
        ("branching that does not give num_leaves", lambda m: m["model"].update(branching=[2, 2]),
         ["model.branching"]),
        ("an unknown ensemble rule", lambda m: m["ensemble"].update(combine="vote"), ["ensemble.combine"]),
        ("one step too many", lambda m: m["anytime"]["steps"].append({**m["anytime"]["steps"][1], "step": 3,
                                                                     "macs": 0}), ["anytime.steps"]),
        ("steps out of order", lambda m: m["anytime"]["steps"][1].update(step=1), ["anytime.steps[1].step"]),
        ("a step reading a slot no earlier step writes", lambda m: m["anytime"]["steps"][1].update(reads="stem"),
         ["anytime.steps[1].reads"]),
        ("a step writing an undeclared slot", lambda m: m["anytime"]["steps"][1].update(writes=["head"]),
         ["anytime.steps[1].writes"]),
        ("a slot shape that is not integers", lambda m: m["anytime"]["slots"].update(trunk=[1, 4.5]),
         ["anytime.slots.trunk[1]"]),
        ("step MACs that do not sum to full_macs", lambda m: m["anytime"]["steps"][0].update(macs=11),
         ["anytime.full_macs"]),
        ("negative step MACs", lambda m: (m["anytime"]["steps"][0].update(macs=-1),
                                          m["anytime"]["steps"][1].update(macs=17)), ["anytime.steps[0].macs"]),
        ("an anytime file without the anytime section", lambda m: m.pop("anytime"),
         ["files[3].kind", "files[4].kind"]),
        ("a teacher whose MACs are not the sum", lambda m: m["teacher"].update(gate_macs=3, leaves_macs=16),
         ["teacher.macs"]),
        ("a teacher file without the teacher section", lambda m: m.pop("teacher"), ["files[5].kind"]),
        ("a teacher file whose MACs differ", lambda m: _file("teacher")(m).update(macs=5), ["files[5].macs"]),
        ("a teacher with the wrong role", lambda m: m["teacher"].update(role="gate"), ["teacher.role"]),
        ("a teacher output for other classes", lambda m: m["teacher"]["output"].update(shape=[1, 4]),
         ["teacher.output.shape"]),
        ("an input_spec of another size", lambda m: m["input_spec"].update(size=[6, 8]), ["input_spec.size"]),
        ("an input_spec with 2 channels", lambda m: m["input_spec"].update(channels=2), ["input_spec.channels"]),
        ("an input_spec whose colour is not its channels", lambda m: m["input_spec"].update(color="grayscale"),
         ["input_spec.color"]),
        ("an unknown resize rule", lambda m: m["input_spec"]["resize"].update(rule="fit"),
         ["input_spec.resize.rule"]),
        ("a crop_fraction of 0", lambda m: m["input_spec"]["resize"].update(crop_fraction=0),
         ["input_spec.resize.crop_fraction"]),
        ("an input_spec whose mean differs from the input's",
         lambda m: m["input_spec"]["normalization"].update(mean=[0.5, 0.4, 0.31]),
         ["input_spec.normalization.mean"]),
        ("an input_spec without its resize", lambda m: m["input_spec"].pop("resize"), ["input_spec.resize"]),
    ]


def build() -> dict:
    cases = []
    for name, edit, paths in _cases():
        manifest = [base()] if edit is None else _edit(edit)(base())
        cases.append({"name": name, "valid": not paths, "paths": paths, "manifest": manifest})
    return {"format": "hne-tf-manifest-vectors", "version": 1,
            "about": "manifests and the verdict every reader of hne_tf/export/manifest.schema.json plus its "
                     "cross-field rules must give: valid, or invalid naming exactly 'paths' (the set of the "
                     "problems' field paths, written files[2].precision; 'manifest' is the whole). Regenerate: "
                     "python3 tests/test_manifest_vectors.py --write",
            "cases": cases}


def paths_of(problems) -> list[str]:
    return sorted({path for path, _ in problems})


def test_vectors_are_the_committed_ones():
    with open(VECTORS) as f:
        assert json.load(f) == build()


def test_python_reader_agrees_with_every_vector():
    from hne_tf.export import manifest as mf

    for case in build()["cases"]:
        assert paths_of(mf.problems(case["manifest"])) == sorted(case["paths"]), case["name"]


def test_schema_subset_agrees_with_jsonschema_where_installed():
    """The tiny validator against the reference one, on every vector (skipped without jsonschema,
    which is no dependency of the project)."""
    import pytest

    jsonschema = pytest.importorskip("jsonschema")
    from hne_tf.export import manifest as mf
    from hne_tf.export import schema

    jsonschema.Draft202012Validator.check_schema(mf.SCHEMA)
    reference = jsonschema.Draft202012Validator(mf.SCHEMA)
    for case in build()["cases"]:
        ours = schema.problems(case["manifest"], mf.SCHEMA)
        theirs = list(reference.iter_errors(case["manifest"]))
        assert bool(ours) == bool(theirs), (case["name"], ours, [e.message for e in theirs])


def test_the_export_meets_the_contract(hne_export):
    """The exporter's real output: no problem, and an input_spec that agrees with the input."""
    from hne_tf.export import manifest as mf

    _, manifest = hne_export
    assert mf.problems(manifest) == []
    assert manifest["input_spec"]["size"] == manifest["input"]["shape"][1:3]


def test_a_precision_name_outside_the_contract_cannot_be_registered():
    import pytest

    from hne_tf.export import precisions

    with pytest.raises(ValueError, match="does not match"):
        precisions.register("Int8 fallback", "x")(lambda converter, tf, representative: None)
    assert "Int8 fallback" not in precisions.REGISTRY


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python3 {sys.argv[0]} --write   (rewrites {VECTORS})")
    sys.path.insert(0, os.path.dirname(HERE))
    vectors = build()
    head = json.dumps({k: v for k, v in vectors.items() if k != "cases"}, indent=1)[:-2]
    with open(VECTORS, "w") as f:  # one case a line: a reader finds a case by its name
        f.write(head + ',\n "cases": [\n' + ",\n".join(json.dumps(c) for c in vectors["cases"]) + "\n ]\n}\n")
    print(f"wrote {VECTORS}")
