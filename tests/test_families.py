"""Model families as files of their own (hne_tf/families/): a new family is one file plus its test.

The papers' families are checked preset by preset in test_models.py; here, the layout itself: a
family written into the package at test time is found, built and checked like the others."""

import sys

import keras
import pytest
from model_checks import check_model

import hne_tf
from hne_tf import families, losses, plugins, presets

# What docs/architecture.md ("Extending") tells a family's author to write, in full.
TOY_FAMILY = '''
"""Toy: a shared stem, then ``branches`` branches of one strided conv each."""

from hne_tf import layers as L
from hne_tf import presets
from hne_tf.tree import cumulative_groups

TOY = presets.register_family("toy", "a family added by tests/test_families.py")


def toy_tree(input_shape, num_classes, branches, channels):
    branching = (1, branches)
    groups = cumulative_groups(branching)
    blocks = [L.GroupedBlock([L.TreeConvBN(channels, 3, 1, groups[0], name="stem")], name="block0"),
              L.GroupedBlock([L.TreeConvBN(channels, 3, 2, groups[1], branch=branches, name="split")],
                             name="block1")]
    return presets.Architecture(TOY, branching, blocks, L.TreeHead(num_classes, groups[-1], name="head"))


PRESETS = {
    "toy_tiny": {"description": "two branches of 4 channels", "defaults": dict(branches=2, channels=4)},
}
presets.register_presets(PRESETS, toy_tree, {"branches": presets.integer(1), "channels": presets.integer(1)})
'''


@pytest.fixture
def toy_family(tmp_path, monkeypatch):
    """The toy family's file in a folder added to the package's path; removed from the registries afterwards."""
    folder = tmp_path / "extra_families"
    folder.mkdir()
    (folder / "toy.py").write_text(TOY_FAMILY)
    monkeypatch.setattr(families, "__path__", [*families.__path__, str(folder)])
    try:
        yield plugins.import_package("hne_tf.families")
    finally:
        presets.PRESETS.pop("toy_tiny", None)
        presets.FAMILIES.pop("toy", None)
        sys.modules.pop("hne_tf.families.toy", None)


def test_a_new_family_is_one_file(toy_family, tmp_path):
    # Found without naming it anywhere, after the papers' families, which keep their order.
    assert toy_family[:4] == [f"hne_tf.families.{n}" for n in ("hne", "one", "oemc", "ensemblenet")]
    assert toy_family[-1] == "hne_tf.families.toy"
    assert list(presets.FAMILIES) == ["hne", "one", "oemc", "ensemblenet", "toy"]
    assert "toy_tiny" in hne_tf.list_models()
    keras.utils.set_random_seed(0)
    model = check_model("toy_tiny", tmp_path)  # the checks every preset goes through
    assert model.family == "toy" and model.num_leaves == 2
    losses.get_loss("independent", "toy", 2)  # a loss with families=() fits every family
    with pytest.raises(ValueError, match="toy_tiny: option 'branches' must be an integer >= 1, got 0"):
        hne_tf.build_model("toy_tiny", (8, 8, 3), 5, branches=0)


def test_every_family_module_has_a_tiny_preset_and_descriptions():
    # The tiny presets are the ones the in-process tests build (tests/kit.py's TINY_PRESETS).
    modules = set(plugins.import_package("hne_tf.families"))
    tiny = {p.builder.__module__ for p in presets.PRESETS.values() if p.name.endswith("_tiny")}
    assert modules == {p.builder.__module__ for p in presets.PRESETS.values()} == tiny
    assert all(p.description and "\n" not in p.description for p in presets.PRESETS.values())


def test_a_preset_table_row_is_checked():
    with pytest.raises(AssertionError, match="'description' and 'defaults'"):
        presets.register_presets({"bad": {"defaults": {}}}, lambda *a: None, {})
    with pytest.raises(AssertionError, match="do not match the options"):
        presets.register_presets({"bad": {"description": "", "defaults": {"x": 1}}}, lambda *a: None, {})
    assert "bad" not in presets.PRESETS
