"""Fills the Android app's assets from an export folder.

  python3 android_demo/scripts/fill_assets.py --export=runs/hne_fashion_mnist_tflite --precision=float32,int8

Copies ``manifest.json``, the anytime file of each ``--precision`` (a comma-separated list, or
``all`` for every precision the export has an anytime file of; the first is the app's default) and
that precision's per-prefix files, writes ``--num`` test images as PNG with their labels
(``samples/``, see :mod:`hne_tf.export.samples`) and ``demo_config.json`` (which files the app offers in
its model-file picker), into
``android_demo/app/src/main/assets/`` (or ``--out``). The export is validated first (every file
against its size and sha256); the assets are built in a staging folder beside ``--out`` and replace
it only once complete, so a failed run leaves the previous assets as they were.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_OUT = os.path.join(ROOT, "android_demo", "app", "src", "main", "assets")
CONFIG_FILE = "demo_config.json"
SAMPLES_DIR = "samples"


def _precisions(manifest: dict, precision: str) -> list[str]:
    """``--precision``'s names in order: a comma-separated list, or ``all`` (every anytime file's)."""
    from hne_tf.export import manifest as mf
    from hne_tf.export.precisions import REGISTRY

    if precision == "all":  # the registry's order, then names it does not know (a newer export's)
        have = {f["precision"] for f in mf.files_of(manifest, "anytime")}
        return [p for p in REGISTRY if p in have] + sorted(have - set(REGISTRY))
    names = [p.strip() for p in precision.split(",") if p.strip()]
    if not names:
        raise ValueError("--precision names no precision")
    if len(set(names)) != len(names):
        raise ValueError(f"--precision names a precision twice: {precision!r}")
    return names


def fill(export_dir: str, precision: str, out: str, num: int = 12, data_dir: str | None = None) -> list:
    """Builds the assets; returns ``[(relative path, bytes)]`` of what ``out`` holds afterwards.

    ``precision``: one name, a comma-separated list (the first is the app's default) or ``all``.
    """
    from hne_tf.export import manifest as mf
    from hne_tf.export.samples import write_samples

    manifest_path = os.path.join(export_dir, "manifest.json")
    manifest = mf.load(manifest_path)  # validates, and checks every file's size and sha256
    chosen = {}
    for p in _precisions(manifest, precision):
        anytime = mf.anytime_file(manifest, p)
        prefixes = sorted(mf.files_of(manifest, "prefix", p), key=lambda f: f["k"])
        if not prefixes:
            raise ValueError(f"{manifest_path} lists no {p} prefix files")
        chosen[p] = (anytime, prefixes)
    if num < 1:
        raise ValueError(f"--num must be at least 1, got {num}")

    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = f"{out}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        shutil.copyfile(manifest_path, os.path.join(staging, "manifest.json"))
        for anytime, prefixes in chosen.values():
            for entry in [anytime] + prefixes:
                shutil.copyfile(os.path.join(export_dir, entry["file"]), os.path.join(staging, entry["file"]))
        write_samples(manifest, os.path.join(staging, SAMPLES_DIR), num, data_dir)
        # Read by the engine's DemoConfig, which checks every name against the manifest.
        config = {"default": next(iter(chosen)),
                  "precisions": {p: {"anytime": a["file"], "prefixes": {str(f["k"]): f["file"] for f in pre}}
                                 for p, (a, pre) in chosen.items()},
                  "samples": f"{SAMPLES_DIR}/samples.json"}
        with open(os.path.join(staging, CONFIG_FILE), "w") as f:
            json.dump(config, f, indent=2)
        old = f"{out}.old-{os.getpid()}"
        if os.path.exists(out):
            os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    listing = []
    for base, _, names in os.walk(out):
        for name in names:
            path = os.path.join(base, name)
            listing.append((os.path.relpath(path, out), os.path.getsize(path)))
    return sorted(listing)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fill_assets.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", required=True, help="export folder holding manifest.json")
    parser.add_argument("--precision", default="float32",
                        help="a precision (float32, float16, dynamic, int8, ...), a comma-separated list "
                             "(the first is the default), or all")
    parser.add_argument("--out", default=DEFAULT_OUT, help="assets folder (default: the app's)")
    parser.add_argument("--num", type=int, default=12, help="test images to bundle")
    parser.add_argument("--data_dir", default=None, help="data location (default: the data set's default)")
    args = parser.parse_args(argv)

    from hne_tf.data import DataError
    from hne_tf.export.manifest import ManifestError

    try:
        listing = fill(args.export, args.precision, args.out, args.num, args.data_dir)
    except (ManifestError, ValueError, DataError, OSError) as e:
        print(f"fill_assets.py: error: {e}", file=sys.stderr)
        return 1
    total = sum(size for _, size in listing)
    print(f"filled {args.out} from {os.path.abspath(args.export)} ({args.precision}):")
    for path, size in listing:
        print(f"  {size:>10,d}  {path}")
    print(f"  {total:>10,d}  bytes in {len(listing)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
