"""TFLite export: parity with Keras, the anytime file, the manifest, int8, bad input.

One tiny HNE (width 1/4 of Table 2's tree, 16 leaves) and one tiny ONE are
trained for a few dozen steps on the synthetic data set and exported once per
test session (conftest.py); the tests read those exports.
"""

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from kit import ROOT, run_cli
from kit import export as _export
from kit import test_images as _images
from kit import train as _train

from hne_tf.export import convert as conv
from hne_tf.export import manifest as mf
from hne_tf.export import precisions
from hne_tf.export import runtime as rt
from hne_tf.export.exporter import ExportConfig, ExportError, run_export
from hne_tf.training import load_trained


@pytest.fixture(scope="module")
def hne_model(hne_run):
    return load_trained(str(hne_run))


# ----------------------------------------------------------------- parity

def test_export_writes_every_file_and_a_valid_manifest(hne_export):
    out, manifest = hne_export
    names = sorted(f["file"] for f in manifest["files"])
    expected = sorted([f"prefix_k{k:02d}_{p}.tflite" for k in (1, 2, 4, 8, 16) for p in ("float32", "int8")]
                      + ["anytime_float32.tflite", "anytime_int8.tflite"])
    assert names == expected
    assert sorted(os.listdir(out)) == sorted(expected + ["manifest.json"])
    mf.load(str(out / "manifest.json"))  # validates sizes and sha256 of every file
    assert manifest["num_leaves"] == 16 and manifest["input"]["shape"] == [1, 28, 28, 1]
    assert manifest["input"]["batch"]["static"] is True
    assert manifest["input"]["normalization"]["mean"] == [0.5]


def test_float32_files_match_keras(hne_export, hne_model):
    """Independent of the export's own check: run the files, compare with Keras."""
    out, manifest = hne_export
    x, _ = _images()
    for f in mf.files_of(manifest, "prefix", "float32"):
        runner = rt.Runner(rt.load_interpreter(str(out / f["file"])), "serving_default")
        got = rt.run_batched(runner, x)
        want = hne_model.prefix(f["k"])(x).numpy()
        assert got.shape == (len(x), f["k"], 10)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=f["file"])
    steps = manifest["anytime"]["steps"]
    got = rt.run_steps(rt.load_interpreter(str(out / "anytime_float32.tflite")), steps, x)
    np.testing.assert_allclose(got, hne_model(x)["logits"].numpy(), atol=1e-4, rtol=0)
    parity = manifest["checks"]["parity"]
    assert parity["passed"] and len(parity["results"]) == 5 + 16
    assert max(p["max_abs_diff"] for p in parity["results"]) <= 1e-4


def test_anytime_signatures_in_order(hne_export):
    out, manifest = hne_export
    interpreter = rt.load_interpreter(str(out / "anytime_float32.tflite"))
    signatures = interpreter.get_signature_list()
    assert list(signatures) == [f"step{i:02d}" for i in range(1, 17)]
    # Hand-derived for the binary tree (1, 2, 2, 2, 2): leaf k starts where
    # its path leaves leaf k-1's, at the block of the lowest set bit of k.
    reads = ["input", "block3", "block2", "block3", "block1", "block3", "block2", "block3",
             "block0", "block3", "block2", "block3", "block1", "block3", "block2", "block3"]
    for (_key, sig), step, read in zip(signatures.items(), manifest["anytime"]["steps"], reads, strict=True):
        assert sig["inputs"] == [read] == [step["reads"]]
        assert sorted(sig["outputs"]) == sorted(["logits"] + step["writes"])
    assert manifest["anytime"]["steps"][0]["writes"] == ["block0", "block1", "block2", "block3"]


def test_step_macs_sum_to_the_full_tree(hne_export, hne_model):
    _, manifest = hne_export
    steps = manifest["anytime"]["steps"]
    full = next(f for f in manifest["files"] if f["kind"] == "prefix" and f["k"] == 16)
    assert sum(s["macs"] for s in steps) == manifest["anytime"]["full_macs"] == full["macs"]
    # Each node once: the steps' params add up to the whole model's too.
    assert sum(s["params"] for s in steps) == full["params"] == hne_model.count_params()


