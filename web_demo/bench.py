"""Benchmark of the web demo in headless Chromium (real clock), beside ai_edge_litert on the same host.

  python3 web_demo/bench.py --export=runs/hne_fashion_mnist_tflite [--passes=20] [--query=?threads=1]
      [--out=bench.json] [--records=web_demo/test/recorded_costs.json] [--screenshots=web_demo --sample=06_coat.png]

Serves the page and the export on 127.0.0.1 (web_demo/serve.py), runs the page's own benchmark
(web_demo/drive.mjs, mode "bench"; app.js's benchmark() says what it measures) on the sample images,
then times the same files on the same images with ai_edge_litert, one thread. Prints:

* per step: LiteRT.js time and its cost in the page's loop (medians over passes, with the IQR);
* progressive cost: steps 1..N in sequence against one call of the k = N prefix file, page and host;
* the cost of yielding to the browser during a run (the page's policy, and before every step);
* the time budget: the share of runs within budget at budgets from step 1's cost to a full run's;
* latency(k) / latency(1) of the prefix files against MACs(k) / MACs(1), page and host.

--out writes every figure as JSON; --records writes the full-run step costs the page measured (the
recording that web_demo/test/engine.test.js replays through the budget rule); --screenshots writes
screenshot_desktop.png (1280x900) and screenshot_phone.png (390x844) after a Run, and
screenshot_midrun.png (a run caught half-way, the CPU slowed 20x, on the non-threaded build).
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


def host_figures(export_dir: str, manifest: dict, images: np.ndarray, passes: int, warmup: int = 2) -> dict:
    """The page benchmark's protocol with ai_edge_litert, one thread: medians over passes."""
    from hne_tf.export import runtime as rt

    anytime = next(f for f in manifest["files"] if f["kind"] == "anytime" and f["precision"] == "float32")
    steps = rt.Steps(rt.load_interpreter(os.path.join(export_dir, anytime["file"]), num_threads=1),
                     manifest["anytime"]["steps"])
    prefixes = {f["k"]: rt.Runner(rt.load_interpreter(os.path.join(export_dir, f["file"]), num_threads=1),
                                  "serving_default")
                for f in manifest["files"] if f["kind"] == "prefix" and f["precision"] == "float32"}
    for _ in range(warmup):
        for x in images:
            steps.run(x[None])
            for runner in prefixes.values():
                runner(input=x[None])
    seq, once = [], {k: [] for k in prefixes}
    for r in range(passes):
        t = time.perf_counter()
        for x in images:
            steps.run(x[None])
        seq.append((time.perf_counter() - t) * 1e3 / len(images))
        keys = sorted(prefixes)
        for j in range(len(keys)):
            k = keys[(j + r) % len(keys)]
            t = time.perf_counter()
            for x in images:
                prefixes[k](input=x[None])["logits"]
            once[k].append((time.perf_counter() - t) * 1e3 / len(images))
    return {"stepsMs": float(np.median(seq)), "prefixMs": {k: float(np.median(v)) for k, v in once.items()}}


