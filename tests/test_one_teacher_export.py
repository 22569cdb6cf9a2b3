"""ONE's gated teacher ("ONE-E", Lan et al. 2018, Table 5) exported as one file per precision.

One tiny ONE (3 branches) is trained for 20 steps on the synthetic data set
and exported once (float32 + int8; the session fixture ``one_export`` in
conftest.py, which test_export.py reads too); the tests read that export. The
reference for the teacher's logits is computed here by hand from the Keras
model's branch logits and gate: ``sum_i gate_i z_i``.
"""

import copy
import json
import re

import numpy as np
import pytest
from kit import test_images as _images

from hne_tf.export import manifest as mf
from hne_tf.export import runtime as rt
from hne_tf.export.exporter import parity_result
from hne_tf.training import load_trained

PRECISIONS = ("float32", "int8")
TOLERANCE = 1e-5  # the export's default --parity_tolerance (relative to max(1, max |logit|))


def _by_hand(model, x):
    """The gated teacher from the Keras model's own outputs, summed leaf by leaf in float64."""
    outputs = model(x, training=False)
    z = outputs["logits"].numpy().astype(np.float64)  # [batch, leaves, classes]
    gate = outputs["gate"].numpy().astype(np.float64)  # [batch, leaves]
    want = np.zeros((z.shape[0], z.shape[2]))
    for i in range(z.shape[1]):
        want += gate[:, i:i + 1] * z[:, i]
    return want, z, gate, outputs


def test_teacher_file_computes_the_gated_sum(one_export):
    run_dir, out, manifest, _ = one_export
    model = load_trained(str(run_dir))
    x, _ = _images(32)
    want, z, gate, outputs = _by_hand(model, x)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0, atol=1e-6)  # the gate is a softmax over the branches
    # The gate is not uniform, so the gated sum is not the plain mean that the prefix k = N file gives.
    assert np.max(np.abs(want - z.mean(axis=1))) > 1e-3
    keras_teacher = model.teacher_logits(outputs).numpy()
    assert parity_result("keras", "teacher", keras_teacher, want, TOLERANCE)["passed"]
    entry = mf.teacher_file(manifest, "float32")
    got = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / entry["file"])), "serving_default"), x)
    assert got.shape == (32, manifest["model"]["num_classes"])
    check = parity_result(entry["file"], "serving_default", got, want, TOLERANCE)
    assert check["passed"], check
    # The export's own parity check covered the teacher file.
    (row,) = [p for p in manifest["checks"]["parity"]["results"] if p["file"] == entry["file"]]
    assert row["passed"] and row["bound"] == pytest.approx(TOLERANCE * max(1.0, row["logit_scale"]))
    # int8 stays close to the float32 teacher in its predictions.
    q = mf.teacher_file(manifest, "int8")
    got8 = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / q["file"])), "serving_default"), x)
    assert np.mean(np.argmax(got8, -1) == np.argmax(want, -1)) >= 0.8


def test_manifest_entry(one_export):
    run_dir, out, manifest, lines = one_export
    mf.load(str(out / "manifest.json"))  # validates, files and their tensor order included
    teacher = manifest["teacher"]
    files = mf.files_of(manifest, "teacher")
    assert [f["precision"] for f in files] == list(PRECISIONS)
    assert [f["file"] for f in files] == ["teacher_float32.tflite", "teacher_int8.tflite"]
    # MACs: every leaf (the anytime steps' sum) plus the gate: a dense layer from the 16 shared channels of
    # one_resnet_tiny's stage 2 (32 x width 0.5) to 3 branches.
    assert teacher["gate_macs"] == 16 * 3
    assert teacher["leaves_macs"] == sum(s["macs"] for s in manifest["anytime"]["steps"])
    assert teacher["macs"] == teacher["leaves_macs"] + 16 * 3
    # Params: the gate's dense kernel and bias and its batch norm's four vectors.
    assert teacher["gate_params"] == 16 * 3 + 3 + 4 * 3
    assert teacher["num_leaves"] == 3 and teacher["output"] == {"name": "logits", "shape": [1, 10]}
    for f in files:
        assert f["macs"] == teacher["macs"] and f["params"] == teacher["params"]
        assert f["bytes"] == (out / f["file"]).stat().st_size
        assert f["latency_ms"] > 0 and f["tensor_order"]["serving_default"] == {"inputs": ["input"],
                                                                               "outputs": ["logits"]}
    # Accuracy: the Keras teacher's on the same test images (the export's first 256).
    model = load_trained(str(run_dir))
    x, y = _images(manifest["evaluation"]["num_examples"])
    want, *_ = _by_hand(model, x)
    keras_accuracy = float(np.mean(np.argmax(want, -1) == y))
    assert abs(files[0]["accuracy"] - keras_accuracy) <= 1 / len(y)
    # int8: an accuracy-drop row without k or leaf; the schema-1 "int8" list keeps prefixes and members only.
    (drop,) = [r for r in manifest["checks"]["accuracy_drops"] if r["kind"] == "teacher"]
    assert drop["precision"] == "int8" and "k" not in drop and "leaf" not in drop
    assert drop["float32_accuracy"] == files[0]["accuracy"] and drop["accuracy"] == files[1]["accuracy"]
    assert all(r["kind"] != "teacher" for r in manifest["checks"]["int8"])
    # The summary table and the drop line name it.
    text = "\n".join(lines)
    assert any(line.startswith("teacher_float32.tflite ") for line in text.splitlines())
    assert "int8 teacher: float32" in text


