"""Builds hne_tf/export/runtime_op_versions.json: the builtin op versions the pinned on-device runtimes run.

  python3 scripts/runtime_op_versions.py --litert=/path/to/a/clone/of/google-ai-edge/LiteRT

Both demos run LiteRT's builtin op resolver (``tflite/core/kernels/register.cc``: every
``AddBuiltin(BuiltinOperator_X, Register_X(), min_version, max_version)``, versions 1..1 where none are
given); the XNNPACK delegate takes what it can and hands the rest back to those kernels. The revisions:

- the Android app's ``com.google.ai.edge.litert:litert:1.4.1``: tag ``v1.4.1``;
- the page's ``@litertjs/core`` 2.5.3 (``web_demo/package-lock.json``): the commit that set
  ``litert/js/packages/core/package.json`` to 2.5.3 (its WASM's compiled model uses the same resolver,
  ``BuiltinOpResolverWithoutDefaultDelegates``).

The clone needs the tag and that commit (``git fetch --tags``). The output records, per runtime, the
repository, revision and file it was read from.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

RUNTIMES = {
    "android_litert_1.4.1": {"pin": "android_demo/gradle/libs.versions.toml: litert = \"1.4.1\"",
                             "revision": "v1.4.1"},
    "web_litertjs_2.5.3": {"pin": "web_demo/package-lock.json: @litertjs/core 2.5.3",
                           "revision": "c3390e34c965205c5186d1d82487e910fa39214b"},
}
REGISTER = "tflite/core/kernels/register.cc"
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hne_tf", "export",
                   "runtime_op_versions.json")

_CALL = re.compile(r"AddBuiltin\(\s*BuiltinOperator_(\w+)\s*,\s*[\w:]*Register_\w+\(\)\s*"
                   r"(?:,\s*(\d+)\s*,\s*(\d+)\s*)?\)")


def parse_register(source: str) -> dict[str, list[int]]:
    """``{op name: [min version, max version]}`` from a register.cc's ``AddBuiltin`` calls."""
    text = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    ops = {}
    for name, low, high in _CALL.findall(text):
        ops[name] = [int(low), int(high)] if low else [1, 1]
    if not ops:
        raise ValueError("no AddBuiltin(BuiltinOperator_..., Register_...()) calls found")
    return ops


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--litert", required=True, help="a git clone of google-ai-edge/LiteRT with its tags")
    p.add_argument("--out", default=OUT)
    args = p.parse_args(argv)
    table = {"source": "google-ai-edge/LiteRT " + REGISTER + ", read by scripts/runtime_op_versions.py",
             "runtimes": {}}
    for name, runtime in RUNTIMES.items():
        rev = runtime["revision"]
        try:
            commit = subprocess.run(["git", "-C", args.litert, "rev-parse", rev + "^{commit}"], check=True,
                                    capture_output=True, text=True).stdout.strip()
            source = subprocess.run(["git", "-C", args.litert, "show", f"{commit}:{REGISTER}"], check=True,
                                    capture_output=True, text=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            sys.exit(f"runtime_op_versions.py: error: {args.litert} has no {rev}:{REGISTER} "
                     f"({getattr(e, 'stderr', '') or e})".strip())
        table["runtimes"][name] = {"pin": runtime["pin"], "revision": rev, "commit": commit,
                                   "ops": dict(sorted(parse_register(source).items()))}
    with open(args.out, "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: " + ", ".join(f"{n} ({len(r['ops'])} ops)" for n, r in table["runtimes"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
