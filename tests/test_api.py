"""The Python API (hne_tf.api): a tf.data.Dataset of (image, label) -> input spec, batches, a trainer with a
loss by name, a saved run that load_trained and the export read; and examples/train_your_own.py, run whole."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from kit import run_cli

import hne_tf
from hne_tf import api, training


def _data(n, seed, size=(10, 12)):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.clip(np.where(y, 180, 60)[:, None, None, None] + rng.normal(0, 30, (n, *size, 3)), 0, 255)
    return x.astype(np.uint8), y


def test_input_spec_batches_trainer_and_saved_run(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data(64, 0)
    train = tf.data.Dataset.from_tensor_slices((x, y))
    spec = api.input_spec(train.batch(16))  # batched or not
    assert spec == api.input_spec(train) and spec.input_shape == (10, 12, 3) and spec.resize == "stretch"
    np.testing.assert_allclose(spec.mean, x.reshape(-1, 3).mean(0) / 255, atol=1e-5)
    np.testing.assert_allclose(spec.std, x.reshape(-1, 3).std(0) / 255, atol=1e-5)
    (xb, yb), = api.batches(train, spec, 64).take(1)
    np.testing.assert_allclose(xb.numpy(), (x / 255 - np.array(spec.mean)) / np.array(spec.std), atol=1e-4)
    assert yb.dtype == tf.int32
    # Floats in 0..255 (image_dataset_from_directory's) give the same spec; another size is resized.
    assert api.input_spec(train.map(lambda a, b: (tf.cast(a, tf.float32), b))) == spec
    assert api.input_spec(train, size=6).input_shape == (6, 6, 3)

    model = hne_tf.build_model("hne_resnet_tiny", spec.input_shape, 2, branching=[1, 2, 2, 1, 1])
    trainer = api.EnsembleTrainer(model, "hierarchical_distillation", loss_options={"alpha": 0.3})
    assert trainer.loss_name == "hierarchical_distillation"
    trainer.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    trainer.fit(api.batches(train, spec, 16, shuffle=True, augment=True), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="loss_options apply to a loss given by name"):
        api.EnsembleTrainer(model, trainer.loss_fn, loss_options={"alpha": 0.3})

    run = api.save_run(str(tmp_path / "run"), trainer, spec, ["dark", "light"], train=train,
                       test=tf.data.Dataset.from_tensor_slices(_data(20, 1)), epochs=1)
    with pytest.raises(ValueError, match="is not empty"):
        api.save_run(run, trainer, spec, ["dark", "light"], train=train, test=train)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss"] == "hierarchical_distillation" and config["dataset"].startswith("npz:")
    record = json.loads((tmp_path / "run" / "dataset.json").read_text())
    assert record["labels"] == ["dark", "light"] and record["input_spec"] == spec.to_json()
    assert record["splits"] == {"train": 64, "test": 20}
    loaded = training.load_trained(run)
    probe = xb.numpy()[:4]
    np.testing.assert_allclose(loaded(probe)["logits"].numpy(), model(probe)["logits"].numpy(), atol=1e-5)


def test_the_example_trains_saves_exports_and_classifies(tmp_path):
    r = run_cli("examples/train_your_own.py", f"--out={tmp_path}", "--epochs=1", "--branching=1,2,2,1,1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "exported 2 files to" in r.stdout and "labels ['red', 'green', 'blue']" in r.stdout
    assert "after 2 leaves" in r.stdout
    assert json.loads((tmp_path / "run_tflite" / "manifest.json").read_text())["model"]["loss"] == \
        "hierarchical_distillation"
