"""Issue 20: every (op, version) in the exported files runs on the runtimes the app and the page pin.

The table (hne_tf/export/runtime_op_versions.json) is built from LiteRT's register.cc at the pinned
revisions by scripts/runtime_op_versions.py; these tests check that it still belongs to the pins, that
its parser reads register.cc's forms, that the reader of a file's ops agrees with LiteRT's own, and
that the session's export (float32 and int8, prefixes, members and the anytime file) passes.
"""

import importlib.util
import json
import os
import re

import pytest
from kit import ROOT, run_cli

from hne_tf.export import op_versions


def _script():
    spec = importlib.util.spec_from_file_location("runtime_op_versions",
                                                  os.path.join(ROOT, "scripts", "runtime_op_versions.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_is_for_the_runtimes_the_demos_pin():
    with open(op_versions.TABLE) as f:
        table = json.load(f)["runtimes"]
    with open(os.path.join(ROOT, "android_demo", "gradle", "libs.versions.toml")) as f:
        android = re.search(r'^litert = "([^"]+)"', f.read(), re.M).group(1)
    with open(os.path.join(ROOT, "web_demo", "package-lock.json")) as f:
        web = json.load(f)["packages"]["node_modules/@litertjs/core"]["version"]
    # A new pin needs a new table: scripts/runtime_op_versions.py (its RUNTIMES) at the new revisions.
    assert set(table) == {f"android_litert_{android}", f"web_litertjs_{web}"}
    assert table[f"android_litert_{android}"]["revision"] == f"v{android}"
    for runtime in table.values():
        assert re.fullmatch(r"[0-9a-f]{40}", runtime["commit"]) and len(runtime["ops"]) > 100
        assert all(1 <= low <= high for low, high in runtime["ops"].values())


def test_register_parser_reads_every_form():
    source = """
    // AddBuiltin(BuiltinOperator_COMMENTED, Register_COMMENTED(), 1, 9);
    AddBuiltin(BuiltinOperator_RELU, Register_RELU(), /* min_version = */ 1,
               /* max_version = */ 3);
    AddBuiltin(BuiltinOperator_L2_POOL_2D, Register_L2_POOL_2D());
    AddBuiltin(BuiltinOperator_CALL_ONCE,
               tflite::ops::builtin::Register_CALL_ONCE());
    AddBuiltin(BuiltinOperator_ADD, Register_ADD(),
               /* min_version */ 2,
               /* max_version */ 5);
    """
    assert _script().parse_register(source) == {"RELU": [1, 3], "L2_POOL_2D": [1, 1], "CALL_ONCE": [1, 1],
                                                 "ADD": [2, 5]}
    with pytest.raises(ValueError, match="no AddBuiltin"):
        _script().parse_register("int main() {}")


def test_file_ops_names_what_litert_runs(hne_export):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    out, manifest = hne_export
    for f in manifest["files"]:
        if f["kind"] != "prefix":
            continue
        path = str(out / f["file"])
        interpreter = Interpreter(model_path=path,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
        assert {name for name, _ in op_versions.file_ops(path)} == {
            op["op_name"] for op in interpreter._get_ops_details()}, f["file"]


def test_the_export_runs_on_the_pinned_runtimes(hne_export):
    out, manifest = hne_export
    files = [str(out / f["file"]) for f in manifest["files"]]
    assert {f["kind"] for f in manifest["files"]} >= {"prefix", "anytime"}
    assert {f["precision"] for f in manifest["files"]} >= {"float32", "int8"}
    assert op_versions.problems(files) == []
    r = run_cli("hne_tf.export.op_versions", f"--manifest={out}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "every file runs on android_litert_1.4.1, web_litertjs_2.5.3"


def test_cli_bad_input_is_one_line(tmp_path):
    r = run_cli("hne_tf.export.op_versions", f"--manifest={tmp_path / 'missing'}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("export.op_versions: error: ")


def test_an_op_version_a_runtime_lacks_is_named(hne_export):
    out, manifest = hne_export
    path = str(out / manifest["files"][0]["file"])
    used = op_versions.file_ops(path)
    conv = max(v for name, v in used if name == "CONV_2D")
    table = {"old": {name: [1, 99] for name, _ in used}, "older": {name: [1, 99] for name, _ in used}}
    table["old"]["CONV_2D"] = [1, conv - 1] if conv > 1 else [2, 9]
    del table["older"]["CONV_2D"]
    found = op_versions.problems([path], table)
    assert found == [f"{os.path.basename(path)}: CONV_2D version {conv} is outside old's {table['old']['CONV_2D'][0]}"
                     f"..{table['old']['CONV_2D'][1]}", f"{os.path.basename(path)}: CONV_2D is not a builtin op of "
                     "older"]
