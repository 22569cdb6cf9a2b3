import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As hne_tf/__init__ does: test modules may import TensorFlow before hne_tf, and without oneDNN a CPU that
# lacks AVX-512 VNNI/BF16 and AMX has no grouped-convolution gradient.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402


def _built_once(tmp_path_factory, name, build):
    """``build(folder)``'s JSON result, computed once per test run even when pytest-xdist runs the tests in
    several workers: the first worker to ask builds into a folder they all share (the parent of the workers'
    own temporary folders) and writes the result beside it; the others wait on the lock, then read it. A
    worker that dies half-way leaves no result, so the next one starts that folder afresh."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, result = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            result.write_text(json.dumps(build(folder)))
        return json.loads(result.read_text())


# The session fixtures that one worker builds and the others wait for (``_built_once``).
SHARED = ("hne_run", "hne_export", "demo_assets", "one_run", "one_export")
# The group that builds the tiny HNE and its export (about 75 s on 2 cores) goes first.
FIRST_BUILDER = "test_export_faults"


def _unit(item) -> str:
    """The pytest-xdist work unit of ``item`` under --dist loadgroup: its xdist_group, or itself."""
    mark = item.get_closest_marker("xdist_group")
    return mark.args[0] if mark else item.nodeid


def pytest_collection_modifyitems(config, items):
    """Orders the work units so that no worker idles waiting for a session fixture.

    The first unit builds ``hne_run`` and ``hne_export``; meanwhile the other worker takes units that need
    no shared fixture (the groups among them first). The units that read the shared fixtures come after
    half of those, when the fixtures are built; the rest of the independent units fill the end, where
    small units even out the two workers' finishing times. Every worker collects the same order (it is
    deterministic), which pytest-xdist requires; pytest.ini turns off its own reordering by unit size."""
    units: dict[str, list] = {}
    for item in items:
        units.setdefault(_unit(item), []).append(item)

    def shared(unit):
        return any(name in SHARED for item in units[unit] for name in item.fixturenames)

    first = [u for u in units if u == FIRST_BUILDER]
    independent = [u for u in units if u not in first and not shared(u)]
    independent.sort(key=lambda u: len(units[u]) == 1)  # groups, then single tests; stable otherwise
    dependent = [u for u in units if u not in first and shared(u)]
    half = len(independent) // 2
    order = first + independent[:half] + dependent + independent[half:]
    items[:] = [item for unit in order for item in units[unit]]


@pytest.fixture(scope="session")
def hne_run(tmp_path_factory):
    """A tiny HNE trained 60 steps on the synthetic data (the model directory)."""
    import kit

    def build(folder):
        return str(kit.train(folder / "run", "hne_resnet_tiny", "hierarchical_distillation", 60, kit.HNE_OPTIONS))
    return pathlib.Path(_built_once(tmp_path_factory, "hne", build))


@pytest.fixture(scope="session")
def hne_export(hne_run, tmp_path_factory):
    """``(out_dir, manifest)``: the tiny HNE exported in float32 and int8."""
    import kit

    def build(folder):
        # Tiny nodes: per-op metadata outweighs the weights, so the default 1.05
        # file-size bound cannot hold here (see test_anytime_file_size_bound).
        manifest = kit.export(hne_run, folder / "out", precisions=("float32", "int8"), max_anytime_size_ratio=3.0)
        return {"out": str(folder / "out"), "manifest": manifest}
    built = _built_once(tmp_path_factory, "hne_export", build)
    return pathlib.Path(built["out"]), built["manifest"]


@pytest.fixture(scope="session")
def demo_assets(hne_export, tmp_path_factory):
    """What the on-device demos read, made from ``hne_export`` (which stays untouched):
    ``{"export": dir, "manifest": dict, "samples": dir with PNGs and samples.json,
    "fixture_path": decision fixture JSON, "fixture": its content}``."""
    from hne_tf.export import fixture as fx
    from hne_tf.export.samples import write_samples

    out, manifest = hne_export

    def build(folder):
        write_samples(manifest, str(folder / "samples"), num=12)
        fx.write(fx.build(str(out / "manifest.json"), num_images=24), str(folder / fx.FIXTURE_FILE))
        return str(folder)
    base = pathlib.Path(_built_once(tmp_path_factory, "demo_assets", build))
    with open(base / fx.FIXTURE_FILE) as f:
        fixture = json.load(f)
    return {"export": out, "manifest": manifest, "samples": base / "samples",
            "fixture_path": base / fx.FIXTURE_FILE, "fixture": fixture}


@pytest.fixture(scope="session")
def one_run(tmp_path_factory):
    """A tiny ONE (3 branches and the gate) trained 20 steps on the synthetic data (the model directory)."""
    import kit

    def build(folder):
        return str(kit.train(folder / "run", "one_resnet_tiny", "one", 20))
    return pathlib.Path(_built_once(tmp_path_factory, "one", build))


@pytest.fixture(scope="session")
def one_export(one_run, tmp_path_factory):
    """``(run_dir, out_dir, manifest, log lines)``: the tiny ONE exported in float32 and int8 with the default
    prefixes (1, 2, 3), the anytime file and the gated teacher. Read it, never write into it."""
    import kit

    def build(folder):
        lines = []
        manifest = kit.export(one_run, folder / "out", precisions=("float32", "int8"), max_anytime_size_ratio=3.0,
                              latency_runs=5, log=lines.append)
        return {"out": str(folder / "out"), "manifest": manifest, "lines": lines}
    built = _built_once(tmp_path_factory, "one_export", build)
    return one_run, pathlib.Path(built["out"]), built["manifest"], built["lines"]
