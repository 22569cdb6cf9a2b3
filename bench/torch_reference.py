"""The same tree in PyTorch (``nn.Conv2d(groups=G)``): parameters, logits and train-step speed against ours.

PyTorch is an optional, bench-only dependency (``bench/requirements-torch.txt``;
see ``bench/README.md``). The library and its tests never import it.

What it does, in one run:

1. Builds ``--model`` (default ``hne_resnet_small``, 32x32x3, 10 classes) in
   Keras, randomizes its batch-norm statistics, and saves every weight.
2. Starts PyTorch workers as subprocesses (the allocator's environment must be
   set before a process starts): ``default`` (glibc as is) and ``tuned``
   (``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<--trim_threshold>``: freed
   memory stays in the heap instead of going back to the kernel, which saves
   PyTorch's page faults on every step), and ``compiled`` (tuned, plus
   channels-last memory and ``torch.compile`` of the network: PyTorch's best
   CPU setting; its first warm-up step compiles). Each worker rebuilds the network in
   PyTorch, layer by layer from our layers' settings (kernel size, stride,
   groups, branching): grouped 1x1 and 3x3 as ``nn.Conv2d(groups=G)``,
   depthwise as ``groups=channels``, batch norm as ``nn.BatchNorm2d``, the
   per-leaf classifiers as one grouped 1x1 convolution; TF's "SAME" padding
   of a stride-2 3x3 (0 before, 1 after) as an explicit ``F.pad``
   (``build_torch_net``, which ``bench/peers.py`` shares).
3. Checks: trainable parameter counts equal; with our weights copied in,
   inference-mode logits agree with ours to ``--rtol`` relative to the
   logits' largest magnitude (float32 sums of up to ~600 terms in a different
   order: ~1e-6 expected; 1e-4 leaves a margin and still catches any wrong
   weight or layout).
4. Times the train step (forward + backward + SGD momentum 0.9, mean
   cross-entropy over all leaves, one fixed batch) of ours (``tf.function``)
   and of each worker, round-robin, ``--steps`` steps per repeat, ``--repeats``
   repeats; the workers idle while another variant runs. Prints the median
   images/s and ours / each.

Example:
  python bench/torch_reference.py                   # about 2-3 minutes on 2 CPU cores
  python bench/torch_reference.py --batch_size 128 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))


# ----------------------------------------------------------------- worker (PyTorch only, no TensorFlow)

def build_torch_net(spec: dict, weights: dict, k: int | None = None) -> nn.Module:  # noqa: C901 -- the rebuild: one small module class per kind of tree layer
    """The tree of ``spec`` (:func:`tree_spec`) in PyTorch with the weights of ``weights`` (numpy arrays by
    Keras variable path), computing the first ``k`` leaves (all by default), as ``model.prefix(k)`` does.

    Grouped 1x1 and 3x3 convolutions are ``nn.Conv2d(groups=G)``, depthwise ones ``groups=channels``, batch
    norm ``nn.BatchNorm2d``, the per-leaf dense layers of the head grouped 1x1 convolutions; TF's "SAME"
    padding of a strided 3x3 where it is not symmetric (0 before, 1 after on an even size) an explicit
    ``F.pad``. A layer with G groups in an N-leaf tree keeps its first ``ceil(k * G / N)`` groups (the nodes
    the first ``k`` leaves need). Input ``[batch, C, H, W]``, output the logits ``[batch, k, classes]``.
    Used by this script's workers and by ``bench/peers.py``; imports PyTorch only when called."""
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    leaves = spec["leaves"]
    k = leaves if k is None else int(k)
    if not 1 <= k <= leaves:
        raise ValueError(f"k must be in [1, {leaves}], got {k}")

    def live(groups: int) -> int:
        return -(-k * groups // leaves)

    def tensor(array) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array))

    def param(path, n: int) -> nn.Parameter:
        return nn.Parameter(tensor(weights[path][:n]))

    def replicate(x, branch: int, groups: int) -> torch.Tensor:
        """[b, P*c] -> [b, G*c]: child j of the live groups is a copy of parent j // branch (BranchReplicate)."""
        n = live(groups)
        parents = live(groups // branch)
        if branch == 1 or n == parents:
            return x
        b, c, h, w = x.shape
        x = x.reshape(b, parents, 1, c // parents, h, w).expand(
            b, parents, branch, c // parents, h, w).reshape(b, c * branch, h, w)
        return x if n == parents * branch else x[:, :n * (c // parents)]

    class ConvBN(nn.Module):
        def __init__(self, s) -> None:
            super().__init__()
            self.act, self.branch, self.groups = s["activation"], s["branch"], s["groups"]
            kernel = weights[s["path"] + "/conv/" + ("depthwise_kernel" if s["depthwise"] else "kernel")]
            n = live(self.groups)
            if s["depthwise"]:  # [kh, kw, channels, 1]: one filter per channel
                kernel = kernel[:, :, :kernel.shape[2] // self.groups * n]
                cout = groups = cin = kernel.shape[2]
                k_torch = kernel.transpose(2, 3, 0, 1)
            else:  # [kh, kw, cin per group, G * cout per group]
                kernel = kernel[..., :kernel.shape[3] // self.groups * n]
                groups, cin, cout = n, kernel.shape[2] * n, kernel.shape[3]
                k_torch = kernel.transpose(3, 2, 0, 1)
            kh, kw = kernel.shape[:2]
            stride = s["strides"]
            pads = []
            for size, kk in zip(s["in_hw"], (kh, kw), strict=True):  # TF SAME: the odd pixel goes after
                total = max((-(-size // stride) - 1) * stride + kk - size, 0)
                pads.append((total // 2, total - total // 2))
            self.pad = None if all(a == b for a, b in pads) else (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
            self.conv = nn.Conv2d(cin, cout, (kh, kw), stride, 0 if self.pad else (pads[0][0], pads[1][0]),
                                  groups=groups, bias=False)
            self.conv.weight = nn.Parameter(tensor(k_torch))
            self.bn = nn.BatchNorm2d(cout, eps=s["epsilon"], momentum=0.1)
            for name, key in (("weight", "gamma"), ("bias", "beta")):
                setattr(self.bn, name, param(f"{s['path']}/bn/{key}", cout))
            self.bn.running_mean.copy_(tensor(weights[s["path"] + "/bn/moving_mean"][:cout]))
            self.bn.running_var.copy_(tensor(weights[s["path"] + "/bn/moving_variance"][:cout]))

        def forward(self, x) -> torch.Tensor:
            x = replicate(x, self.branch, self.groups)
            if self.pad:
                x = F.pad(x, self.pad)
            x = self.bn(self.conv(x))
            return {"relu": F.relu, "relu6": F.relu6}.get(self.act, lambda t: t)(x)

    class Residual(nn.Module):
        """TreeBottleneck (sum, then ReLU) and TreeInvertedResidual (sum where it has one, no activation)."""

        def __init__(self, s) -> None:
            super().__init__()
            self.branch, self.groups, self.residual, self.final = s["branch"], s["groups"], s["residual"], s["final"]
            self.body = nn.ModuleList([ConvBN(c) for c in s["body"]])
            self.shortcut = ConvBN(s["shortcut"]) if s["shortcut"] else None

        def forward(self, x) -> torch.Tensor:
            x = replicate(x, self.branch, self.groups)
            y = x
            for layer in self.body:
                y = layer(y)
            if self.shortcut is not None:
                y = y + self.shortcut(x)
            elif self.residual:
                y = y + x
            return F.relu(y) if self.final == "relu" else y

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers = []
            for s in spec["layers"]:
                layers.append(ConvBN(s) if s["kind"] == "convbn" else Residual(s))
            self.layers = nn.Sequential(*layers)
            head = spec["head"]
            self.leaves, self.classes = k, spec["num_classes"]
            dense = ([(head + "/hidden", spec.get("hidden_activation"))] if head + "/hidden/kernel" in weights
                     else []) + [(head + "/classifier", None)]
            self.dense, self.acts = nn.ModuleList(), []
            for path, act in dense:  # TreeDense: kernel [in, groups * units]
                kernel = weights[path + "/kernel"]
                units = kernel.shape[1] // leaves
                conv = nn.Conv2d(kernel.shape[0] * k, units * k, 1, groups=k)
                conv.weight = nn.Parameter(tensor(kernel.T[:units * k, :, None, None]))
                conv.bias = param(path + "/bias", units * k)
                self.dense.append(conv)
                self.acts.append(act)

        def forward(self, x) -> torch.Tensor:
            h = self.layers(x).mean(dim=(2, 3), keepdim=True)
            for conv, act in zip(self.dense, self.acts, strict=True):
                h = conv(h)
                h = {"relu": F.relu, "relu6": F.relu6}.get(act, lambda t: t)(h)
            return h.reshape(-1, self.leaves, self.classes)

    return Net()


def _torch_worker(spec_path: str, threads: int) -> None:
    """Reads commands as JSON lines on stdin, answers JSON lines on stdout."""
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(threads)
    spec = json.load(open(spec_path))
    weights = dict(np.load(spec["weights"]))
    net = build_torch_net(spec, weights)
    out = sys.stdout
    opt = torch.optim.SGD(net.parameters(), lr=spec["learning_rate"], momentum=0.9)
    data = np.load(spec["batch"])
    x, y = torch.from_numpy(data["x"].transpose(0, 3, 1, 2).copy()), torch.from_numpy(data["y"].astype(np.int64))

    train_net = net
    if os.environ.get("HNE_TORCH_COMPILE") == "1":  # the 'compiled' variant: channels-last and torch.compile
        net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        train_net = torch.compile(net)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        logits = train_net(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.repeat_interleave(logits.shape[1]))
        loss.backward()
        opt.step()
        return float(loss.detach())

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "params":
            reply = {"trainable": sum(p.numel() for p in net.parameters() if p.requires_grad)}
        elif cmd["op"] == "logits":
            net.eval()
            with torch.no_grad():
                reply = {"logits": net(x).numpy().tolist()}
            net.train()
        elif cmd["op"] == "steps":
            t0 = time.perf_counter()
            for _ in range(cmd["n"]):
                loss = step()
            reply = {"seconds": time.perf_counter() - t0, "loss": loss}
        else:
            reply = {"error": f"unknown op {cmd['op']}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# ----------------------------------------------------------------- main process (TensorFlow)

def _layer_spec(layer, path, hw) -> tuple[dict, tuple[int, int]]:
    """``layer``'s settings for :func:`build_torch_net` and its output resolution (its input: ``hw``)."""
    from hne_tf import layers as L

    if isinstance(layer, L.TreeConvBN):
        return ({"kind": "convbn", "path": path, "branch": layer.branch, "groups": layer.groups,
                 "strides": layer.strides[0], "depthwise": layer.depthwise, "activation": layer.activation,
                 "epsilon": layer.bn.epsilon, "in_hw": list(hw)}, layer.group_cost(hw)[2])
    if isinstance(layer, (L.TreeBottleneck, L.TreeInvertedResidual)):
        body, out = [], hw
        for c in layer._body():  # noqa: SLF001 -- the block's own layer list, read to rebuild it
            s, out = _layer_spec(c, f"{path}/{c.name}", out)
            body.append(s)
        shortcut = _layer_spec(layer.shortcut, f"{path}/shortcut", hw)[0] if layer.shortcut is not None else None
        return ({"kind": "residual", "branch": layer.branch, "groups": layer.groups, "residual": layer.residual,
                 "final": "relu" if isinstance(layer, L.TreeBottleneck) else None, "body": body,
                 "shortcut": shortcut}, out)
    raise SystemExit(f"error: the PyTorch rebuild knows TreeConvBN, TreeBottleneck and TreeInvertedResidual, "
                     f"not {type(layer).__name__}")


def tree_spec(model) -> dict:
    """What :func:`build_torch_net` needs besides the weights: every tree layer's settings in order (a
    ``GroupedBlock`` model: the hne_resnet and hne_mobilenetv2 families), the head, leaves and classes."""
    from hne_tf import layers as L

    root, hw, layers = model.name, tuple(model.image_shape[:2]), []
    for block in model.tree_blocks:
        if not isinstance(block, L.GroupedBlock):
            raise SystemExit(f"error: the PyTorch rebuild knows GroupedBlock trees, not {type(block).__name__}")
        for layer in block.tree_layers:
            s, hw = _layer_spec(layer, f"{root}/{block.name}/{layer.name}", hw)
            layers.append(s)
    return {"layers": layers, "head": f"{root}/{model.head.name}", "hidden_activation": model.head.hidden_activation,
            "leaves": model.num_leaves, "num_classes": model.num_classes}


def randomize_bn_statistics(model, rng) -> None:
    """Random batch-norm moving statistics (a new model has zeros and ones): a logits check then covers them."""
    for v in model.variables:
        if v.path.endswith("/moving_mean"):
            v.assign(rng.normal(0, 0.1, v.shape).astype("float32"))
        elif v.path.endswith("/moving_variance"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--model", default="hne_resnet_small", help="an hne_resnet-family preset (ResNet bottlenecks)")
    p.add_argument("--input_shape", default="32,32,3")
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup_steps", type=int, default=2)
    p.add_argument("--learning_rate", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of TF and PyTorch")
    p.add_argument("--inter_op_threads", type=int, default=0, help="TF inter-op threads (0: TF's default)")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--trim_threshold", type=int, default=1 << 34, help="MALLOC_TRIM_THRESHOLD_ of the tuned worker")
    p.add_argument("--variants", default="default,tuned,compiled",
                   help="PyTorch workers: default (eager), tuned (eager, allocator tuned), compiled (allocator tuned, "
                        "channels-last, torch.compile)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        _torch_worker(args.worker, args.threads)
        return 0
    try:
        import torch  # noqa: F401  (only to fail early with the install hint)
    except ImportError:
        print("error: PyTorch is not installed; it is an optional bench dependency: "
              "pip install -r bench/requirements-torch.txt (see bench/README.md)", file=sys.stderr)
        return 1
    compare(args)
    return 0


def compare(args: argparse.Namespace) -> dict[str, float]:  # noqa: C901 -- one interleaved comparison, its checks and its report in order
    """Checks that the PyTorch rebuild is the same network, times the train steps round-robin and
    prints the table; returns the median images/s per variant (``ours`` and each PyTorch worker).
    ``main`` after its checks; ``bench/report.py`` calls it with ``parse_args([...])``."""
    import torch

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    from common import env_summary, print_load_average_at_end, set_threads

    import hne_tf

    set_threads(args.threads, args.inter_op_threads)
    print(env_summary())
    print(f"PyTorch {torch.__version__} (workers: {args.threads} threads), batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats after {args.warmup_steps} warm-up steps")
    shape = tuple(int(v) for v in args.input_shape.split(","))
    tf.random.set_seed(0)
    model = hne_tf.build_model(args.model, shape, args.num_classes)
    rng = np.random.default_rng(0)
    randomize_bn_statistics(model, rng)
    tmp = tempfile.mkdtemp(prefix="torch_ref_")
    np.savez(os.path.join(tmp, "weights.npz"), **{v.path: v.numpy() for v in model.variables})
    x = rng.normal(size=(args.batch_size,) + shape).astype("float32")
    y = rng.integers(0, args.num_classes, args.batch_size).astype("int32")
    np.savez(os.path.join(tmp, "batch.npz"), x=x, y=y)
    spec = {"weights": os.path.join(tmp, "weights.npz"), "batch": os.path.join(tmp, "batch.npz"),
            "learning_rate": args.learning_rate, **tree_spec(model)}
    with open(os.path.join(tmp, "spec.json"), "w") as f:
        json.dump(spec, f)

    workers = {}
    for variant in [v for v in args.variants.split(",") if v]:
        if variant not in ("default", "tuned", "compiled"):
            raise SystemExit(f"error: --variants: unknown {variant!r}; valid: default, tuned, compiled")
        env = dict(os.environ, HNE_TORCH_COMPILE="1" if variant == "compiled" else "0")
        if variant != "default":
            env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_=str(args.trim_threshold))
        workers[variant] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", os.path.join(tmp, "spec.json"),
             "--threads", str(args.threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)

    def ask(variant, **cmd) -> dict:
        w = workers[variant]
        w.stdin.write(json.dumps(cmd) + "\n")
        w.stdin.flush()
        line = w.stdout.readline()
        if not line:
            raise SystemExit(f"error: PyTorch worker {variant!r} exited (code {w.wait()})")
        return json.loads(line)

    try:
        ours_params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
        ours_logits = model(tf.constant(x), training=False)["logits"].numpy()
        scale = np.abs(ours_logits).max()
        for variant in workers:
            theirs = ask(variant, op="params")["trainable"]
            logits = np.asarray(ask(variant, op="logits")["logits"], np.float32)
            err = np.abs(logits - ours_logits).max() / scale
            print(f"PyTorch ({variant}): trainable parameters {theirs:,} (ours {ours_params:,}, "
                  f"{'equal' if theirs == ours_params else 'DIFFERENT'}); logits max |diff| / max |logit| = "
                  f"{err:.2e} (--rtol {args.rtol:g})")
            if theirs != ours_params or err > args.rtol:
                raise SystemExit("error: the PyTorch rebuild is not the same network")

        from bench_train_throughput import make_train_step, run_steps
        ours_step = make_train_step(model, args.learning_rate, False)
        xt, yt = tf.constant(x), tf.constant(y)
        run_steps(ours_step, xt, yt, args.warmup_steps)
        for variant in workers:
            ask(variant, op="steps", n=args.warmup_steps)
        times = {"ours": [], **{v: [] for v in workers}}
        for r in range(args.repeats):
            times["ours"].append(run_steps(ours_step, xt, yt, args.steps)[0])
            for variant in workers:
                times[variant].append(ask(variant, op="steps", n=args.steps)["seconds"])
            print(f"  repeat {r + 1}: " + "  ".join(f"{k} {args.steps * args.batch_size / t[-1]:.1f}"
                                                    for k, t in times.items()), flush=True)
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    ips = {k: statistics.median(args.steps * args.batch_size / t for t in v) for k, v in times.items()}
    print("\n| model | batch | ours img/s | " + " | ".join(f"PyTorch {v} img/s" for v in workers) + " |")
    print("|---|---|---|" + "---|" * len(workers))
    print(f"| {args.model} | {args.batch_size} | {ips['ours']:.1f} | "
          + " | ".join(f"{ips[v]:.1f} (ours {ips['ours'] / ips[v]:.2f}x)" for v in workers) + " |")
    print_load_average_at_end()
    return ips


if __name__ == "__main__":
    sys.exit(main())
