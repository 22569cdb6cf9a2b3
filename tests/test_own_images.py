"""Your own images, end to end: a folder of 3 classes of RGB JPEG and PNG images at two sizes, written
here, trained a few steps by train.py, exported by ``python3 -m export`` and run by the host runner
(``python3 -m export.anytime``); the label names and the input spec travel from the folder to eval.json,
the manifest and the runner; the web page (headless Chromium) loads that export, classifies an upload of
another size as the manifest's input_spec says and shows the folder's label names; a resume on changed
data is refused in one line."""

import json
import os
import re
import shutil
import subprocess
import threading

import numpy as np
import pytest
from kit import ROOT, run_cli, write_image, write_image_folder

pytestmark = pytest.mark.xdist_group("own_images")

# 4 leaves: the export traces and converts a quarter of the 16-leaf tree's graphs.
MODEL = ["--model=hne_resnet_tiny", '--model_options={"branching": [1, 2, 2, 1, 1]}']


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    photos = write_image_folder(base / "photos", classes=("apple", "banana", "cherry"),
                                splits=(("train", 12), ("val", 4)), sizes=((40, 30), (24, 24)), formats=("jpg", "png"))
    run = base / "run"
    r = run_cli("train.py", f"--dataset=folder:{photos}", *MODEL, "--epochs=1", "--steps_per_epoch=4",
                "--batch_size=12", "--lr=0.05", f"--model_dir={run}")
    assert r.returncode == 0, r.stderr[-3000:]
    return photos, run, r.stdout


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    _, run, _ = trained
    out = tmp_path_factory.mktemp("own_export") / "export"
    # int8 with the default --calibration_images (256): a small folder calibrates on all its training images.
    r = run_cli("export", f"--model_dir={run}", f"--out_dir={out}", "--precisions=float32,int8", "--prefixes=1",
                "--eval_examples=12", "--parity_examples=4", "--latency_runs=2", "--max_anytime_size_ratio=3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"calibrating on all \d+ training images of folder:\S+ \(fewer than --calibration_images=256\)",
                     r.stdout + r.stderr), (r.stdout + r.stderr)[-3000:]
    return out


