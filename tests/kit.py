"""Shared test kit: the repository root, the tiny presets, test images, the tiny
trained and exported models the export and demo tests read, and in-process CLI runs.

Session-scoped fixtures (in ``conftest.py``) build each of these once per test
run: a tiny HNE (width 1/4 of Table 2's tree, 16 leaves) trained for 60 steps
on the synthetic data set, its float32 + int8 export, and the demo assets
(sample PNGs and the decision fixture) made from that export; a tiny ONE trained
for 20 steps and its float32 + int8 export (gated teacher included). Model checks
that every preset goes through are in ``model_checks.py``.
"""

import contextlib
import io
import os
import runpy
import subprocess
import sys
import traceback
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HNE_OPTIONS = {"width": 0.25}
if ROOT not in sys.path:  # a child process started on a script in tests/
    sys.path.insert(0, ROOT)

import hne_tf  # noqa: E402

# Every tiny preset (each family's smallest variant), the ones the in-process tests build.
TINY_PRESETS = [n for n in hne_tf.list_models() if n.endswith("_tiny")]


def train(model_dir, model, loss, steps, options=None):
    from hne_tf.training import TrainConfig
    from hne_tf.training import run as train_run

    config = TrainConfig(model=model, loss=loss, dataset="synthetic", model_dir=str(model_dir), epochs=1,
                         steps_per_epoch=steps, batch_size=32, eval_examples=64, eval_batch_size=64, lr=0.05,
                         model_options=dict(options or {}))
    train_run(config, log=lambda *_: None)
    return model_dir


def export(run_dir, out_dir, log=None, **kw):
    """``run_export`` of ``run_dir`` with the tests' small settings (``kw`` overrides them); its manifest.
    ``log`` receives the export's log lines (default: dropped)."""
    from hne_tf.export.exporter import ExportConfig, run_export

    settings = dict(model_dir=str(run_dir), out_dir=str(out_dir), eval_examples=256, parity_examples=64,
                    calibration_images=64, latency_runs=20)
    settings.update(kw)
    return run_export(ExportConfig(**settings), log=log or (lambda *_: None))


def test_images(n=64):
    """The first ``n`` images and labels of the synthetic test split (numpy)."""
    from hne_tf import data as data_lib

    x, y = next(iter(data_lib.load("synthetic", "test", n, take=n)))
    return x.numpy(), y.numpy()


test_images.__test__ = False  # a helper, not a test

# A colour per class, far apart, so that a few training steps tell them apart.
COLOURS = [(220, 40, 40), (40, 200, 60), (50, 60, 220), (230, 200, 40), (160, 60, 200)]


def write_image(path, pixels):
    """Writes uint8 ``[H, W, 3]`` (or ``[H, W]``) to ``path`` in the format its suffix names (Pillow, which
    matplotlib brings)."""
    from PIL import Image

    image = Image.fromarray(pixels)
    if str(path).lower().endswith((".jpg", ".jpeg")) and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(path)


def write_image_folder(root, classes=("cat", "dog", "fish"), splits=(("train", 8), ("val", 3)),
                       sizes=((40, 30), (24, 24)), formats=("jpg", "png"), seed=0, gray=False):
    """Class folders of coloured noise: ``root/<split>/<class>/NN.<format>`` (``split`` None: ``root/<class>/``),
    image i of a class in ``sizes[i % len]`` and ``formats[i % len]``; class c is ``COLOURS[c]`` plus noise
    (``gray``: one gray level per class). Returns ``root``."""
    import pathlib

    import numpy as np

    rng = np.random.default_rng(seed)
    root = pathlib.Path(root)
    for split, n in splits:
        for c, name in enumerate(classes):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = sizes[i % len(sizes)]
                base = np.array([60 + 60 * c] * 3 if gray else COLOURS[c % len(COLOURS)], np.float64)
                noise = rng.normal(0, 25, (h, w, 1) if gray else (h, w, 3))
                pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                write_image(folder / f"{i:02d}.{formats[i % len(formats)]}", pixels[..., 0] if gray else pixels)
    return root


@contextlib.contextmanager
def _own_flags():
    """absl flags defined inside the block are removed after it: every CLI here defines its flags on
    the one global FLAGS, and several define the same names (--model_dir, --data_dir, ...)."""
    from absl import app, flags

    app.define_help_flags()  # absl's own flags stay; only the program's are removed after the run
    fv = flags.FLAGS
    before, was_parsed = set(fv), fv.is_parsed()
    try:
        yield
    finally:
        for name in set(fv) - before:
            if name in fv:
                delattr(fv, name)
        if not was_parsed:
            fv.unparse_flags()


def run_cli(target, *args, env=None):
    """Runs ``python -m target args`` (or ``python target args`` for a ``.py`` path under ROOT) in this
    process, sparing a TensorFlow start-up per case: returns a ``subprocess.CompletedProcess`` with the
    exit code and what the program printed to ``sys.stdout`` / ``sys.stderr``.

    As the interpreter would: ``sys.exit(text)`` prints the text and exits 1; an uncaught exception
    prints its traceback and exits 1. ``env`` sets (``None``: unsets) variables for the run. The
    program's absl flags are defined afresh for each run and removed after it. What the tests that use
    it check is the CLI's own logic (flag handling, messages, exit codes, files); what only the real
    process shows (start-up noise, signals) is checked with a subprocess where a test asks for it.
    """
    saved_argv, saved_env = sys.argv, dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    for key, value in (env or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    sys.argv = [target] + [str(a) for a in args]
    try:
        with _own_flags(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)  # runpy of an imported one
            try:
                if target.endswith(".py"):
                    runpy.run_path(os.path.join(ROOT, target), run_name="__main__")
                else:
                    runpy.run_module(target, run_name="__main__", alter_sys=False)
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except Exception:  # what the interpreter does with an uncaught exception
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess([target, *args], code, out.getvalue(), err.getvalue())