def _constant_bytes(buf: bytes) -> list:
    """The data of every buffer that a tensor of the flatbuffer points to (LiteRT's own schema reader)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(buf, 0)
    used = {model.Subgraphs(i).Tensors(t).Buffer() for i in range(model.SubgraphsLength())
            for t in range(model.Subgraphs(i).TensorsLength())}
    return [model.Buffers(b).DataAsNumpy().tobytes() for b in sorted(used) if model.Buffers(b).DataLength()]


def _weights_stored_once(paths, full_path):
    """(bytes of constants in the files ``paths`` / in ``full_path``, blobs of >= 256 bytes stored twice)."""
    blobs = []
    for path in paths:
        with open(path, "rb") as f:
            blobs += _constant_bytes(f.read())
    with open(full_path, "rb") as f:
        full = _constant_bytes(f.read())
    big = [b for b in blobs if len(b) >= 256]
    return sum(map(len, blobs)) / sum(map(len, full)), len(big) - len(set(big))


def test_anytime_weights_stored_once(hne_export, hne_model, tmp_path):
    """Measured from the files: the anytime file holds the k = N model's constant bytes, no blob twice."""
    out, _ = hne_export
    ratio, repeats = _weights_stored_once([out / "anytime_float32.tflite"], out / "prefix_k16_float32.tflite")
    assert 0.99 <= ratio <= 1.01 and repeats == 0, (ratio, repeats)
    # The same measure on weights that are stored twice: leaves 0 and 1 in
    # files of their own, each with its whole root-to-leaf path, against
    # prefix k = 2 (the shared nodes twice, the blobs of the root repeated).
    graphs = conv.trace_graphs(hne_model, [], [0, 1], anytime=False, log=lambda _: None)
    converter = conv.Converter(graphs)
    paths = [tmp_path / f"member_{m}.tflite" for m in (0, 1)]
    for m, path in zip((0, 1), paths, strict=True):
        path.write_bytes(converter.convert([conv.member_key(m)], "float32"))
    ratio, repeats = _weights_stored_once(paths, out / "prefix_k02_float32.tflite")
    assert ratio > 1.1 and repeats > 0, (ratio, repeats)


@pytest.mark.slow  # 30 s; the main job's export enforces the same bound on the same model
def test_anytime_file_size_bound():
    """The 1.05 bound on the main job's model (random weights: size does not depend on them)."""
    from hne_tf import build_model

    model = build_model("hne_resnet_mini", (28, 28, 1), 10)
    steps = model.anytime_steps()
    graphs = conv.trace_graphs(model, [16], [], anytime=True, log=lambda _: None)
    converter = conv.Converter(graphs)
    full = converter.convert([conv.prefix_key(16)], "float32")
    anytime = converter.convert([conv.step_key(s.step) for s in steps], "float32")
    assert len(anytime) <= 1.05 * len(full), (len(anytime), len(full))
    assert conv.weight_bytes(anytime) <= 1.001 * conv.weight_bytes(full)


def test_int8_runs_and_agrees_with_float32(hne_export):
    out, manifest = hne_export
    x, _ = _images(256)
    for f32 in mf.files_of(manifest, "prefix", "float32"):
        q = next(f for f in mf.files_of(manifest, "prefix", "int8") if f["k"] == f32["k"])
        a = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / f32["file"])), "serving_default"), x)
        b = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / q["file"])), "serving_default"), x)
        agreement = np.mean(a.mean(1).argmax(-1) == b.mean(1).argmax(-1))
        assert agreement >= 0.8, (f32["k"], agreement)
    rows = manifest["checks"]["int8"]
    assert [r["k"] for r in rows] == [1, 2, 4, 8, 16]
    for r in rows:
        assert r["drop_points"] == pytest.approx((r["float32_accuracy"] - r["int8_accuracy"]) * 100, abs=1e-3)


def test_trained_model_is_better_than_chance(hne_export):
    # Guards the fixture: the int8 agreement above is meaningful only on a
    # model that learned something.
    _, manifest = hne_export
    acc = mf.anytime_file(manifest, "float32")["accuracy_by_leaves"]
    assert acc[-1] > 0.5


def test_parity_tolerance_is_relative_to_the_logits(hne_run):
    """Rounding at logits of thousands passes; a 1% change of one batch-norm scale fails."""
    from hne_tf.export.exporter import parity_result

    model = load_trained(str(hne_run))  # a private copy: its weights are changed below
    x, _ = _images(64)
    for v in model.variables:
        if v.path.endswith("head/classifier/kernel") or v.path.endswith("head/classifier/bias"):
            v.assign(v * 500.0)  # logits in the thousands, like a barely trained hne_resnet_small
    graphs = conv.trace_graphs(model, [16], [], anytime=False, log=lambda _: None)
    buf = conv.Converter(graphs).convert([conv.prefix_key(16)], "float32")
    got = rt.run_batched(rt.Runner(rt.load_interpreter(buf), "serving_default"), x)
    keras = model.prefix(16)(x, training=False).numpy()
    result = parity_result("f", "serving_default", got, keras, ExportConfig("", "").parity_tolerance)
    assert result["logit_scale"] > 1000 and result["max_abs_diff"] > 0
    assert result["passed"], result
    gamma = next(v for v in model.variables if v.path.endswith("block4/resnet0/expand/bn/gamma"))
    perturbed = gamma.numpy()
    perturbed[-1] *= 1.01  # one channel of the last leaf's last block
    gamma.assign(perturbed)
    keras = model.prefix(16)(x, training=False).numpy()
    result = parity_result("f", "serving_default", got, keras, ExportConfig("", "").parity_tolerance)
    assert not result["passed"], result


