"""Will the pinned on-device runtimes run an export? Its builtin ops and versions against theirs.

  python3 -m hne_tf.export.op_versions --manifest=runs/hne_fashion_mnist_tflite/manifest.json

A ``.tflite`` names each operator by a builtin code and a version; a runtime refuses a model whose
(op, version) its op resolver lacks ("Didn't find op for builtin opcode ... version ..."), and the
converter raises versions as it uses new features. :data:`TABLE` (``runtime_op_versions.json``,
built from LiteRT's ``register.cc`` at the revisions the Android app and the page pin, by
``scripts/runtime_op_versions.py``) lists the versions each runtime registers; :func:`problems`
checks every file of an export against it. Flatbuffers only: no TensorFlow.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable

from hne_tf.cli import run_app

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime_op_versions.json")


def load_table(path: str = TABLE) -> dict[str, dict[str, list[int]]]:
    """``{runtime: {op name: [min version, max version]}}``."""
    with open(path) as f:
        table = json.load(f)
    return {name: runtime["ops"] for name, runtime in table["runtimes"].items()}


def file_ops(path_or_bytes) -> set[tuple[str, int]]:
    """Every (builtin op name, version) a ``.tflite`` file uses; custom ops as ``("CUSTOM:name", version)``."""
    from ai_edge_litert import schema_py_generated as schema

    if isinstance(path_or_bytes, (bytes, bytearray)):
        buf = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            buf = f.read()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(buf, 0)
    used = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live in builtin_code; older files keep them in deprecated_builtin_code.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"").decode()
        used.add((name, code.Version()))
    return used


def problems(files: Iterable[str], table: dict[str, dict[str, list[int]]] | None = None) -> list[str]:
    """One line per (file, op, version, runtime) that the runtime does not register; empty when all run."""
    return _problems({path: file_ops(path) for path in files}, load_table() if table is None else table)


def _problems(used: dict[str, set[tuple[str, int]]], table: dict[str, dict[str, list[int]]]) -> list[str]:
    out = []
    for path, ops in used.items():
        for name, version in sorted(ops):
            for runtime, registered in table.items():
                low, high = registered.get(name, (None, None))
                if low is None:
                    out.append(f"{os.path.basename(path)}: {name} is not a builtin op of {runtime}")
                elif not low <= version <= high:
                    out.append(f"{os.path.basename(path)}: {name} version {version} is outside {runtime}'s "
                               f"{low}..{high}")
    return out


def main(argv) -> None:
    from absl import flags

    from hne_tf.export import manifest as mf

    path = flags.FLAGS.manifest
    if os.path.isdir(path):
        path = os.path.join(path, "manifest.json")
    try:
        manifest = mf.load(path)
    except (OSError, mf.ManifestError) as e:
        sys.exit(f"export.op_versions: error: {e}")
    folder = os.path.dirname(os.path.abspath(path))
    used = {path: file_ops(path) for path in (os.path.join(folder, f["file"]) for f in manifest["files"])}
    table = load_table()
    found = _problems(used, table)
    pairs = sorted(set().union(*used.values()))
    print(f"{len(used)} files use {len(pairs)} (op, version) pairs: "
          + ", ".join(f"{name} v{version}" for name, version in pairs))
    for line in found:
        print(line)
    if found:
        sys.exit(f"export.op_versions: error: {len(found)} problem(s) on {', '.join(table)}")
    print(f"every file runs on {', '.join(table)}")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("manifest", "runs/hne_fashion_mnist_tflite/manifest.json",
                        "An export's manifest.json (or its folder).")


def cli() -> None:
    """The ``python3 -m hne_tf.export.op_versions`` command."""
    run_app(main, _define_flags, __doc__, "export.op_versions")


if __name__ == "__main__":
    cli()
