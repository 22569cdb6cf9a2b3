import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


import json  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def hne_run(tmp_path_factory):
    """A tiny HNE trained 60 steps on the synthetic data (the model directory)."""
    import kit

    return kit.train(tmp_path_factory.mktemp("hne") / "run", "hne_resnet_tiny", "hierarchical_distillation", 60,
                     kit.HNE_OPTIONS)


@pytest.fixture(scope="session")
def hne_export(hne_run, tmp_path_factory):
    """``(out_dir, manifest)``: the tiny HNE exported in float32 and int8."""
    import kit

    out = tmp_path_factory.mktemp("hne_export") / "out"
    # Tiny nodes: per-op metadata outweighs the weights, so the default 1.05
    # file-size bound cannot hold here (see test_anytime_file_size_bound).
    manifest = kit.export(hne_run, out, precisions=("float32", "int8"), max_anytime_size_ratio=3.0)
    return out, manifest


@pytest.fixture(scope="session")
def demo_assets(hne_export, tmp_path_factory):
    """What the on-device demos read, made from ``hne_export`` (which stays untouched):
    ``{"export": dir, "manifest": dict, "samples": dir with PNGs and samples.json,
    "fixture_path": decision fixture JSON, "fixture": its content}``."""
    from export import fixture as fx
    from export.samples import write_samples

    out, manifest = hne_export
    base = tmp_path_factory.mktemp("demo_assets")
    write_samples(manifest, str(base / "samples"), num=12)
    fixture = fx.build(str(out / "manifest.json"), num_images=24)
    fx.write(fixture, str(base / fx.FIXTURE_FILE))
    with open(base / fx.FIXTURE_FILE) as f:
        fixture = json.load(f)
    return {"export": out, "manifest": manifest, "samples": base / "samples",
            "fixture_path": base / fx.FIXTURE_FILE, "fixture": fixture}


@pytest.fixture(scope="session")
def one_run(tmp_path_factory):
    """A tiny ONE (3 branches and the gate) trained 20 steps on the synthetic data (the model directory)."""
    import kit

    return kit.train(tmp_path_factory.mktemp("one") / "run", "one_resnet_tiny", "one", 20)


@pytest.fixture(scope="session")
def one_export(one_run, tmp_path_factory):
    """``(run_dir, out_dir, manifest, log lines)``: the tiny ONE exported in float32 and int8 with the default
    prefixes (1, 2, 3), the anytime file and the gated teacher. Read it, never write into it."""
    import kit

    out = tmp_path_factory.mktemp("one_export") / "out"
    lines = []
    manifest = kit.export(one_run, out, precisions=("float32", "int8"), max_anytime_size_ratio=3.0, latency_runs=5,
                          log=lines.append)
    return one_run, out, manifest, lines
