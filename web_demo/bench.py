"""Benchmark of the web demo in headless Chromium (real clock) against ai_edge_litert on the same host.

  python3 web_demo/bench.py --export=runs/hne_fashion_mnist_tflite [--repeats=20] [--screenshot=web_demo/screenshot.png]

Serves the page and the export on 127.0.0.1, runs the page's benchmark
(web_demo/drive.mjs, mode "bench") on the bundled sample images, then times
the same files on the same images with ai_edge_litert (one thread, as the
non-threaded WASM) in the same way: means over all images and passes after a
warm-up. Prints, from this one run:

* progressive cost: steps 1..N in sequence (end to end: input tensor, every
  step, logits read back after every step, cache kept in LiteRT tensors)
  divided by one call of the k = N prefix file;
* latency(k) / latency(1) of the prefix files against MACs(k) / MACs(1);
* browser latency / ai_edge_litert latency for step 1, steps 1..N and prefix k = N.

Writes the figures as JSON (``--out``, default ``<export>/web_bench.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import serve  # noqa: E402


def python_figures(export_dir: str, manifest: dict, images: np.ndarray, repeats: int, warmup: int = 2) -> dict:
    """The browser benchmark's protocol with ai_edge_litert, one thread."""
    from hne_tf.export import runtime as rt

    anytime = next(f for f in manifest["files"] if f["kind"] == "anytime" and f["precision"] == "float32")
    steps = rt.Steps(rt.load_interpreter(os.path.join(export_dir, anytime["file"]), num_threads=1),
                     manifest["anytime"]["steps"])
    n = len(steps)
    for _ in range(warmup):
        for x in images:
            steps.run(x[None])
    step_ms = np.zeros((repeats * len(images), n))
    seq = 0.0
    for r in range(repeats):
        t = time.perf_counter()
        for i, x in enumerate(images):
            steps.run(x[None], step_ms[r * len(images) + i])
        seq += time.perf_counter() - t
    prefixes = []
    for f in sorted((f for f in manifest["files"] if f["kind"] == "prefix" and f["precision"] == "float32"),
                    key=lambda f: f["k"]):
        runner = rt.Runner(rt.load_interpreter(os.path.join(export_dir, f["file"]), num_threads=1), "serving_default")
        for _ in range(warmup):
            for x in images:
                runner(input=x[None])
        t = time.perf_counter()
        for _ in range(repeats):
            for x in images:
                runner(input=x[None])["logits"]
        ms = (time.perf_counter() - t) * 1e3 / (repeats * len(images))
        prefixes.append({"k": f["k"], "macs": f["macs"], "ms": ms})
    calls = repeats * len(images)
    return {"stepMs": step_ms.mean(axis=0).tolist(), "stepsMs": seq * 1e3 / calls, "prefixes": prefixes}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="web_demo/bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", default=os.path.join("runs", "hne_fashion_mnist_tflite"))
    parser.add_argument("--samples", default=None, help="sample PNGs (default: <export>/samples, written if absent)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--screenshot", default=None, help="PNG of the page mid-run, after the benchmark")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    try:
        serve.check_litert()
        export_dir = serve.resolve_export(args.export)
    except serve.DemoError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    samples_dir = os.path.abspath(args.samples or os.path.join(export_dir, "samples"))
    serve.ensure_samples(export_dir, samples_dir)
    httpd = serve.make_server(export_dir, samples_dir, port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/?accelerator=wasm"
    command = {"url": url, "mode": "bench", "repeats": args.repeats}
    if args.screenshot:
        command["screenshot"] = os.path.abspath(args.screenshot)
    try:
        proc = subprocess.run(["node", os.path.join(HERE, "drive.mjs"), json.dumps(command)], capture_output=True,
                              text=True, cwd=HERE, timeout=1800)
    finally:
        httpd.shutdown()
    if proc.returncode != 0:
        print(f"bench: error: the browser run failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return 1
    browser = json.loads(proc.stdout)["bench"]

    from PIL import Image

    from hne_tf.export.samples import preprocess

    with open(os.path.join(export_dir, "manifest.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(samples_dir, "samples.json")) as f:
        files = [s["file"] for s in json.load(f)["samples"]]
    pixels = [np.asarray(Image.open(os.path.join(samples_dir, name))) for name in files]
    images = np.stack([preprocess(manifest, p[..., None] if p.ndim == 2 else p) for p in pixels])
    host = python_figures(export_dir, manifest, images, args.repeats)

    n = len(browser["stepMs"])
    b_prefix = {p["k"]: p for p in browser["prefixes"]}
    h_prefix = {p["k"]: p for p in host["prefixes"]}
    result = {
        "export": export_dir, "preset": manifest["model"]["preset"], "images": browser["images"],
        "repeats": args.repeats, "accelerator": browser["accelerator"],
        "progressive_cost_browser": browser["progressive"]["ratio"],
        "progressive_cost_host": host["stepsMs"] / h_prefix[n]["ms"] if n in h_prefix else None,
        "browser": {"steps_ms": browser["progressive"]["stepsMs"], "prefix_kN_ms": browser["progressive"]["prefixMs"],
                    "step_ms": browser["stepMs"]},
        "host": {"steps_ms": host["stepsMs"], "prefix_kN_ms": h_prefix.get(n, {}).get("ms"), "step_ms": host["stepMs"]},
        "prefix": [{"k": k, "macs_ratio": b_prefix[k]["macs"] / b_prefix[1]["macs"],
                    "browser_latency_ratio": b_prefix[k]["ms"] / b_prefix[1]["ms"],
                    "host_latency_ratio": h_prefix[k]["ms"] / h_prefix[1]["ms"],
                    "browser_ms": b_prefix[k]["ms"], "host_ms": h_prefix[k]["ms"]} for k in sorted(b_prefix)],
        "points": browser["points"],
    }
    result["browser_over_host"] = {
        "step_1": browser["stepMs"][0] / host["stepMs"][0],
        "steps_1_to_N": browser["progressive"]["stepsMs"] / host["stepsMs"],
        "prefix_kN": browser["progressive"]["prefixMs"] / h_prefix[n]["ms"] if n in h_prefix else None,
    }
    out = args.out or os.path.join(export_dir, "web_bench.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"{result['preset']}: {result['images']} images x {args.repeats} passes, browser on "
          f"{result['accelerator']}, host ai_edge_litert 1 thread")
    print(f"progressive cost, steps 1..{n} / prefix k={n} once: browser {result['progressive_cost_browser']:.3f}"
          f" ({result['browser']['steps_ms']:.3f} / {result['browser']['prefix_kN_ms']:.3f} ms), host "
          f"{result['progressive_cost_host']:.3f} ({host['stepsMs']:.3f} / {result['host']['prefix_kN_ms']:.3f} ms)")
    print(f"{'k':>3} {'MACs(k)/MACs(1)':>16} {'browser lat ratio':>18} {'host lat ratio':>15} {'browser ms':>11} "
          f"{'host ms':>8}")
    for p in result["prefix"]:
        print(f"{p['k']:>3} {p['macs_ratio']:>16.2f} {p['browser_latency_ratio']:>18.2f} "
              f"{p['host_latency_ratio']:>15.2f} {p['browser_ms']:>11.3f} {p['host_ms']:>8.3f}")
    r = result["browser_over_host"]
    print(f"browser / ai_edge_litert latency: step 1 {r['step_1']:.2f}, steps 1..{n} {r['steps_1_to_N']:.2f}, "
          f"prefix k={n} {r['prefix_kN']:.2f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