def drive(url: str, modes: list[dict], timeout: int = 3600) -> dict:
    proc = subprocess.run(["node", os.path.join(HERE, "drive.mjs"), json.dumps({"url": url, "modes": modes})],
                          capture_output=True, text=True, cwd=HERE, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"the browser run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)["results"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="web_demo/bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", default=os.path.join("runs", "hne_fashion_mnist_tflite"))
    parser.add_argument("--samples", default=None, help="sample images (default: the page's own for the data set)")
    parser.add_argument("--query", default="", help="page URL options, e.g. ?threads=1 or ?precision=int8")
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--budgets", type=int, default=8)
    parser.add_argument("--budget_runs", type=int, default=100, help="runs per budget")
    parser.add_argument("--yield_runs", type=int, default=60, help="runs per paint policy")
    parser.add_argument("--out", default=None, help="write every figure as JSON here")
    parser.add_argument("--records", default=None, help="write the page's full-run step costs here")
    parser.add_argument("--screenshots", default=None, help="folder for the desktop, phone and mid-run PNGs")
    parser.add_argument("--sample", default=None, help="the sample image in the screenshots (default: the second)")
    args = parser.parse_args(argv)
    try:
        serve.check_litert()
        httpd = serve.make_server(serve.resolve_export(args.export), args.samples, port=0)
    except (serve.DemoError, OSError) as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    site = httpd.site
    if site.samples_dir is None:
        print("bench: error: no sample images for this data set: pass --samples=DIR "
              "(python3 -m export.samples --manifest=... --out=DIR writes them)", file=sys.stderr)
        return 2
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    modes = [{"mode": "bench", "passes": args.passes, "budgets": args.budgets, "budgetRuns": args.budget_runs,
              "yieldRuns": args.yield_runs}]
    try:
        page = drive(base + args.query, modes)["bench"]
        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            shots = {n: os.path.abspath(os.path.join(args.screenshots, f"screenshot_{n}.png"))
                     for n in ("desktop", "phone", "midrun")}
            with open(os.path.join(site.samples_dir, "samples.json")) as f:
                files = [s["file"] for s in json.load(f)["samples"]]
            sample = args.sample or files[1]
            drive(base + args.query, [{"mode": "run", "samples": [sample], "layoutSample": sample,
                                       "screenshots": {"desktop": shots["desktop"], "phone": shots["phone"]}}])
            frames = drive(base + "?threads=0", [{"mode": "frames", "throttle": 20, "attempts": 5, "sample": sample,
                                                  "screenshot": shots["midrun"]}])["frames"]
            print(f"screenshots: {shots['desktop']}, {shots['phone']}; mid-run (CPU slowed 20x, run "
                  f"{frames['lastRun']['elapsedMs']:.0f} ms, {len(frames['states'])} answers painted): "
                  + (f"{shots['midrun']} at leaf {frames['midShot']['leaves']}" if frames["midShot"] else "none"))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    finally:
        httpd.shutdown()
    if not page["ready"]:
        print(f"bench: error: the page did not load: {page['shown']['error']}", file=sys.stderr)
        return 1
    b = page["bench"]

    from PIL import Image

    from hne_tf.export.samples import preprocess

    manifest = serve.load_manifest(site.export_dir, check_files=False)
    with open(os.path.join(site.samples_dir, "samples.json")) as f:
        names = [s["file"] for s in json.load(f)["samples"]]
    pixels = [np.asarray(Image.open(os.path.join(site.samples_dir, n))) for n in names]
    images = np.stack([preprocess(manifest, p[..., None] if p.ndim == 2 else p) for p in pixels])
    host = host_figures(site.export_dir, manifest, images, args.passes)

    n = len(b["steps"])
    v = b["variant"]
    wasm_threads = b["threaded"] and v["accelerator"] == "wasm"
    threads = f"{v['threads']} thread{'s' if v['threads'] != 1 else ''}" if wasm_threads else "non-threaded"
    print(f"{manifest['model']['preset']}: {b['images']} images x {b['passes']} passes; page: {v['accelerator']} "
          f"({threads}), {v['precision']}; host: ai_edge_litert, 1 thread; {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}")
    choice = b.get("threadChoice")
    if choice:
        print(f"threads chosen by the page at start: a run took {choice['ms'][0]:.2f} ms on 1 thread and "
              f"{choice['ms'][1]:.2f} ms on {choice['counts'][1]}; it kept {choice['chosen']} (more only when over "
              f"{choice['margin'] * 100:.0f}% faster)")
    print(f"{'step':>4} {'leaf ms':>16} {'cost ms':>16}")
    for i, s in enumerate(b["steps"]):
        print(f"{i + 1:>4} {s['leaf']['median']:>9.3f} ±{s['leaf']['iqr'] / 2:<6.3f} "
              f"{s['cost']['median']:>9.3f} ±{s['cost']['iqr'] / 2:<6.3f}")
    p = b["progressive"]
    if p:
        print(f"progressive cost, steps 1..{n} / prefix k={n}: page {p['ratio']['median']:.2f} "
              f"({p['stepsMs']['median']:.3f} / {p['prefixMs']['median']:.3f} ms), host "
              f"{host['stepsMs'] / host['prefixMs'][n]:.2f} ({host['stepsMs']:.3f} / {host['prefixMs'][n]:.3f} ms)")
    y = b["yieldCost"]
    print(f"yielding to the browser, the page's policy: {y['yieldsPerRun']['frame']:.2f} yields per run; median run "
          f"{y['runMs']['frame']['median']:.2f} ms against {y['runMs']['none']['median']:.2f} ms never yielding "
          f"({y['policy'] * 100:+.1f}%); time spent yielding {y['policyShare'] * 100:.1f}% of the rest")
    print(f"  before every step: {y['yieldsPerRun']['every']:.0f} yields per run; median run "
          f"{y['runMs']['every']['median']:.2f} ms ({y['everyStep'] * 100:+.1f}%); time spent yielding "
          f"{y['everyStepShare'] * 100:.1f}%")
    print(f"time budget (predictions: p{b['predictPercentile']} of recent costs; floor: step 1's "
          f"{b['stepOneMs']:.2f} ms): runs within budget")
    for r in b["budget"]:
        print(f"  {r['budgetMs']:8.2f} ms: {r['within']:>3}/{r['runs']:<3} {r['rate'] * 100:5.1f}%, "
              f"mean {r['meanSteps']:4.1f} leaves" + (f", worst overrun {max(r['overMs']):.2f} ms"
                                                      if r["overMs"] else ""))
    total = sum(r["within"] for r in b["budget"]), sum(r["runs"] for r in b["budget"])
    print(f"  lowest share within budget: {b['minBudgetRate'] * 100:.1f}%; all budgets: {total[0]}/{total[1]} "
          f"({total[0] / total[1] * 100:.1f}%)")
    print(f"{'k':>3} {'MACs(k)/MACs(1)':>16} {'page lat ratio':>15} {'host lat ratio':>15} {'page ms':>9} "
          f"{'host ms':>8}")
    p1 = b["prefixes"][0]
    for q in b["prefixes"]:
        print(f"{q['k']:>3} {q['macs'] / p1['macs']:>16.2f} {q['ms']['median'] / p1['ms']['median']:>15.2f} "
              f"{host['prefixMs'][q['k']] / host['prefixMs'][p1['k']]:>15.2f} {q['ms']['median']:>9.3f} "
              f"{host['prefixMs'][q['k']]:>8.3f}")
    print(f"page / ai_edge_litert: steps 1..{n} {p['stepsMs']['median'] / host['stepsMs']:.2f}, prefix k={n} "
          f"{p['prefixMs']['median'] / host['prefixMs'][n]:.2f}" if p else "")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"page": {k: v for k, v in b.items() if k != "records"}, "host": host,
                       "load_average": os.getloadavg()}, f, indent=1)
    if args.records:
        calibration = 32
        with open(args.records, "w") as f:
            json.dump({"source": f"{manifest['model']['preset']}, {v['accelerator']} ({threads}), {v['precision']}, "
                                 f"the page benchmark's full runs ({b['images']} images x {b['passes']} passes)",
                       "command": "python3 web_demo/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                       "calibration_runs": calibration, "records": b["records"]}, f)
        print(f"wrote {len(b['records'])} runs of step costs to {args.records}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