def test_precision_tradeoffs_compare_each_file_with_its_float32_twin():
    """Sizes and times by hand: each file at its faster thread count, anytime files by all their steps."""
    from hne_tf.export.exporter import precision_tradeoffs

    def prefix(precision, size, ms_1, ms_2):
        return {"kind": "prefix", "k": 1, "precision": precision, "bytes": size, "latency_ms": ms_1,
                "latency_ms_by_threads": {"1": ms_1, "2": ms_2}}

    def anytime(precision, size, ms):
        return {"kind": "anytime", "precision": precision, "bytes": size, "all_steps_latency_ms": ms}

    files = [prefix("float32", 1000, 1.0, 0.8), anytime("float32", 1200, 2.0),
             prefix("int8", 250, 1.2, 1.0), anytime("int8", 400, 2.6),       # 1.0 / 0.8 = 1.25, 2.6 / 2.0 = 1.3
             prefix("float16", 500, 0.9, 0.84), anytime("float16", 600, 1.9),  # 0.84 / 0.8 = 1.05, 0.95
             prefix("dynamic", 500, 0.5, 0.6), anytime("dynamic", 600, 1.2)]  # 0.5 / 0.8 = 0.625, 0.6
    lines = precision_tradeoffs(files)
    assert lines[0] == ("int8 against float32 (2 files): 3.00-4.00x smaller, 1.25-1.30x the time (median 1.27; each "
                        "file at its faster thread count): slower here: choose it for size or for an accelerator "
                        "that needs it, not for speed on this CPU")
    assert lines[1].startswith("float16 against float32 (2 files): 2.00-2.00x smaller, 0.95-1.05x the time "
                               "(median 1.00;") and lines[1].endswith(": about as fast here")
    assert "0.60-0.62x the time" in lines[2] and lines[2].endswith(": faster here")
    assert precision_tradeoffs(files[:2]) == []  # float32 alone: nothing to compare


@pytest.fixture(scope="module")
def prefix2_graphs(hne_model):
    """Prefix k=2 of the tiny HNE, traced once for every precision case (tracing costs seconds;
    the converter keeps no state between conversions)."""
    return conv.trace_graphs(hne_model, [2], [], anytime=False, log=lambda _: None)


@pytest.mark.parametrize("precision", list(precisions.REGISTRY))
def test_every_registered_precision_converts_and_runs(hne_model, prefix2_graphs, precision):
    """Each registry entry sets up a converter whose file runs and agrees with Keras on most images."""
    entry = precisions.get(precision)
    graphs = prefix2_graphs
    converter = conv.Converter(graphs)
    x, _ = _images(64)
    rep = conv.representative_batches(graphs, ["prefix_k02"], [], x[:32]) if entry.calibrated else None
    if entry.calibrated:
        with pytest.raises(ValueError, match="representative"):
            converter.convert(["prefix_k02"], precision)
    buf = converter.convert(["prefix_k02"], precision, rep)
    got = rt.run_batched(rt.Runner(rt.load_interpreter(buf), "serving_default"), x)
    want = hne_model.prefix(2)(x).numpy()
    assert np.mean(got.mean(1).argmax(-1) == want.mean(1).argmax(-1)) >= 0.8
    assert precision in precisions.REGISTRY and entry.help


def test_tensor_order_matches_the_files(hne_export, tmp_path):
    """files[].tensor_order against TensorFlow's own flatbuffer reader, and the validator catches a swap."""
    from tensorflow.lite.tools import flatbuffer_utils

    out, manifest = hne_export
    for f in manifest["files"]:
        model = flatbuffer_utils.read_model(str(out / f["file"]))
        for sig in model.signatureDefs:
            subgraph = model.subgraphs[sig.subgraphIndex]
            names = {t.tensorIndex: t.name.decode() for t in sig.outputs}
            want = [names[i] for i in subgraph.outputs]
            assert f["tensor_order"][sig.signatureKey.decode()]["outputs"] == want, f["file"]
    step01 = mf.anytime_file(manifest, "float32")["tensor_order"]["step01"]["outputs"]
    assert sorted(step01) == ["block0", "block1", "block2", "block3", "logits"]
    broken = copy.deepcopy(json.loads((out / "manifest.json").read_text()))
    entry = next(f for f in broken["files"] if f["file"] == "anytime_float32.tflite")
    outputs = entry["tensor_order"]["step01"]["outputs"]
    outputs[0], outputs[1] = outputs[1], outputs[0]
    with pytest.raises(mf.ManifestError, match="step01 outputs are"):
        mf.validate(broken, str(out))


def test_interleaved_timing_is_round_robin_with_warmup():
    now = [0.0]
    calls = []

    def task(name, ms):
        def run():
            calls.append(name)
            now[0] += ms / 1e3
        return run

    times = rt.interleaved_ms({"a": task("a", 1), "b": task("b", 2), "c": task("c", 3)}, runs=4, warmup=2,
                              clock=lambda: now[0])
    assert calls[:6] == list("abcabc")  # warm-up rounds, untimed
    assert calls[6:] == list("abc" "bca" "cab" "abc")  # every round runs every file, from a rotating start
    assert times["a"].tolist() == pytest.approx([1, 1, 1, 1]) and times["c"].tolist() == pytest.approx([3] * 4)
    assert rt.median_iqr([1, 2, 3, 4, 100]) == (3.0, 2.0)
    with pytest.raises(ValueError, match="runs must be an integer >= 1"):
        rt.interleaved_ms({"a": task("a", 1)}, runs=0)


