"""Did the code get slower? The train step of one preset at several git revisions, timed alternately.

Each revision is checked out in a temporary git worktree (detached; removed at the end). Then, round
after round, one fresh process per revision imports that revision's ``hne_tf`` (first, before
TensorFlow: it turns oneDNN on) and times a plain train step of ``--model``: the mean cross-entropy
of every leaf, SGD with momentum, one ``tf.function``, a fixed synthetic batch. The processes run
one after another, never at once, so the revisions share the machine's state of the moment; a
machine that drifts moves every revision in the same round alike. Per round and revision it prints
the median images/s over ``--repeats`` timed repeats of ``--steps`` steps; at the end the range of
those medians per revision and the ratio of the medians of medians, with the load average.

``TF_ENABLE_ONEDNN_OPTS=1`` is set for every process: revisions older than hne_tf's own setting of
it would otherwise train without oneDNN's grouped-convolution gradient.

Example (about 2 minutes on 2 CPU cores):
  python3 bench/revisions.py 5aafff1 HEAD                      # hne_resnet_mini, 28x28x1, batch 128
  python3 bench/revisions.py HEAD~10 HEAD --model hne_resnet_small --input_shape 32,32,3 --batch_size 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def _load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def child(root: str, model_name: str, shape: tuple[int, ...], batch: int, steps: int, repeats: int) -> list[float]:
    """Images/s of each timed repeat, with ``root``'s hne_tf (this process imports nothing else of it).

    The step is written here, not taken from ``bench_train_throughput.make_train_step``: that module
    imports parts of today's hne_tf (``osutil``, ``precision``) that an older revision may lack.
    """
    import time

    sys.path.insert(0, root)
    import hne_tf  # noqa: I001 -- the revision's own, before TensorFlow
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    model = hne_tf.build_model(model_name, shape, 10)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)["logits"]
            labels = tf.broadcast_to(y[:, None], tf.shape(logits)[:2])
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    x = tf.random.normal((batch,) + shape, seed=0)
    y = tf.random.uniform((batch,), 0, 10, dtype=tf.int32, seed=0)
    for _ in range(3):  # the first traces
        step(x, y).numpy()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step(x, y)
        loss.numpy()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return rates


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=HERE, check=True, capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("revisions", nargs="+", help="git revisions (at least two), in the order to time them")
    p.add_argument("--model", default="hne_resnet_mini")
    p.add_argument("--input_shape", default="28,28,1")
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--steps", type=int, default=4, help="train steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per process (median reported)")
    p.add_argument("--rounds", type=int, default=3, help="processes per revision, alternating")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: time the checkout at this path
    args = p.parse_args(argv)
    shape = tuple(int(v) for v in args.input_shape.split(","))
    if args.child:
        rates = child(args.child, args.model, shape, args.batch_size, args.steps, args.repeats)
        print("RATES " + " ".join(f"{r:.3f}" for r in rates))
        return 0
    if len(args.revisions) < 2:
        p.error("give at least two revisions to compare")
    if min(args.steps, args.repeats, args.rounds, args.batch_size) < 1:
        p.error("--steps, --repeats, --rounds and --batch_size must be at least 1")
    try:
        commits = [_git("rev-parse", "--short", f"{rev}^{{commit}}") for rev in args.revisions]
    except subprocess.CalledProcessError as e:
        p.error(f"not a revision of this repository: {e.stderr.strip().splitlines()[-1]}")
    print(f"{args.model} at {shape}, batch {args.batch_size}: {args.rounds} rounds x {len(commits)} revisions, "
          f"{args.repeats} repeats of {args.steps} steps per process; load average at start {_load()}")
    base = tempfile.mkdtemp(prefix="hne_revisions_")
    trees = {}
    try:
        for c in dict.fromkeys(commits):
            trees[c] = os.path.join(base, c)
            _git("worktree", "add", "--detach", trees[c], c)
        medians: dict[str, list[float]] = {c: [] for c in trees}
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        for r in range(args.rounds):
            for c in trees:
                out = subprocess.run([sys.executable, os.path.abspath(__file__), c, c, "--child", trees[c],
                                      "--model", args.model, "--input_shape", args.input_shape,
                                      "--batch_size", str(args.batch_size), "--steps", str(args.steps),
                                      "--repeats", str(args.repeats)], env=env, capture_output=True, text=True)
                line = [ln for ln in out.stdout.splitlines() if ln.startswith("RATES ")]
                if out.returncode or not line:
                    print(f"error: revision {c} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                    return 1
                rates = [float(v) for v in line[0].split()[1:]]
                medians[c].append(statistics.median(rates))
                print(f"  round {r + 1}, {c}: {medians[c][-1]:.1f} images/s "
                      f"(repeats {min(rates):.0f}-{max(rates):.0f})")
    finally:
        for tree in trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=HERE, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=HERE, capture_output=True)
        if not os.listdir(base):
            os.rmdir(base)
    first = statistics.median(medians[commits[0]])
    print(f"\n| revision | images/s, median of rounds | range of rounds | against {commits[0]} |\n|---|---|---|---|")
    for c, m in medians.items():
        print(f"| {c} | {statistics.median(m):.1f} | {min(m):.1f}-{max(m):.1f} | {statistics.median(m) / first:.3f} |")
    print(f"load average at end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
