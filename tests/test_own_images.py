"""Your own images, end to end: a folder of 3 classes of RGB JPEG and PNG images at two sizes, written
here, trained a few steps by train.py, exported by ``python3 -m export`` and run by the host runner
(``python3 -m export.anytime``); the label names and the input spec travel from the folder to eval.json,
the manifest and the runner; a resume on changed data is refused in one line. (The browser half of
this test is test_web_demo's.)"""

import json
import shutil

import pytest
from kit import run_cli, write_image_folder

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


def test_folder_trains_exports_and_runs_with_its_label_names(trained, tmp_path):
    photos, run, stdout = trained
    assert "read 48 images of folder:" in stdout and "3 classes, input 32x32x3 (rgb, stretch)" in stdout
    result = json.loads((run / "eval.json").read_text())
    record = json.loads((run / "dataset.json").read_text())
    assert result["labels"] == record["labels"] == ["apple", "banana", "cherry"]
    assert result["dataset"] == f"folder:{photos}" and result["num_examples"] == 12
    spec = result["input_spec"]
    assert spec == record["input_spec"] and spec["size"] == [32, 32] and spec["channels"] == 3
    assert spec["resize"]["rule"] == "stretch" and len(spec["normalization"]["mean"]) == 3

    out = tmp_path / "export"
    r = run_cli("export", f"--model_dir={run}", f"--out_dir={out}", "--precisions=float32", "--prefixes=1",
                "--eval_examples=12", "--parity_examples=4", "--latency_runs=2", "--max_anytime_size_ratio=3")
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == ["apple", "banana", "cherry"] and manifest["model"]["num_classes"] == 3
    norm = manifest["input"]["normalization"]
    assert norm["mean"] == spec["normalization"]["mean"] and norm["std"] == spec["normalization"]["std"]
    assert manifest["input"]["shape"] == [1, 32, 32, 3] and manifest["evaluation"]["num_examples"] == 12

    r = run_cli("export.anytime", f"--manifest={out / 'manifest.json'}", "--rule=leaves", "--leaves=2",
                "--num_images=6", f"--output={tmp_path / 'anytime'}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "running 6 test images live under 'leaves 2 leaves'" in r.stdout
    row = json.loads((tmp_path / "anytime.json").read_text())["points"][0]
    assert row["mean_leaves"] == 2.0 and 0.0 <= row["accuracy"] <= 1.0


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