def test_more_threads_are_chosen_only_when_over_5_percent_faster():
    # The rule of the export's stored plans and of runtime.thread_plan, by hand.
    _faster = rt.faster_count
    assert _faster([1, 2], [1.0, 0.96]) == 1      # 4% faster: noise
    assert _faster([1, 2], [1.0, 0.94]) == 2      # 6% faster
    assert _faster([1, 2], [1.0, 1.30]) == 1      # slower
    assert _faster([1, 2, 4], [1.0, 0.90, 0.88]) == 2  # 4 is not 5% below 2's 0.90 (0.855)
    assert _faster([1, 2, 4], [1.0, 0.90, 0.80]) == 4
    assert _faster([2], [0.5]) == 2


def _expected_threads(one: float, two: float) -> int:
    """2 only when its median is over 5% below 1 thread's (THREAD_MARGIN), else 1. The stored medians are
    rounded to 1e-4 ms: a pair within that of the 5% line could go either way, so it is accepted as chosen."""
    line = one * 0.95
    if abs(two - line) <= 1e-4:
        return pytest.approx(1.5, abs=0.5)  # 1 or 2
    return 2 if two < line else 1


def test_export_times_all_files_in_one_interleaved_run(hne_run, hne_export, tmp_path, monkeypatch):
    seen = []
    real = rt.interleaved_ms

    def spy(callables, runs, warmup=3, **kw):
        seen.append((sorted(callables), runs, warmup))
        return real(callables, runs, warmup, **kw)
    monkeypatch.setattr(rt, "interleaved_ms", spy)
    manifest = run_export(ExportConfig(model_dir=str(hne_run), out_dir=str(tmp_path / "out"), prefixes=[1, 2],
                                       precisions=("float32", "dynamic"), members=[], anytime=False,
                                       eval_examples=32, parity_examples=16, latency_runs=7, latency_warmup=2),
                          log=lambda *_: None)
    names = sorted(f["file"] for f in manifest["files"])
    # One interleaved run: every file at 1 thread and at --latency_threads (2) in the same rounds.
    assert len(names) == 4 and seen == [([(name, t) for name in names for t in (1, 2)], 7, 2)]
    latency = manifest["latency"]
    assert latency["runs"] == 7 and latency["warmup"] == 2 and latency["threads"] == 2
    assert latency["threads_compared"] == [1, 2]
    for f in manifest["files"]:
        by = f["latency_ms_by_threads"]
        assert set(by) == {"1", "2"} and by["2"] == f["latency_ms"]  # latency_ms stays the 2-thread median
        assert f["threads"] == _expected_threads(by["1"], by["2"])
    # The session export (anytime file included) went through the same code.
    _, manifest = hne_export
    latency = manifest["latency"]
    assert latency["statistic"] == "median" and latency["order"].startswith("interleaved")
    assert len(latency["load_average"]["before"]) == 3 and latency["cpu_count"] >= 1
    for f in manifest["files"]:
        if f["kind"] == "anytime":
            assert len(f["step_latency_ms"]) == len(f["step_latency_iqr_ms"]) == 16
            assert min(f["step_latency_iqr_ms"]) >= 0 and f["all_steps_latency_ms"] > max(f["step_latency_ms"])
            by = f["step_latency_ms_by_threads"]
            assert by["2"] == f["step_latency_ms"] and len(by["1"]) == 16
            assert all(t == _expected_threads(by["1"][i], by["2"][i]) for i, t in enumerate(f["step_threads"]))
        else:
            assert f["latency_ms"] > 0 and f["latency_iqr_ms"] >= 0


def test_native_noise_is_dropped_and_real_lines_kept():
    code = ("import os\nfrom hne_tf.quiet import quiet_native_stderr\nwith quiet_native_stderr():\n"
            "    os.write(2, b'fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\\n')\n"
            "    os.write(2, b'E0000 00:00:1.2 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n')\n"
            "    os.write(2, b'W0000 00:00:1.2 1 something.cc:1] a real warning\\n')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "W0000 00:00:1.2 1 something.cc:1] a real warning\n", r.stderr


# --------------------------------------------------------------- manifest

