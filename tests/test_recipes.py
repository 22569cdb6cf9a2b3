"""Paper-scale recipes (issue 11 section 4): each one starts training with its real settings.

Every recipe runs two steps in-process on TFDS mock data of its own data set
(tfds.testing.mock_data: random images at the real input size and class
count), with its real model, loss, hyperparameters, optimizer and schedule;
only epochs, steps, batch and evaluation size are cut down.
"""

import json

import pytest
import tensorflow_datasets as tfds
from kit import run_cli

from hne_tf import data as data_lib
from hne_tf import recipes, training

SHORT = dict(epochs=1, steps_per_epoch=2, batch_size=2, eval_examples=4, eval_batch_size=4)
# Over ~10 s each on 2 shared cores (224x224 ImageNet, or 110-layer nets): slow. So are three of the four
# HNE CIFAR recipes (15-27 s each), hne_small_cifar10 included: fashion_mnist_60min starts the same trainer, and
# test_dataset_tfds and test_data run other TFDS sets on mock data. ONE's
# and EnsembleNet's CIFAR-100 recipes (15-18 s each) too: their losses train in test_training_lib, and
# test_train_py_recipe_flag applies ONE's recipe through train.py.
SLOW = {"hne_mobilenetv2_imagenet", "hne_mobilenetv2_preprint_imagenet", "one_resnet110_cifar100",
        "oemc_resnet110_cifar100", "hne_cifar10", "hne_cifar100", "hne_small_cifar100",
        "one_resnet32_cifar100", "ensemblenet_mu3_cifar100", "hne_small_cifar10"}


def test_every_recipe_names_its_paper_and_valid_settings():
    assert len(recipes.RECIPES) == 11
    for name, r in recipes.RECIPES.items():
        assert r.paper and r.citation and r.summary and "\n" not in r.summary, name
        config = recipes.config(name)
        training.validate(config)  # every flag value in range, known model / loss / dataset
        assert config.model_dir == f"runs/{name}"
        assert "--recipe" not in recipes.command(name) and f"--model={config.model}" in recipes.command(name)
    # The settings, by hand.
    hne = recipes.config("hne_small_cifar100")
    assert (hne.model, hne.dataset, hne.epochs, hne.batch_size, hne.schedule, hne.lr, hne.weight_decay) == (
        "hne_resnet_small", "cifar100", 200, 128, "cosine", 0.1, 5e-4)
    assert hne.loss_options == {"alpha": 0.5, "temperature": 2.0}
    pre = recipes.config("hne_mobilenetv2_preprint_imagenet")
    assert (pre.epochs, pre.schedule, pre.batch_size, pre.weight_decay, pre.loss_options["alpha"]) == (
        150, "imagenet_halving", 450, 1e-5, 0.75)
    aaai = recipes.config("hne_mobilenetv2_imagenet")
    assert (aaai.epochs, aaai.schedule, aaai.batch_size, aaai.weight_decay) == (120, "cosine", 256, 1e-5)
    assert recipes.config("one_resnet110_cifar100").model_options == {"depth": 110}
    oemc = recipes.config("oemc_resnet110_cifar100")
    assert oemc.model_options == {"depth": 110, "num_students": 5} and oemc.epochs == 450 and oemc.nesterov
    assert recipes.config("ensemblenet_mu3_cifar100").loss_options == {"ensemble_mu": 3.0}
    assert "80.58" in recipes.get("ensemblenet_mu3_cifar100").paper
    assert "21.03" in recipes.get("one_resnet110_cifar100").paper


def test_overrides_win_and_foreign_hyperparameters_are_dropped():
    c = recipes.config("hne_cifar10", lr=0.05, alpha=0.25, loss_options={"temperature": 4.0})
    assert c.lr == 0.05 and c.loss_options == {"alpha": 0.25, "temperature": 4.0} and c.epochs == 200
    c = recipes.config("hne_cifar10", loss="independent")  # independent has no alpha / temperature
    assert c.loss_options == {}
    with pytest.raises(ValueError, match="unknown recipe 'nope'; valid recipes: hne_cifar10"):
        recipes.get("nope")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in recipes.RECIPES])
def test_recipe_starts_training(name, tmp_path):
    want = recipes.config_fields(name, model_dir=str(tmp_path / name), **SHORT)
    info = data_lib.dataset_info(want["dataset"])
    with tfds.testing.mock_data(num_examples=8):
        result = training.run(recipes.config(name, model_dir=str(tmp_path / name), **SHORT), log=lambda *_: None)
    saved = json.loads((tmp_path / name / "config.json").read_text())
    for key, value in want.items():
        assert saved[key] == value, key
    assert result["epochs_trained"] == 1 and result["num_examples"] == 4
    assert len(result["prefixes"]) == result["num_leaves"]
    assert result["dataset"] == want["dataset"] and len(result["labels"]) == info.num_classes
    assert ("teacher" in result) == want["model"].startswith("one_")


def test_train_py_recipe_flag(tmp_path):
    # The recipe's settings apply; flags given explicitly win (a tiny model on the synthetic data).
    # train.py's flags and main run in this process (kit.run_cli): a TensorFlow start-up per case spared.
    d = tmp_path / "run"
    r = run_cli("train.py", "--recipe=one_resnet32_cifar100", "--dataset=synthetic", "--model=one_resnet_tiny",
                "--model_options={}", "--epochs=1", "--steps_per_epoch=1", "--batch_size=4", "--eval_examples=8",
                "--temperature=4", f"--model_dir={d}")
    assert r.returncode == 0, r.stderr[-3000:]
    saved = json.loads((d / "config.json").read_text())
    assert (saved["model"], saved["dataset"], saved["model_options"], saved["epochs"]) == (
        "one_resnet_tiny", "synthetic", {}, 1)
    assert (saved["schedule"], saved["nesterov"], saved["rampup_epochs"], saved["lr"], saved["loss"]) == (
        "step", True, 80.0, 0.1, "one")
    assert saved["loss_options"] == {"temperature": 4.0}
    assert "(gated teacher)" in r.stdout  # ONE-E in the printed table
    r = run_cli("train.py", "--recipe=list")
    assert r.returncode == 0 and "oemc_resnet110_cifar100" in r.stdout and "46.76" in r.stdout
