"""The Android demo's plain-Java engine, built and tested here, and its asset script.

The JUnit tests (android_demo/engine/src/test) replay the decision fixture that the ``demo_assets``
fixture exports from a tiny model: the Java engine must take the Python engine's decisions.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from kit import ROOT

from hne_tf.export import manifest as mf
from hne_tf.export.samples import SAMPLES_FILE, manifest_test_images, preprocess

ENGINE_SCRIPT = os.path.join(ROOT, "android_demo", "engine", "run_tests.sh")
JUNIT_JAR = "/usr/share/java/junit-platform-console-standalone.jar"
JSON_JARS = ("/usr/share/java/com.android.json.jar", "/usr/share/java/android-json.jar")


def _require_jvm_stack():
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    if not os.path.exists(JUNIT_JAR):
        missing.append(f"JUnit 5 ({JUNIT_JAR})")
    if not any(os.path.exists(j) for j in JSON_JARS):
        missing.append(f"org.json ({JSON_JARS[0]})")
    if missing:
        pytest.fail(f"the Android engine tests need {', '.join(missing)}: run `bash scripts/setup.sh`")


def _python_preprocessed(demo_assets, path):
    """The Python preprocessing of every sample PNG, for the Java side to match."""
    import tensorflow as tf

    with open(demo_assets["samples"] / SAMPLES_FILE) as f:
        samples = json.load(f)["samples"]
    out = {}
    for s in samples:
        pixels = tf.io.decode_png(tf.io.read_file(str(demo_assets["samples"] / s["file"]))).numpy()
        out[s["file"]] = preprocess(demo_assets["manifest"], pixels).reshape(-1).astype(float).tolist()
    with open(path, "w") as f:
        json.dump(out, f)


def test_java_engine_replays_the_python_decisions(demo_assets, tmp_path):
    _require_jvm_stack()
    preprocessed = tmp_path / "preprocessed.json"
    _python_preprocessed(demo_assets, preprocessed)
    assets = tmp_path / "assets"  # what the app bundles: every precision, for the session test
    _fill_assets_module().fill(str(demo_assets["export"]), "all", str(assets), num=4)
    cmd = ["bash", ENGINE_SCRIPT, f"--fixture={demo_assets['fixture_path']}",
           f"--manifest={demo_assets['export'] / 'manifest.json'}", f"--samples={demo_assets['samples']}",
           f"--preprocessed={preprocessed}", f"--assets={assets}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "BUILD_DIR": str(tmp_path / "build"),
                               "HNETF_PREPROCESS_VECTORS": os.path.join(ROOT, "tests", "data",
                                                                        "preprocess_vectors.json"),
                               "HNETF_MANIFEST_VECTORS": os.path.join(ROOT, "tests", "data",
                                                                      "manifest_vectors.json"),
                               "HNETF_THREAD_CHOICE_VECTORS": os.path.join(ROOT, "tests", "data",
                                                                           "thread_choice_vectors.json")})
    out = proc.stdout + proc.stderr
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert proc.returncode == 0, out[-6000:]
    assert summary, out[-3000:]
    passed, failed = map(int, summary[-1])
    assert failed == 0 and passed > 0, out[-3000:]
    # The cross-check and the session test ran (they are skipped only without their inputs) ...
    assert re.search(r"^\(0 skipped, 0 aborted", out, re.M), out[-3000:]
    for name in ("liveEngineTakesThePythonDecisions", "replayTakesThePythonDecisions",
                 "runningMeanMatchesWithin1e5", "samplePngsPreprocessLikePython",
                 "fillAssetsOutputLoadsChecksCalibratesAndSwitchesPrecision", "preprocessVectorsMatchPython",
                 "manifestVectorsGiveTheirVerdicts", "exportedManifestMeetsTheContract",
                 "threadChoiceVectorsGiveTheirVerdicts"):
        assert re.search(rf"{name}\(\) ✔", out), f"{name} did not pass:\n{out[-3000:]}"
    # ... on a fixture with every rule kind, exported from the tiny model by the test kit.
    assert {c["rule"] for c in demo_assets["fixture"]["cases"]} == {"leaves", "confidence", "deadline"}


def test_engine_script_reports_a_missing_stack(tmp_path):
    env = {**os.environ, "JUNIT_JAR": str(tmp_path / "absent.jar")}
    proc = subprocess.run(["bash", ENGINE_SCRIPT], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 3
    assert "run 'bash scripts/setup.sh'" in proc.stderr and "absent.jar" in proc.stderr


def _jdk_major(home):
    """The feature version of the JDK at ``home`` (its ``release`` file), or 0."""
    try:
        with open(os.path.join(home, "release")) as f:
            found = re.search(r'^JAVA_VERSION="(\d+)', f.read(), re.M)
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


def _default_jdk_home():
    """The JDK run_tests.sh picks when the caller sets none: $JAVA_HOME, else the one of ``javac`` on PATH."""
    if os.environ.get("JAVA_HOME"):
        return os.path.realpath(os.environ["JAVA_HOME"])
    javac = shutil.which("javac")
    return os.path.dirname(os.path.dirname(os.path.realpath(javac))) if javac else None


@pytest.mark.slow  # about 11 s a JDK; the default JDK builds and tests the engine in the default run
def test_engine_builds_and_passes_on_every_jdk_from_21(tmp_path):
    """JDK 21+ calls ``--release 8`` obsolete; under -Werror that warning once failed the build. The default
    JDK is left out: test_java_engine_replays_the_python_decisions builds and tests the engine on it."""
    _require_jvm_stack()
    root = "/usr/lib/jvm"
    homes = sorted({os.path.realpath(os.path.join(root, d)) for d in os.listdir(root)} if os.path.isdir(root) else [])
    homes = [h for h in homes if _jdk_major(h) >= 21 and os.path.exists(os.path.join(h, "bin", "javac"))
             and h != _default_jdk_home()]
    if not homes:
        pytest.skip(f"no JDK 21 or later under {root} besides the default one, which "
                    "test_java_engine_replays_the_python_decisions builds with -Werror")
    for home in homes:
        proc = subprocess.run(["bash", ENGINE_SCRIPT], capture_output=True, text=True, timeout=240,
                              env={**os.environ, "JAVA_HOME": home, "BUILD_DIR": str(tmp_path / "build")})
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{home}:\n{out[-4000:]}"
        assert f'javac {_jdk_major(home)}' in out and re.search(r"^[1-9]\d* passed, 0 failed$", out, re.M), out[-3000:]


def _fill_assets_module():
    spec = importlib.util.spec_from_file_location(
        "fill_assets", os.path.join(ROOT, "android_demo", "scripts", "fill_assets.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fill_assets_copies_the_export_and_writes_samples(demo_assets, tmp_path):
    import tensorflow as tf

    fill = _fill_assets_module()
    export_dir, manifest = demo_assets["export"], demo_assets["manifest"]
    out = tmp_path / "assets"
    listing = dict(fill.fill(str(export_dir), "float32", str(out)))
    anytime = mf.anytime_file(manifest, "float32")
    prefixes = mf.files_of(manifest, "prefix", "float32")
    want = {"manifest.json", fill.CONFIG_FILE, "samples/samples.json", anytime["file"]}
    want |= {f["file"] for f in prefixes}
    assert want <= set(listing)
    pngs = sorted(p for p in listing if p.endswith(".png"))
    assert len(pngs) == 12 and len(listing) == len(want) + 12  # no int8 file, nothing else
    for entry in [anytime] + prefixes:  # byte-identical copies
        assert mf.sha256(str(out / entry["file"])) == entry["sha256"]
    assert (out / "manifest.json").read_bytes() == (export_dir / "manifest.json").read_bytes()
    config = json.loads((out / fill.CONFIG_FILE).read_text())
    assert config["default"] == "float32" and list(config["precisions"]) == ["float32"]
    assert config["precisions"]["float32"] == {"anytime": anytime["file"],
                                               "prefixes": {str(f["k"]): f["file"] for f in prefixes}}
    samples = json.loads((out / "samples" / SAMPLES_FILE).read_text())["samples"]
    raw, labels = manifest_test_images(manifest, 12)
    for s in samples:
        png = tf.io.decode_png((out / "samples" / s["file"]).read_bytes()).numpy()
        np.testing.assert_array_equal(png, raw[s["index"]])
        assert s["label"] == labels[s["index"]]


def test_fill_assets_bundles_several_precisions_for_the_picker(demo_assets, tmp_path):
    fill = _fill_assets_module()
    export_dir, manifest = demo_assets["export"], demo_assets["manifest"]
    have = sorted({f["precision"] for f in mf.files_of(manifest, "anytime")})
    assert have == ["float32", "int8"]  # what the tiny export has
    for arg, order in (("int8,float32", ["int8", "float32"]), ("all", ["float32", "int8"])):
        out = tmp_path / arg.replace(",", "_")
        listing = dict(fill.fill(str(export_dir), arg, str(out), num=2))
        config = json.loads((out / fill.CONFIG_FILE).read_text())
        assert list(config["precisions"]) == order and config["default"] == order[0]
        for p in order:
            files = [mf.anytime_file(manifest, p)] + mf.files_of(manifest, "prefix", p)
            assert config["precisions"][p]["anytime"] == files[0]["file"]
            assert {f["file"] for f in files} <= set(listing)
    with pytest.raises(ValueError, match="names a precision twice"):
        fill.fill(str(export_dir), "int8,int8", str(tmp_path / "twice"))
    with pytest.raises(mf.ManifestError, match="no bfloat8 anytime file; it has: "):
        fill.fill(str(export_dir), "float32,bfloat8", str(tmp_path / "unknown"))


def test_fill_assets_bad_input_keeps_the_old_assets(demo_assets, tmp_path, capsys):
    fill = _fill_assets_module()
    out = tmp_path / "assets"
    out.mkdir()
    (out / "keep.txt").write_text("previous assets")
    export_dir = str(demo_assets["export"])
    assert fill.main([f"--export={export_dir}", "--precision=float16", f"--out={out}"]) == 1
    assert "error: the manifest has no float16 anytime file; it has: float32, int8" in capsys.readouterr().err
    assert fill.main([f"--export={tmp_path / 'nowhere'}", f"--out={out}"]) == 1
    assert "nowhere/manifest.json does not exist" in capsys.readouterr().err
    assert fill.main([f"--export={export_dir}", "--num=0", f"--out={out}"]) == 1
    assert "--num must be at least 1" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "previous assets" and os.listdir(out) == ["keep.txt"]
    assert not [p for p in os.listdir(tmp_path) if ".staging-" in p or ".old-" in p]