def _valid(hne_export):
    out, manifest = hne_export
    return out, copy.deepcopy(json.loads((out / "manifest.json").read_text()))


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.update(version=2), "version"),
    (lambda m: m.pop("labels"), "labels: missing"),
    (lambda m: m["anytime"]["steps"][1].update(reads="block9"), "not written by an earlier step"),
    (lambda m: m["anytime"]["steps"].reverse(), "steps are ordered"),
    (lambda m: m["anytime"]["steps"][0].update(macs=1), "step MACs sum"),
    (lambda m: m["files"][0].update(k=17), "outside [1, 16]"),
    (lambda m: m["files"][0].update(precision="INT4"), "files[0].precision"),
    (lambda m: m["files"][0].update(sha256="0" * 64), "sha256"),
    (lambda m: m["input"].update(shape=[-1, 28, 28]), "input.shape"),
    (lambda m: m["model"].update(branching=[1, 2, 2]), "does not give num_leaves"),
])
def test_manifest_validation_rejects(hne_export, mutate, message):
    out, manifest = _valid(hne_export)
    mf.validate(manifest, str(out))
    mutate(manifest)
    with pytest.raises(mf.ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mf.validate(manifest, str(out))


def test_manifest_load_errors(tmp_path):
    with pytest.raises(mf.ManifestError, match="does not exist"):
        mf.load(str(tmp_path / "manifest.json"))
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(mf.ManifestError, match="not valid JSON"):
        mf.load(str(tmp_path / "manifest.json"))


# ----------------------------------------------------------------- runner

def test_stopping_rules_on_a_fixed_trace():
    from hne_tf.export.anytime import StoppingRule, replay

    # Two images, four steps, three classes. Image 0 is confident after two
    # leaves; image 1 never reaches 0.9.
    logits = np.zeros((2, 4, 3), np.float32)
    logits[0, :, 0] = [1.0, 5.0, 5.0, 5.0]   # running mean of class 0: 1, 3, 3.67, 4
    logits[1, :, 1] = [0.5, 0.5, 0.5, 0.5]
    step_ms = np.array([[1.0, 0.5, 0.5, 0.5], [1.2, 0.5, 0.5, 0.5]])
    trace = {"logits": logits, "step_ms": step_ms}
    predicted = [1.0, 0.5, 0.5, 0.5]
    # softmax([1,0,0]) = 0.576, softmax([3,0,0]) = 0.909
    out = replay(trace, StoppingRule("confidence", 0.9), predicted)
    assert out["steps"].tolist() == [2, 4]
    assert out["prediction"].tolist() == [0, 1]
    assert out["elapsed_ms"].tolist() == pytest.approx([1.5, 2.7])
    out = replay(trace, StoppingRule("leaves", 3), predicted)
    assert out["steps"].tolist() == [3, 3]
    # Deadline 2.0 ms: image 0 runs step 2 (1.0 + 0.5 <= 2.0) and step 3
    # would end at 2.0 (allowed), step 4 at 2.5 (not); image 1 started slower.
    out = replay(trace, StoppingRule("deadline", 2.0), predicted)
    assert out["steps"].tolist() == [3, 2]
    # A deadline shorter than step 1 still gives the first leaf's answer.
    out = replay(trace, StoppingRule("deadline", 0.1), predicted)
    assert out["steps"].tolist() == [1, 1]


def test_rule_arguments_are_checked():
    from hne_tf.export.anytime import StoppingRule

    for kind, value in [("deadline", 0), ("confidence", 1.5), ("leaves", 2.5), ("bedtime", 1)]:
        with pytest.raises(ValueError):
            StoppingRule(kind, value)


def test_runner_follows_the_exports_thread_plan(hne_export, hne_model, tmp_path):
    """The runner runs each step on the thread count the export measured faster for it (the anytime file's
    step_threads), measures its own plan only where the export compared other counts, and any plan gives
    the Keras logits."""
    from hne_tf.export.anytime import AnytimeEngine

    out, manifest = hne_export
    entry = mf.anytime_file(manifest, "float32")
    engine = AnytimeEngine(str(out / "manifest.json"))
    assert engine.thread_plan == entry["step_threads"] and engine.thread_plan_source == "manifest"
    # A copy whose manifest asks for a mixed plan: that plan is followed, and the leaves are Keras'.
    copy_dir = tmp_path / "export"
    shutil.copytree(out, copy_dir)
    edited = copy.deepcopy(manifest)
    mixed = [1 + i % 2 for i in range(16)]
    mf.anytime_file(edited, "float32")["step_threads"] = mixed
    (copy_dir / "manifest.json").write_text(json.dumps(edited))
    engine = AnytimeEngine(str(copy_dir / "manifest.json"))
    assert engine.thread_plan == mixed and engine.threads_text() == "1 thread for 8 steps, 2 threads for 8 steps"
    x, _ = _images(3)
    np.testing.assert_allclose(engine.trace(x)["logits"], hne_model(x)["logits"].numpy(), atol=1e-4)
    # Threads the export did not compare (3): measured here. Off: every step on --threads.
    assert AnytimeEngine(str(copy_dir / "manifest.json"), threads=3).thread_plan_source == "measured"
    off = AnytimeEngine(str(copy_dir / "manifest.json"), per_step_threads=False)
    assert off.thread_plan == [2] * 16 and off.thread_plan_source == "--threads" and off.threads_text() == "2 threads"


def test_live_engine_on_the_exported_file(hne_export, hne_model):
    from hne_tf.export.anytime import AnytimeEngine, StoppingRule, softmax

    out, _ = hne_export
    engine = AnytimeEngine(str(out / "manifest.json"))
    x, _ = _images(4)
    keras_logits = hne_model(x)["logits"].numpy()
    for k in (1, 5, 16):
        r = engine.classify(x[0], StoppingRule("leaves", k))
        assert r.steps == k
        np.testing.assert_allclose(r.probabilities, softmax(keras_logits[0, :k].mean(0)), atol=1e-4)
    assert engine.classify(x[1], StoppingRule("confidence", 1.0)).steps == 16
    assert engine.classify(x[1], StoppingRule("deadline", 1e-6)).steps == 1
    predicted = engine.calibrate(x, repeats=2)
    assert len(predicted) == 16 and min(predicted) > 0
    assert engine.classify(x[1], StoppingRule("deadline", 1e6)).steps == 16
    # Replay of a traced pass takes the same decisions as the live engine.
    from hne_tf.export.anytime import replay

    trace = engine.trace(x)
    for rule in (StoppingRule("confidence", 0.6), StoppingRule("leaves", 7)):
        live = [engine.classify(x[i], rule).steps for i in range(len(x))]
        assert replay(trace, rule, engine.predicted_ms)["steps"].tolist() == live
    # preprocess() is the normalization the data pipeline applies.
    pixels = np.arange(28 * 28, dtype=np.float32).reshape(28, 28, 1) % 256
    np.testing.assert_allclose(engine.preprocess(pixels), (pixels / 255 - 0.5) / 0.326, rtol=1e-6)


def test_runner_cli_writes_table_json_and_plot(hne_export, tmp_path):
    out, _ = hne_export
    r = run_cli("hne_tf.export.anytime", f"--manifest={out / 'manifest.json'}", "--num_images=64",
                f"--output={tmp_path / 'eval'}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "accuracy %" in r.stdout and "deadline" in r.stdout
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["num_images"] == 64 and (tmp_path / "eval.png").exists()
    leaves = [p for p in result["points"] if p["rule"] == "leaves"]
    assert [p["mean_leaves"] for p in leaves] == list(range(1, 17))
    r = run_cli("hne_tf.export.anytime", f"--manifest={out / 'manifest.json'}", "--rule=confidence")
    assert r.returncode != 0 and "--confidence" in r.stderr


# -------------------------------------------------------------- bad input

def test_bad_input_writes_nothing(hne_run, tmp_path):
    out = tmp_path / "out"
    cases = [
        (dict(model_dir=str(tmp_path / "missing")), "does not exist"),
        (dict(precisions=("float32", "int4")), "unknown precision"),
        (dict(prefixes=[1, 32]), "outside \\[1, 16\\]"),
        (dict(members=[16]), "outside \\[0, 15\\]"),
    ]
    for overrides, message in cases:
        config = ExportConfig(**{"model_dir": str(hne_run), "out_dir": str(out), **overrides})
        with pytest.raises(ExportError, match=message):
            run_export(config, log=lambda *_: None)
        assert not out.exists()
        assert not [p for p in os.listdir(tmp_path) if p.startswith("out.")]

    incomplete = tmp_path / "incomplete"
    shutil.copytree(hne_run, incomplete)
    shutil.rmtree(incomplete / "checkpoints")
    with pytest.raises(ExportError, match="holds no checkpoint"):
        run_export(ExportConfig(model_dir=str(incomplete), out_dir=str(out)), log=lambda *_: None)
    mismatched = tmp_path / "mismatched"
    shutil.copytree(hne_run, mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    (mismatched / "config.json").write_text(json.dumps({**config, "model_options": {"width": 0.5}}))
    with pytest.raises(ExportError, match="does not match"):
        run_export(ExportConfig(model_dir=str(mismatched), out_dir=str(out)), log=lambda *_: None)
    assert not out.exists()


def test_existing_out_dir_needs_overwrite(hne_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="--overwrite"):
        run_export(ExportConfig(model_dir=str(hne_run), out_dir=str(out)), log=lambda *_: None)
    assert (out / "keep.txt").read_text() == "mine"


def test_cli_bad_input_exits_nonzero(hne_run, tmp_path):
    out = tmp_path / "out"
    # One process per case costs seconds; the other cases are checked in-process above.
    for flag, message in [("--prefixes=one", "comma list of integers"),
                          ("--precisions=float32,int4", "unknown precision"),
                          ("--batch_sizes=1,64", "--batch_sizes must be at least 2")]:
        r = subprocess.run([sys.executable, "-m", "hne_tf.export", f"--model_dir={hne_run}", f"--out_dir={out}", flag],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode != 0 and message in r.stderr, (flag, r.stderr[-1500:])
        assert "cuInit" not in r.stderr and "InitializeLog" not in r.stderr, r.stderr[-1500:]
        assert not out.exists()


def test_batched_files_match_the_batch_1_file_and_are_timed_per_image(hne_run, hne_model, tmp_path):
    """--batch_sizes: the full ensemble at a static batch, in every precision, beside the batch-1 files."""
    n = hne_model.num_leaves
    lines = []
    manifest = _export(hne_run, tmp_path / "out", log=lines.append, prefixes=[n], precisions=("float32", "int8"),
                       anytime=False, batch_sizes=[4], eval_examples=30, latency_runs=3)
    batched = {f["precision"]: f for f in manifest["files"] if f["kind"] == "batched"}
    assert sorted(batched) == ["float32", "int8"]
    x, y = _images(30)  # 30 = 7 batches of 4 and a short one, padded by the Runner
    for precision, entry in batched.items():
        assert entry["file"] == f"batched_k{n:02d}_b4_{precision}.tflite" and entry["batch"] == 4 and entry["k"] == n
        single = next(f for f in manifest["files"] if f["kind"] == "prefix" and f["precision"] == precision)
        assert entry["macs"] == single["macs"]
        path = str(tmp_path / "out" / entry["file"])
        interpreter = rt.load_interpreter(path, num_threads=1)
        (detail,) = interpreter.get_signature_runner(conv.DEFAULT_SIGNATURE).get_input_details().values()
        assert list(detail["shape"]) == [4, *hne_model.image_shape]
        got = rt.Runner(interpreter, conv.DEFAULT_SIGNATURE)(input=x)["logits"]
        want = rt.Runner(rt.load_interpreter(str(tmp_path / "out" / single["file"]), num_threads=1),
                         conv.DEFAULT_SIGNATURE)(input=x)["logits"]
        assert got.shape == want.shape == (30, n, hne_model.num_classes)
        scale = max(1.0, float(np.abs(want).max()))
        # float32: the same graph, batched; int8: the same quantized graph (calibrated on the same images).
        assert np.abs(got - want).max() <= (1e-5 if precision == "float32" else 0.05) * scale, precision
        assert entry["accuracy"] == pytest.approx(single["accuracy"], abs=1 / 30 + 1e-9)
        best = min(entry["latency_ms_by_threads"].values())
        assert entry["latency_ms_per_image"] == pytest.approx(best / 4, abs=1e-4)
    keras = hne_model.prefix(n)(x, training=False).numpy()
    runner = rt.Runner(rt.load_interpreter(str(tmp_path / "out" / batched["float32"]["file"])), conv.DEFAULT_SIGNATURE)
    assert np.abs(runner(input=x)["logits"] - keras).max() <= 1e-5 * max(1, np.abs(keras).max())
    parity = {p["file"]: p for p in manifest["checks"]["parity"]["results"]}
    assert parity[batched["float32"]["file"]]["passed"]
    assert not any(r["kind"] == "batched" for r in manifest["checks"]["accuracy_drops"])
    per_image = [line for line in lines if line.startswith("batched_k")]
    assert len(per_image) == 2 and "ms per image at batch 4 against" in per_image[0], lines


def test_batch_tradeoffs_by_hand():
    from hne_tf.export.exporter import batch_tradeoffs

    files = [{"kind": "prefix", "k": 4, "precision": "float32", "file": "p.tflite", "latency_ms": 1.0,
              "latency_ms_by_threads": {"1": 1.0, "2": 0.8}},
             {"kind": "batched", "k": 4, "batch": 8, "precision": "float32", "file": "b8.tflite", "latency_ms": 4.0,
              "latency_ms_by_threads": {"1": 4.8, "2": 4.0}},   # 4.0 / 8 = 0.5 ms, 0.5 / 0.8 = 0.625
             {"kind": "batched", "k": 4, "batch": 16, "precision": "float32", "file": "b16.tflite",
              "latency_ms": 16.0, "latency_ms_by_threads": {"1": 16.0, "2": 17.0}},  # 1.0 / 0.8 = 1.25
             {"kind": "batched", "k": 4, "batch": 2, "precision": "int8", "file": "i.tflite", "latency_ms": 1.0}]
    lines = batch_tradeoffs(files)
    assert lines == [
        "b8.tflite: 0.500 ms per image at batch 8 against 0.800 ms for p.tflite at batch 1 (0.62x, each at its faster "
        "thread count): cheaper per image here",
        "b16.tflite: 1.000 ms per image at batch 16 against 0.800 ms for p.tflite at batch 1 (1.25x, each at its "
        "faster thread count): dearer per image here: score images one at a time (a process per core) on this host"]


def test_failed_check_publishes_nothing(one_run, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="anytime size"):
        _export(one_run, out, precisions=("float32",), prefixes=[3], max_anytime_size_ratio=1.0)
    assert not out.exists()
    assert (tmp_path / "out.rejected" / "manifest.json").exists()


# ------------------------------------------------------- other families

def test_one_exports_its_branches_and_ensemble(one_export):
    run_dir, out, manifest, _ = one_export  # the session's ONE export (float32 + int8, default prefixes)
    assert manifest["checks"]["parity"]["passed"]
    assert [f["k"] for f in mf.files_of(manifest, "prefix", "float32")] == [1, 2, 3]
    assert [s["reads"] for s in manifest["anytime"]["steps"]] == ["input", "block1", "block1"]
    model = load_trained(str(run_dir))
    x, _ = _images(16)
    first = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / "prefix_k01_float32.tflite")),
                                     "serving_default"), x)
    np.testing.assert_allclose(first[:, 0], model.member_logits(x, 0).numpy(), atol=1e-4)


