"""The browser demo (web_demo/): JS unit tests, the decision-fixture replay, and
an end-to-end run of the page in headless Chromium against ai_edge_litert.

Needs Node, web_demo/node_modules (``npm ci``) and Chromium; all come from
``bash scripts/setup.sh``. Missing tools fail these tests, they do not skip.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest
from kit import ROOT

WEB = os.path.join(ROOT, "web_demo")
CHROMES = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
NUM_SAMPLES = 3  # images run through all leaves in the browser
# LiteRT.js writes its own log lines ("INFO: [environment.cc:36] ...") to console.error.
LITERT_LOG = ("INFO: ", "WARNING: ", "VERBOSE: ")


# One pytest-xdist worker runs this module: its module fixtures are costly to build twice.
pytestmark = pytest.mark.xdist_group("test_web_demo")


def _tools():
    """Node, the npm packages and Chromium, or a failure saying how to install them."""
    missing = []
    node = shutil.which("node")
    if node is None:
        missing.append("node")
    for package in ("@litertjs/core/dist/index.js", "puppeteer-core/package.json"):
        if not os.path.exists(os.path.join(WEB, "node_modules", package)):
            missing.append(f"web_demo/node_modules/{package.split('/dist')[0].replace('/package.json', '')}")
    chrome = os.environ.get("CHROME") or next((c for c in CHROMES if os.path.exists(c)), None)
    if chrome is None:
        missing.append("chromium-headless-shell (or chromium)")
    if missing:
        pytest.fail(f"web demo tools missing: {', '.join(missing)}; run `bash scripts/setup.sh`", pytrace=False)
    return node, chrome


def _serve_module():
    spec = importlib.util.spec_from_file_location("web_demo_serve", os.path.join(WEB, "serve.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Server:
    def __init__(self, export_dir, samples_dir):
        self.httpd = _serve_module().make_server(str(export_dir), str(samples_dir), port=0)
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{host}:{port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _drive(command, timeout=120):
    node, chrome = _tools()
    env = dict(os.environ, CHROME=chrome)
    proc = subprocess.run([node, os.path.join(WEB, "drive.mjs"), json.dumps(command)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=WEB)
    assert proc.returncode == 0, f"drive.mjs failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def _real_console_errors(errors, allow=()):
    return [e for e in errors if not e.startswith(LITERT_LOG) and not any(a in e for a in allow)]


def test_node_unit_tests_and_fixture_replay(demo_assets):
    """`node --test` on the engine and tflite_batch, with the Python engine's decision fixture and the export."""
    node, _ = _tools()
    env = dict(os.environ, HNE_DECISION_FIXTURE=str(demo_assets["fixture_path"]),
               HNE_EXPORT_DIR=str(demo_assets["export"]))
    proc = subprocess.run([node, "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=60, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    summary = dict(line[2:].split(" ", 1) for line in out.splitlines() if line.startswith("# ") and
                   line[2:].split(" ", 1)[0] in ("tests", "pass", "fail", "skipped") and len(line.split()) == 3)
    assert summary["fail"] == "0" and summary["skipped"] == "0", summary  # the replay and the file check ran
    assert int(summary["pass"]) == int(summary["tests"]) >= 15, summary
    fixture = demo_assets["fixture"]
    assert f"fixture: {fixture['num_images']} images x {fixture['num_steps']} steps, {len(fixture['cases'])} " \
           "rules, identical decisions" in out


def test_fixture_cross_check_tampered_decision_fails(demo_assets, tmp_path):
    """The replay test can fail: one recorded decision changed makes `node --test` fail on it."""
    node, _ = _tools()
    fixture = json.loads(json.dumps(demo_assets["fixture"]))
    case = next(c for c in fixture["cases"] if c["rule"] == "confidence")
    case["steps"][3] += 1 if case["steps"][3] < fixture["num_steps"] else -1
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture))
    proc = subprocess.run([node, "--test", "test/engine.test.js"], cwd=WEB, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, HNE_DECISION_FIXTURE=str(path)))
    assert proc.returncode != 0
    assert "image 3: steps" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def page_run(demo_assets, tmp_path_factory):
    """The page served on 127.0.0.1, run through all leaves on a few samples in headless Chromium."""
    _tools()
    server = _Server(demo_assets["export"], demo_assets["samples"])
    shot = tmp_path_factory.mktemp("web") / "page.png"
    with open(os.path.join(demo_assets["samples"], "samples.json")) as f:
        files = [s["file"] for s in json.load(f)["samples"][:NUM_SAMPLES]]
    try:
        out = _drive({"url": server.url + "?accelerator=wasm", "mode": "run", "samples": files,
                      "confidence": 0.6, "screenshot": str(shot)})
    finally:
        server.close()
    return out, shot


def _python_steps(demo_assets, files):
    from PIL import Image

    from hne_tf.export import runtime as rt
    from hne_tf.export.samples import preprocess

    manifest = demo_assets["manifest"]
    interpreter = rt.load_interpreter(os.path.join(demo_assets["export"], "anytime_float32.tflite"), num_threads=1)
    steps = rt.Steps(interpreter, manifest["anytime"]["steps"])
    logits = {}
    for name in files:
        pixels = np.asarray(Image.open(os.path.join(demo_assets["samples"], name)))
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        logits[name] = steps.run(preprocess(manifest, pixels)[None])[0]
    return logits