def test_folder_trains_exports_and_runs_with_its_label_names(trained, exported, tmp_path):
    photos, run, stdout = trained
    assert "read 48 images of folder:" in stdout and "3 classes, input 32x32x3 (rgb, stretch)" in stdout
    result = json.loads((run / "eval.json").read_text())
    record = json.loads((run / "dataset.json").read_text())
    assert result["labels"] == record["labels"] == ["apple", "banana", "cherry"]
    assert result["dataset"] == f"folder:{photos}" and result["num_examples"] == 12
    spec = result["input_spec"]
    assert spec == record["input_spec"] and spec["size"] == [32, 32] and spec["channels"] == 3
    assert spec["resize"]["rule"] == "stretch" and len(spec["normalization"]["mean"]) == 3

    out = exported
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == ["apple", "banana", "cherry"] and manifest["model"]["num_classes"] == 3
    norm = manifest["input"]["normalization"]
    assert norm["mean"] == spec["normalization"]["mean"] and norm["std"] == spec["normalization"]["std"]
    assert manifest["input"]["shape"] == [1, 32, 32, 3] and manifest["evaluation"]["num_examples"] == 12
    assert manifest["input_spec"] == spec  # how the page and the app preprocess an upload

    r = run_cli("export.anytime", f"--manifest={out / 'manifest.json'}", "--rule=leaves", "--leaves=2",
                "--num_images=6", f"--output={tmp_path / 'anytime'}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "running 6 test images live under 'leaves 2 leaves'" in r.stdout
    assert "3 classes (the manifest's labels): apple, banana, cherry" in r.stdout
    assert r.stdout.count("predicted: ") == 1 and any(n in r.stdout for n in ("apple ", "banana ", "cherry "))
    row = json.loads((tmp_path / "anytime.json").read_text())["points"][0]
    assert row["mean_leaves"] == 2.0 and 0.0 <= row["accuracy"] <= 1.0


def test_the_page_classifies_an_upload_of_another_size_with_the_folder_labels(exported, tmp_path):
    """The browser half: web_demo/ served by serve.py, driven by puppeteer-core: the page loads the folder's
    export, takes a 50x37 PNG through "Choose image…", makes the model input Python's InputSpec makes of it
    (stretched to 32x32, RGB), runs every leaf and shows the folder's label names. Screenshot: tmp_path."""
    import importlib.util

    import tensorflow as tf

    from hne_tf.datasets.base import InputSpec
    from hne_tf.export.samples import preprocess

    web = os.path.join(ROOT, "web_demo")
    spec = importlib.util.spec_from_file_location("web_demo_serve_own", os.path.join(web, "serve.py"))
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    chrome = os.environ.get("CHROME") or next(
        (c for c in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if os.path.exists(c)), None)
    if chrome is None or shutil.which("node") is None or not os.path.isdir(os.path.join(web, "node_modules")):
        pytest.fail("the page test needs node, web_demo/node_modules and Chromium: run `bash scripts/setup.sh`")
    manifest = json.loads((exported / "manifest.json").read_text())
    rng = np.random.default_rng(3)
    upload = tmp_path / "banana_50x37.png"  # PNG: the browser decodes exactly the pixels TensorFlow does
    pixels = np.clip(np.array([230, 200, 40]) + rng.normal(0, 25, (37, 50, 3)), 0, 255).astype(np.uint8)
    write_image(upload, pixels)
    shot = tmp_path / "own_images_page.png"

    httpd = serve.make_server(str(exported), None, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        command = {"url": f"http://127.0.0.1:{httpd.server_address[1]}/",
                   "modes": [{"mode": "upload", "file": str(upload), "screenshot": str(shot)}]}
        proc = subprocess.run(["node", os.path.join(web, "drive.mjs"), json.dumps(command)], capture_output=True,
                              text=True, timeout=240, cwd=web, env=dict(os.environ, CHROME=chrome))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)["results"]["upload"]
    assert out["ready"] and out["pageErrors"] == [], out
    labels = ["apple", "banana", "cherry"]
    assert out["labels"] == labels and out["run"]["steps"] == manifest["num_leaves"]
    assert out["shown"]["top1"] in labels and sorted(out["top3"]) == labels, out["shown"]
    assert out["shown"]["imageInfo"].startswith("banana_50x37.png: 50×37, stretched to 32×32"), out["shown"]
    assert "3 classes" in out["shown"]["facts"] and "apple, banana, cherry" in out["shown"]["facts"]
    assert "any image stretched, RGB" in out["shown"]["facts"]
    want = preprocess(manifest, InputSpec.from_json(manifest["input_spec"]).pixels(tf.constant(pixels)).numpy())
    np.testing.assert_array_equal(np.asarray(out["input"], np.float32), want.reshape(-1))
    assert shot.stat().st_size > 10_000


def test_a_resume_on_changed_classes_is_refused(trained, tmp_path):
    photos, run, _ = trained
    changed = shutil.copytree(photos, tmp_path / "photos")
    shutil.copytree(run, tmp_path / "run")
    for part in ("config.json", "dataset.json"):  # the copy's run names the copied folder
        path = tmp_path / "run" / part
        path.write_text(path.read_text().replace(str(photos), str(changed)))
    for split in ("train", "val"):
        shutil.copytree(changed / split / "cherry", changed / split / "date")
    r = run_cli("train.py", f"--dataset=folder:{changed}", *MODEL, "--epochs=2", "--steps_per_epoch=4",
                "--batch_size=12", f"--model_dir={tmp_path / 'run'}")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert ("train.py: error: --model_dir holds a run trained on 3 classes, but the data now has 4 (new: date); "
            "use a new --model_dir, or restore the data's classes") in r.stderr