def test_oemc_exports_each_student_alone(tmp_path):
    run_dir = _train(tmp_path / "oemc", "oemc_resnet_tiny", "oemc", 5)
    out = tmp_path / "oemc_out"
    manifest = _export(run_dir, out, precisions=("float32",), prefixes=[3], max_anytime_size_ratio=3.0)
    assert manifest["checks"]["parity"]["passed"]
    members = mf.files_of(manifest, "member")
    assert [f["leaf"] for f in members] == [0, 1, 2]
    macs = [f["macs"] for f in members]
    assert macs[0] > macs[1] > macs[2]  # students of decreasing width
    model = load_trained(str(run_dir))
    x, _ = _images(16)
    for f in members:
        got = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / f["file"])), "serving_default"), x)
        np.testing.assert_allclose(got, model.member_logits(x, f["leaf"]).numpy(), atol=1e-4)


def test_ensemblenet_exports_score_the_mean_of_probabilities(tmp_path):
    """Issue 19: EnsembleNet's ensemble is the mean of its heads' probabilities (its eq. 2) in eval.json, in
    the manifest, in the prefix files' accuracies, in the host runner and in the decision fixture."""
    from hne_tf.ensemble import ensemble_logits, prefix_ensembles, softmax
    from hne_tf.export import fixture as fx
    from hne_tf.export.anytime import AnytimeEngine, StoppingRule, replay

    run_dir = _train(tmp_path / "enet", "ensemblenet_resnet_tiny", "ensemblenet_codistillation", 5)
    assert json.loads((run_dir / "eval.json").read_text())["ensemble_rule"] == "mean_probs"
    out = tmp_path / "enet_out"
    manifest = _export(run_dir, out, precisions=("float32",), eval_examples=128, max_anytime_size_ratio=3.0,
                       latency_runs=3)
    assert manifest["ensemble"]["combine"] == "mean_probs" and manifest["checks"]["parity"]["passed"]
    model = load_trained(str(run_dir))
    x, y = _images(128)
    keras_leaves = model.prefix(2)(x, training=False).numpy()
    for f in mf.files_of(manifest, "prefix"):
        k = f["k"]
        leaves = rt.run_batched(rt.Runner(rt.load_interpreter(str(out / f["file"])), "serving_default"), x)
        np.testing.assert_allclose(leaves, keras_leaves[:, :k], atol=1e-4)  # the file: per-leaf logits
        # Under the rule: log of the mean probability; its softmax is the mean of the heads' softmax.
        got, want = ensemble_logits(leaves, k, "mean_probs"), ensemble_logits(keras_leaves, k, "mean_probs")
        np.testing.assert_allclose(softmax(got), softmax(keras_leaves[:, :k]).mean(axis=1), atol=1e-5)
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert f["accuracy"] == pytest.approx(np.mean(np.argmax(got, -1) == y))
    anytime = mf.anytime_file(manifest, "float32")
    want_acc = [np.mean(np.argmax(r, -1) == y) for r in np.moveaxis(prefix_ensembles(keras_leaves, "mean_probs"),
                                                                      1, 0)]
    assert anytime["accuracy_by_leaves"] == pytest.approx(want_acc, abs=1.5 / len(y))  # a tie may flip
    engine = AnytimeEngine(str(out / "manifest.json"))
    assert engine.rule == "mean_probs"
    result = engine.classify(x[0], StoppingRule("leaves", 2))
    np.testing.assert_allclose(result.probabilities, softmax(keras_leaves[0]).mean(axis=0), atol=1e-5)
    trace = engine.trace(x[:8])
    decided = replay(trace, StoppingRule("leaves", 2), [0.0, 0.0], engine.rule)
    np.testing.assert_array_equal(decided["prediction"], np.argmax(softmax(trace["logits"]).mean(axis=1), -1))
    fixture = fx.build(str(out / "manifest.json"), num_images=4)
    assert fixture["combine"] == "mean_probs"
    np.testing.assert_allclose(np.exp(fixture["running_mean"])[:, 1], softmax(np.asarray(
        fixture["leaf_logits"])).mean(axis=1), atol=1e-6)


def test_manifest_validation_knows_the_ensemble_rules(hne_export):
    _, manifest = hne_export
    assert manifest["ensemble"]["combine"] == "mean_logits"
    for combine, ok in [("mean_probs", True), ("vote", False), (3, False)]:
        m = copy.deepcopy(manifest)
        m["ensemble"]["combine"] = combine
        if ok:
            mf.validate(m, check_files=False)
        else:
            with pytest.raises(mf.ManifestError, match="ensemble.combine"):
                mf.validate(m, check_files=False)
    m = copy.deepcopy(manifest)
    del m["ensemble"]
    with pytest.raises(mf.ManifestError, match="ensemble: missing"):
        mf.validate(m, check_files=False)