def test_page_leaf_logits_match_ai_edge_litert(page_run, demo_assets):
    out, _ = page_run
    assert out["ready"], out["shown"]
    assert out["pageErrors"] == []
    assert _real_console_errors(out["consoleErrors"]) == []
    reference = _python_steps(demo_assets, [r["file"] for r in out["results"]])
    assert len(reference) == NUM_SAMPLES
    n = demo_assets["manifest"]["num_leaves"]
    labels = demo_assets["manifest"]["labels"]
    for r in out["results"]:
        page = np.asarray(r["lastRun"]["leafLogits"], np.float64)
        ref = reference[r["file"]]
        assert page.shape == ref.shape == (n, len(labels))
        assert np.abs(page - ref).max() <= 1e-4, (r["file"], np.abs(page - ref).max())
        # What the page shows is the engine's answer, and Python's.
        python_top1 = int(np.argmax(ref.mean(axis=0)))
        assert r["lastRun"]["steps"] == n and r["shown"]["leaves"] == str(n)
        assert r["lastRun"]["prediction"] == python_top1
        assert r["shown"]["top1"] == labels[python_top1] == r["lastRun"]["predictionName"]
        assert r["shown"]["status"].startswith(f"done: {n} leaves")


def test_page_confidence_rule_stops_where_python_does(page_run, demo_assets):
    from hne_tf.export.anytime import StoppingRule, replay

    out, _ = page_run
    run = out["confidenceRun"]["lastRun"]
    logits = _python_steps(demo_assets, [run["image"]])[run["image"]]
    decided = replay({"logits": logits[None], "step_ms": np.zeros((1, len(logits)))}, StoppingRule("confidence", 0.6),
                     [0.0] * len(logits))
    assert run["steps"] == int(decided["steps"][0])
    assert out["confidenceRun"]["shown"]["leaves"] == str(run["steps"])
    assert run["prediction"] == int(decided["prediction"][0])


def test_page_screenshot_is_not_blank(page_run):
    from PIL import Image

    _, shot = page_run
    image = np.asarray(Image.open(shot).convert("RGB"), np.int64)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 20
    colors = (image[..., 0] << 16) | (image[..., 1] << 8) | image[..., 2]
    assert len(np.unique(colors)) > 50


def _bad_exports(demo_assets, root):
    """Folders under ``root``, each wrong in one way."""
    src = demo_assets["export"]
    manifest = demo_assets["manifest"]
    entry = next(f for f in manifest["files"] if f["kind"] == "anytime" and f["precision"] == "float32")

    def folder(name, edit=None, data=None):
        d = root / name
        d.mkdir()
        m = json.loads(json.dumps(manifest))
        if edit:
            edit(m)
        (d / "manifest.json").write_text(json.dumps(m))
        model = (src / entry["file"]).read_bytes()
        (d / entry["file"]).write_bytes(data(model) if data else model)
        return d

    (root / "missing").mkdir()
    folder("malformed")
    (root / "malformed" / "manifest.json").write_text('{"format": "hne-tf-manifest", "version": ')
    folder("version", lambda m: m.update(version=7))
    folder("sha", data=lambda b: b[:-1] + bytes([b[-1] ^ 0xFF]))
    folder("size", data=lambda b: b[:-100])
    folder("notimage", lambda m: m["input"].update(shape=[-1, 784]))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)


def test_page_bad_input_shows_clear_messages(demo_assets, tmp_path):
    _tools()
    _bad_exports(demo_assets, tmp_path)
    server = _Server(tmp_path, demo_assets["samples"])
    cases = [
        {"name": "missing", "query": "?export=export/missing/"},
        {"name": "malformed", "query": "?export=export/malformed/"},
        {"name": "version", "query": "?export=export/version/"},
        {"name": "sha", "query": "?export=export/sha/&accelerator=wasm"},
        {"name": "size", "query": "?export=export/size/&accelerator=wasm"},
        {"name": "notimage", "query": "?export=export/notimage/"},
    ]
    try:
        out = _drive({"url": server.url, "mode": "bad", "cases": cases})
    finally:
        server.close()
    good = _Server(demo_assets["export"], demo_assets["samples"])
    try:
        upload = _drive({"url": good.url, "mode": "bad", "cases": [
            {"name": "undecodable", "query": "?accelerator=wasm", "upload": str(tmp_path / "broken.png")}]})
    finally:
        good.close()
    expected = {
        "missing": "manifest: export/missing/manifest.json is missing (HTTP 404)",
        "malformed": "is not valid JSON",
        "version": "this page understands version 1, got 7",
        "sha": "does not match the manifest's",
        "size": "bytes, the manifest says",
        "notimage": "the model's input must be an image",
        "undecodable": "broken.png: this file could not be decoded as an image",
    }
    results = out["results"] + upload["results"]
    assert [r["name"] for r in results] == list(expected)
    for r in results:
        assert r["visible"], r
        assert expected[r["name"]] in (r["error"] or ""), r
        assert not r["error"].startswith("Unexpected error"), r
        assert r["pageErrors"] == [], r
        assert _real_console_errors(r["consoleErrors"], allow=("Failed to load resource",)) == [], r
    assert next(r for r in results if r["name"] == "undecodable")["ready"]  # the page itself loaded fine
