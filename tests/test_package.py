"""The package installs and runs outside the checkout; the checkout's wrappers run the same programs.

pip installs hne_tf, without its dependencies, from a copy of the sources (the checkout gets no
build/ or egg-info) into a temporary folder. From another folder, with only that one on PYTHONPATH
(the dependencies come from site-packages), every module of hne_tf imports from there and each
console script prints its help. From the repository root, the README's ``python3 -m export...``
commands print the same programs' help (``python3 train.py`` runs in test_train.py and, in this
process, test_recipes.py). The commands of each test run side by side: most of their time is
TensorFlow starting.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys

from kit import ROOT

# console script, its module, the checkout's command, a flag its --help must list
PROGRAMS = [
    ("hne-train", "hne_tf.cli.train", ["train.py"], "--model_dir"),
    ("hne-export", "hne_tf.export.__main__", ["-m", "export"], "--out_dir"),
    ("hne-anytime", "hne_tf.export.anytime", ["-m", "export.anytime"], "--rule"),
    ("hne-bench", "hne_tf.export.benchmark", ["-m", "export.benchmark"], "--warmup"),
]
# checkout-only commands (README, "Demos"): module, command, flag
CHECKOUT_ONLY = [
    ("hne_tf.export.fixture", ["-m", "export.fixture"], "--num_images"),
    ("hne_tf.export.samples", ["-m", "export.samples"], "--out"),
]


def _run_together(commands, cwd, env):
    """Runs every command at once; their CompletedProcess objects, in order."""
    procs = [subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in commands]
    results = []
    for cmd, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return results


def _check_help(r, module, flag):
    """absl's --help: the CLI module's docstring, then its own flags under the program's name; exit 1
    (absl's HelpFlag exits 1, as before the move)."""
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.args, r.stderr[-2000:])
    assert r.stderr == "", (r.args, r.stderr[-2000:])  # no TensorFlow start-up noise either
    first_line = importlib.import_module(module).__doc__.splitlines()[0]
    assert r.stdout.startswith(first_line + "\n"), (r.args, r.stdout[:300])
    flags_part = r.stdout.split("\nflags:\n", 1)[1]
    assert f"  {flag}" in flags_part or f"  --[no]{flag[2:]}" in flags_part, (r.args, flags_part[:500])
    assert "--test_random_seed" not in flags_part, r.args  # TensorFlow's flags are not the program's


def test_installs_without_the_checkout(tmp_path):
    src, target, elsewhere = tmp_path / "src", tmp_path / "site", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    shutil.copytree(os.path.join(ROOT, "hne_tf"), src / "hne_tf", ignore=shutil.ignore_patterns("__pycache__"))
    # Offline: no index, and the installed setuptools builds it (no isolated build environment to fetch).
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
           "--disable-pip-version-check", "--quiet", "--target", str(target), str(src)]
    r = subprocess.run(pip, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    top = sorted(os.listdir(target))
    assert top[:2] == ["bin", "hne_tf"] and len(top) == 3 and top[2].startswith("hne_tf-"), top  # library only
    assert sorted(os.listdir(target / "bin")) == sorted(p[0] for p in PROGRAMS)

    env = {**os.environ, "PYTHONPATH": str(target)}
    every_module = ("import importlib, json, pkgutil\nimport hne_tf, hne_tf.export\n"
                    "names = ['hne_tf'] + [m.name for m in pkgutil.walk_packages(hne_tf.__path__, 'hne_tf.')]\n"
                    "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n")
    commands = [[sys.executable, "-c", every_module]] + [[str(target / "bin" / p[0]), "--help"] for p in PROGRAMS]
    imported, *helps = _run_together(commands, cwd=elsewhere, env=env)

    assert imported.returncode == 0, imported.stderr[-3000:]
    files = json.loads(imported.stdout)
    assert {"hne_tf.export", "hne_tf.export.exporter", "hne_tf.export.extra_precisions", "hne_tf.cli.train",
            "hne_tf.training.job"} <= set(files)
    outside = {name: path for name, path in files.items() if not path.startswith(str(target) + os.sep)}
    assert not outside, outside
    for r, (_, module, _, flag) in zip(helps, PROGRAMS, strict=True):
        _check_help(r, module, flag)


def test_checkout_commands_run_the_same_programs():
    """The README's export commands from the repository root: the export/ wrappers (no TensorFlow start)."""
    programs = [(module, command, flag) for _, module, command, flag in PROGRAMS if command[0] == "-m"] + CHECKOUT_ONLY
    results = _run_together([[sys.executable, *command, "--help"] for _, command, _ in programs], cwd=ROOT,
                            env=dict(os.environ))
    for r, (module, _, flag) in zip(results, programs, strict=True):
        _check_help(r, module, flag)
