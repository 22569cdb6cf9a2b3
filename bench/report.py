"""The training-speed figures of the README in one invocation.

Runs, one after the other in this process:

1. ``bench_train_throughput.py`` with its defaults except the flags of this script, which are
   passed on (``--model``, ``--batch_size``, ``--steps``, ``--repeats`` and the thread counts):
   the tree in float32 and bfloat16 against the fair dense net, interleaved in one run;
2. ``torch_reference.py`` with the same flags (so 3 repeats, not its own default of 5): the same
   tree in PyTorch, workers default, allocator tuned and compiled, interleaved with ours in one
   run, when PyTorch is installed (an optional bench dependency: see ``bench/README.md``);
   otherwise it says so and skips it.

Each script prints its own full output; this one ends with the headline figures:

- the tree's MAC rate as a share of the fair dense net's, and its arithmetic intensity ratio;
- the tree's and the dense net's share of the fp32 peak;
- bfloat16 images/s over float32's;
- ours over each PyTorch worker's images/s.

Every ratio comes from within one interleaved run; the two runs are separate (the machine's load
may differ between them).

Example:
  python bench/report.py                                 # about 5-7 minutes on 2 CPU cores
  python bench/report.py --repeats 5 --inter_op_threads 1
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_train_throughput  # bench/bench_train_throughput.py
import torch_reference  # bench/torch_reference.py (imports torch only in its workers)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--model", default="hne_resnet_small", help="an hne_resnet-family preset")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="train steps per timed repeat, both runs")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, both runs")
    p.add_argument("--intra_op_threads", type=int, default=2)
    p.add_argument("--inter_op_threads", type=int, default=0, help="TF inter-op threads (0: TF's default)")
    p.add_argument("--no_torch", action="store_true", help="skip the PyTorch comparison")
    args = p.parse_args(argv)
    if args.intra_op_threads < 1:
        p.error(f"--intra_op_threads must be at least 1 (the PyTorch workers use as many), got {args.intra_op_threads}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    common = ["--batch_size", str(args.batch_size), "--steps", str(args.steps), "--repeats", str(args.repeats)]
    print("=" * 30, "1. bench_train_throughput.py", "=" * 30, flush=True)
    rows = bench_train_throughput.main(
        ["--models", args.model, "--intra_op_threads", str(args.intra_op_threads),
         "--inter_op_threads", str(args.inter_op_threads)] + common)
    torch_ips = None
    if args.no_torch:
        print("\n(PyTorch comparison skipped: --no_torch)")
    elif importlib.util.find_spec("torch") is None:
        print("\n(PyTorch comparison skipped: PyTorch is not installed; pip install --no-deps -r "
              "bench/requirements-torch.txt --extra-index-url https://download.pytorch.org/whl/cpu)")
    else:
        print("\n" + "=" * 30, "2. torch_reference.py", "=" * 30, flush=True)
        torch_ips = torch_reference.compare(torch_reference.parse_args(
            ["--model", args.model, "--threads", str(args.intra_op_threads),
             "--inter_op_threads", str(args.inter_op_threads)] + common))

    print("\n" + "=" * 30, "headline figures", "=" * 30)
    tree = next((r for r in rows if r["precision"] == "float32" and r["reference"]), None)
    if tree is None:
        print("no float32 row with a dense reference (a one-leaf --model has none)")
        return 0
    dense = next((r for r in rows if r["model"] == tree["reference"].split(";")[0]), None)
    if dense is not None:
        rate, intensity = tree["rate_ratios"].split(";")[0], tree["intensity_ratios"].split(";")[0]
        print(f"{tree['model']} against the fair dense net ({dense['model']}): MAC-rate ratio {rate}, "
              f"MACs per activation ratio {intensity}")
        print(f"share of the fp32 peak ({tree['peak_gflops'] / 2:.1f} GMAC/s): tree "
              f"{100 * tree['share_of_fp32_peak']:.1f}%, dense {100 * dense['share_of_fp32_peak']:.1f}%")
    for r in rows:
        if r["vs_float32"]:
            print(f"{r['model']}: {r['vs_float32']}x float32's images/s")
    if torch_ips:
        print(f"ours {torch_ips['ours']:.1f} images/s against PyTorch: " + ", ".join(
            f"{v} {ips:.1f} (ours {torch_ips['ours'] / ips:.2f}x)" for v, ips in torch_ips.items() if v != "ours"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
