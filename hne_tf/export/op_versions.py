"""Will the pinned on-device runtimes run an export? Its builtin ops and versions against theirs.

  python3 -m hne_tf.export.op_versions runs/hne_fashion_mnist_tflite

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
    table = load_table() if table is None else table
    out = []
    for path in files:
        for name, version in sorted(file_ops(path)):
            for runtime, ops in table.items():
                low, high = ops.get(name, (None, None))
                if low is None:
                    out.append(f"{os.path.basename(path)}: {name} is not a builtin op of {runtime}")
                elif not low <= version <= high:
                    out.append(f"{os.path.basename(path)}: {name} version {version} is outside {runtime}'s "
                               f"{low}..{high}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m hne_tf.export.op_versions EXPORT_DIR (the folder of manifest.json)", file=sys.stderr)
        return 2
    from hne_tf.export import manifest as mf

    path = os.path.join(args[0], "manifest.json") if os.path.isdir(args[0]) else args[0]
    try:
        manifest = mf.load(path)
    except (OSError, mf.ManifestError) as e:
        print(f"op_versions: error: {e}", file=sys.stderr)
        return 1
    folder = os.path.dirname(os.path.abspath(path))
    files = [os.path.join(folder, f["file"]) for f in manifest["files"]]
    table = load_table()
    found = problems(files, table)
    ops = sorted({op for path in files for op in file_ops(path)})
    print(f"{len(files)} files use {len(ops)} (op, version) pairs: "
          + ", ".join(f"{name} v{version}" for name, version in ops))
    for line in found:
        print(line)
    print(f"{'every file runs' if not found else f'{len(found)} problem(s)'} on {', '.join(table)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