def _manifest(one_export):
    _, out, _, _ = one_export
    return out, copy.deepcopy(json.loads((out / "manifest.json").read_text()))


def _teacher_entry(m):
    return next(f for f in m["files"] if f["kind"] == "teacher")


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.pop("teacher"), "a teacher file needs the manifest's 'teacher' section"),
    (lambda m: m.update(teacher=[1]), "teacher: expected object, got array"),
    (lambda m: m["teacher"].update(gate_macs=m["teacher"]["gate_macs"] + 1), "is not leaves_macs + gate_macs"),
    (lambda m: m["teacher"].pop("params"), "teacher.params: missing"),
    (lambda m: m["teacher"].update(leaves_macs=1, macs=1 + m["teacher"]["gate_macs"]), "anytime.full_macs"),
    (lambda m: m["teacher"].update(num_leaves=2), "teacher.num_leaves: 2"),
    (lambda m: m["teacher"].update(role="gate"), "teacher.role"),
    (lambda m: m["teacher"]["output"].update(shape=[1, 3, 10]), "teacher.output.shape"),
    (lambda m: _teacher_entry(m).update(macs=5), "differs from teacher.macs"),
    (lambda m: _teacher_entry(m).update(kind="teachers"), "'teachers' is not one of"),
])
def test_corrupted_teacher_entry_is_rejected(one_export, mutate, message):
    out, manifest = _manifest(one_export)
    mf.validate(manifest, str(out))
    mutate(manifest)
    with pytest.raises(mf.ManifestError, match=re.escape(message)):
        mf.validate(manifest, str(out), check_files=False)


def test_host_runner_ignores_the_teacher(one_export):
    from hne_tf.export.anytime import AnytimeEngine, StoppingRule

    _, out, manifest, _ = one_export
    engine = AnytimeEngine(str(out), "int8")
    x, _ = _images(2)
    assert engine.classify(x[0], StoppingRule("leaves", 3)).steps == 3
    with pytest.raises(mf.ManifestError, match="no float16 teacher file; it has: float32, int8"):
        mf.teacher_file(manifest, "float16")


def test_hne_export_has_no_teacher(hne_export):
    _, manifest = hne_export
    assert "teacher" not in manifest
    assert sorted(manifest) == ["anytime", "checks", "created", "ensemble", "evaluation", "files", "format",
                                "input", "input_spec", "labels", "latency", "model", "num_leaves", "outputs",
                                "precisions", "version"]
    assert {f["kind"] for f in manifest["files"]} == {"prefix", "anytime"}
    assert all("k" in r for r in manifest["checks"]["accuracy_drops"])
    with pytest.raises(mf.ManifestError, match="no teacher section"):
        mf.teacher_file(manifest, "float32")


def test_noteacher_flag_leaves_it_out(one_export, tmp_path):
    from kit import run_cli

    run_dir = one_export[0]
    out = tmp_path / "out"
    r = run_cli("hne_tf.export", f"--model_dir={run_dir}", f"--out_dir={out}", "--noteacher", "--precisions=float32",
                "--prefixes=1", "--noanytime", "--eval_examples=16", "--parity_examples=8", "--latency_runs=1")
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = mf.load(str(out / "manifest.json"))
    assert "teacher" not in manifest and [f["file"] for f in manifest["files"]] == ["prefix_k01_float32.tflite"]
