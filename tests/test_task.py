"""The training Task seam, plain ``fit`` with a ramp-up, and the out-of-memory message."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import hne_tf
from hne_tf import data as data_lib
from hne_tf import losses as losses_lib
from hne_tf import training


class ToyTask(training.Task):
    """Two classes told apart by the mean brightness of a 12x12 gray image, from memory."""

    def __init__(self, config):
        info = data_lib.DatasetInfo(name="toy", input_shape=(12, 12, 1), num_classes=2, labels=["dark", "bright"],
                                    mean=(0.5,), std=(0.3,), train_size=256, test_size=64,
                                    normalization="none", augmentation="none")
        super().__init__(config, info)
        self.inputs_asked = []

    def build_inputs(self, split, training=False):
        self.inputs_asked.append((split, training))
        n = {"train": 256, "test": 64}.get(split, 32)
        rng = np.random.default_rng({"train": 0, "test": 1}.get(split, 2))
        y = rng.integers(0, 2, n).astype("int32")
        x = (rng.normal(0.0, 0.3, (n, 12, 12, 1)) + np.where(y, 1.0, -1.0)[:, None, None, None]).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        return ds.shuffle(n, seed=0).repeat().batch(32, drop_remainder=True) if training else ds.batch(32)


def _config(tmp_path, **kw):
    return training.TrainConfig(model="hne_resnet_tiny", dataset="toy", loss="independent", epochs=2,
                                steps_per_epoch=8, lr=0.05, model_dir=str(tmp_path / "run"), **kw)


def test_a_task_of_ones_own_trains_through_the_seam(tmp_path):
    task = ToyTask(_config(tmp_path))
    result = training.run(task.config, log=lambda *_: None, task=task)
    assert ("train", True) in task.inputs_asked and ("test", False) in task.inputs_asked
    assert result["labels"] == ["dark", "bright"] and result["num_examples"] == 64
    assert result["prefixes"][-1]["accuracy"] > 0.9  # the toy problem is easy: the loop really trained
    saved = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert saved["dataset"] == "toy" and saved["epochs_trained"] == 2


def test_plain_fit_advances_the_ramp_up_clock():
    """EnsembleTrainer.fit without train.py's callbacks: the distillation weight must still ramp up."""
    model = hne_tf.build_model("hne_resnet_tiny", (12, 12, 1), 2)
    seen = []

    def loss(labels, outputs, distill_scale=1.0):
        seen.append(distill_scale)
        return losses_lib.get_loss("independent", model.family, model.num_leaves)(labels, outputs)

    trainer = training.EnsembleTrainer(model, loss, rampup_epochs=3)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)

    class Scale(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.scales = []

        def on_epoch_end(self, epoch, logs=None):
            self.scales.append(float(trainer._distill_scale()))

    x = np.zeros((8, 12, 12, 1), "float32")
    y = np.zeros((8,), "int32")
    scale = Scale()
    trainer.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[scale])
    assert float(trainer.epoch.numpy()) == 2.0
    expected = [losses_lib.sigmoid_rampup(float(e), 3.0) for e in range(3)]
    assert scale.scales == pytest.approx([float(v) for v in expected])
    assert scale.scales[0] < scale.scales[1] < scale.scales[2]


class _OutOfMemory(training.EnsembleTrainer):
    def train_step(self, data):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[2000000,28,28,8]")


class OomTask(ToyTask):
    def build_trainer(self, ensemble, loss_fn):
        return _OutOfMemory(ensemble, loss_fn)


def test_out_of_memory_is_one_line_and_a_new_folder_is_left_absent(tmp_path):
    task = OomTask(_config(tmp_path, batch_size=2000000))
    with pytest.raises(training.TrainingError) as e:
        training.run(task.config, log=lambda *_: None, task=task)
    assert "out of memory with --batch_size=2000000" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()
