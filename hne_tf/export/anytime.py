"""Host anytime runner: leaf-by-leaf inference under a stopping rule.

  hne-anytime --manifest=runs/hne_fashion_mnist_tflite/manifest.json

(or python3 -m hne_tf.export.anytime; in a checkout, python3 -m export.anytime.)

For each test image the engine runs the anytime file's steps in order, keeps
the running ensemble of the leaves under the manifest's ``ensemble.combine``
rule (the mean of their logits, or of their probabilities for EnsembleNet;
:class:`hne_tf.ensemble.RunningMean`), and asks its stopping rule after every
step whether to run the next one:

* ``deadline``: a per-image budget in ms. The next step runs only if the time
  spent so far plus that step's predicted latency (its 90th percentile,
  measured when the engine starts) still fits. Step 1 always runs: there is no answer
  without it.
* ``confidence``: stop once the running ensemble's max softmax probability
  reaches a threshold.
* ``leaves``: run a fixed number of steps.

The Android engine implements the same rules on the same manifest.

Without ``--rule`` the runner sweeps operating points of all three rules. It
runs every step on every image once, timing each step, then replays each rule
on those recorded logits and times (the decisions are exactly those the live
engine makes with those timings). It prints the accuracy-latency table and
writes it as JSON and a plot.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hne_tf import checks, osutil
from hne_tf.cli import run_app
from hne_tf.ensemble import RunningMean, prefix_ensembles, softmax
from hne_tf.export import litert_adapter as litert
from hne_tf.export import manifest as mf
from hne_tf.export import precisions as precision_registry
from hne_tf.export import runtime as rt
from hne_tf.export import samples

RULES = ("deadline", "confidence", "leaves")


@dataclasses.dataclass(frozen=True)
class StoppingRule:
    """When to stop adding leaves.

    ``kind``: one of :data:`RULES`; ``value``: the deadline in ms, the
    probability threshold, or the number of leaves.
    """

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise ValueError(f"unknown rule {self.kind!r}; choose from {', '.join(RULES)}")
        if self.kind == "deadline" and not self.value > 0:
            raise ValueError(f"a deadline must be positive (ms), got {self.value}")
        if self.kind == "confidence" and not 0 < self.value <= 1:
            raise ValueError(f"a confidence threshold must be in (0, 1], got {self.value}")
        if self.kind == "leaves" and (self.value < 1 or self.value != int(self.value)):
            raise ValueError(f"the number of leaves must be a positive integer, got {self.value}")

    def run_next(self, steps_done: int, num_steps: int, elapsed_ms: float, next_step_ms: float,
                 max_probability: float) -> bool:
        """Whether to run step ``steps_done + 1`` (1-based) after ``steps_done`` steps."""
        if steps_done == 0:
            return True  # the first leaf gives the first answer
        if steps_done >= num_steps:
            return False
        if self.kind == "leaves":
            return steps_done < int(self.value)
        if self.kind == "confidence":
            return max_probability < self.value
        return elapsed_ms + next_step_ms <= self.value

    def describe(self) -> str:
        unit = {"deadline": " ms", "confidence": "", "leaves": " leaves"}[self.kind]
        value = int(self.value) if self.kind == "leaves" else self.value
        return f"{self.kind} {value}{unit}"


@dataclasses.dataclass
class Result:
    label: int
    probabilities: np.ndarray
    steps: int
    elapsed_ms: float


class AnytimeEngine:
    """Runs a manifest's anytime file step by step (batch 1)."""

    def __init__(self, manifest_path: str, precision: str = "float32", threads: int = 2,
                 per_step_threads: bool = True) -> None:
        checks.count("threads", threads)
        if os.path.isdir(manifest_path):
            manifest_path = os.path.join(manifest_path, "manifest.json")
        self.manifest = mf.load(manifest_path)
        self.manifest_sha256 = mf.sha256(manifest_path)
        if "anytime" not in self.manifest:
            raise mf.ManifestError(f"{manifest_path} has no anytime section (exported with --noanytime)")
        entry = mf.anytime_file(self.manifest, precision)
        self.precision = precision
        self.path = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), entry["file"])
        self.steps = self.manifest["anytime"]["steps"]
        self.num_steps = len(self.steps)
        self.interpreter = rt.load_interpreter(self.path, num_threads=threads)
        self.threads = threads
        self._sequence = rt.Steps(self.interpreter, self.steps)
        #: Threads per step: ``threads`` for all, or with ``per_step_threads``
        #: the faster of 1 and ``threads`` for each step (small steps gain
        #: nothing from waking a pool): the export's measurement, the file's
        #: ``step_threads``, where it compared these counts; else measured here
        #: (``runtime.thread_plan``). ``thread_plan_source`` says which.
        self.thread_plan = [threads] * self.num_steps
        self.thread_plan_source = "--threads"
        if per_step_threads and threads > 1:
            stored = entry.get("step_threads")
            compared = self.manifest.get("latency", {}).get("threads_compared")
            if stored and len(stored) == self.num_steps and compared == [1, threads]:
                self.thread_plan = list(stored)
                self.thread_plan_source = "manifest"
            else:
                image = np.zeros([1, *self.manifest["input"]["shape"][1:]], np.float32)
                self.thread_plan = rt.thread_plan(self.path, self.steps, threads, image)
                self.thread_plan_source = "measured"
            if set(self.thread_plan) != {threads}:
                self._sequence = rt.planned_steps(self.path, self.steps, self.thread_plan)
        #: How the leaves combine: the manifest's ``ensemble.combine`` (:data:`hne_tf.ensemble.RULES`).
        self.rule = self.manifest["ensemble"]["combine"]
        self.predicted_ms = [0.0] * self.num_steps

    def threads_text(self) -> str:
        """``"2 threads"``, or with a mixed per-step plan ``"1 thread for 12 steps, 2 for 4"``."""
        counts = {t: self.thread_plan.count(t) for t in sorted(set(self.thread_plan))}
        if len(counts) == 1:
            (t,) = counts
            return f"{t} thread{'s' if t > 1 else ''}"
        return ", ".join(f"{t} thread{'s' if t > 1 else ''} for {c} step{'s' if c > 1 else ''}"
                         for t, c in counts.items())

    def check_rule(self, rule: StoppingRule) -> None:
        """Raises ValueError if ``rule`` asks for more leaves than this file has steps."""
        if rule.kind == "leaves" and int(rule.value) > self.num_steps:
            raise ValueError(f"--leaves={int(rule.value)}: the anytime file has only {self.num_steps} leaves")

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """Raw ``[..., H, W, C]`` pixels in 0..255 -> the model's normalized input (:func:`samples.preprocess`)."""
        return samples.preprocess(self.manifest, pixels)

    def calibrate(self, images: np.ndarray, repeats: int = 3, percentile: float = 90.0) -> list[float]:
        """Times every step on ``images`` (``[n, H, W, C]``, batch 1 each, ``repeats``
        passes after one warm-up pass) and keeps each step's ``percentile``:
        the deadline rule's predictions. A high percentile rather than the
        median keeps most images within their deadline."""
        checks.count("repeats", repeats)
        if not 0 <= percentile <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        images = images[None] if images.ndim == 3 else images
        if len(images) == 0:
            raise ValueError("calibrate() needs at least one image")
        self.trace(images)  # warm-up
        times = np.concatenate([self.trace(images)["step_ms"] for _ in range(repeats)])
        self.predicted_ms = [float(v) for v in np.percentile(times, percentile, axis=0)]
        return self.predicted_ms

    def classify(self, image: np.ndarray, rule: StoppingRule) -> Result:
        """Live anytime inference of one normalized image ``[H, W, C]``."""
        self.check_rule(rule)
        start = time.perf_counter()
        cache = {"input": image[None]}
        ensemble = RunningMean(self.rule)
        done = 0
        probs = None
        while rule.run_next(done, self.num_steps, (time.perf_counter() - start) * 1e3,
                            self.predicted_ms[min(done, self.num_steps - 1)],
                            float(probs.max()) if probs is not None else 0.0):
            logits = self._sequence.step(done, cache)[0]  # a view of the file's output buffer (add copies it)
            done += 1
            probs = softmax(ensemble.add(logits))
        return Result(int(np.argmax(probs)), probs, done, (time.perf_counter() - start) * 1e3)

    def trace(self, images: np.ndarray, log=None) -> dict[str, np.ndarray]:
        """Runs every step on every image (batch 1), timing each step.

        Returns ``logits [n, steps, classes]`` and ``step_ms [n, steps]``.
        """
        n = len(images)
        logits = None
        times = np.zeros((n, self.num_steps))
        started = time.time()
        for i in range(n):
            out = self._sequence.run(images[i:i + 1], times[i])
            if logits is None:
                logits = np.zeros((n,) + out.shape[1:], np.float32)
            logits[i] = out[0]
            if log and (i + 1) % 2000 == 0:
                log(f"  traced {i + 1}/{n} images ({time.time() - started:.0f} s)")
        return {"logits": logits, "step_ms": times}


def replay(trace: dict[str, np.ndarray], rule: StoppingRule, predicted_ms: Sequence[float],
           combine: str = "mean_logits") -> dict[str, np.ndarray]:
    """What the live engine decides for each traced image under ``rule``.

    Elapsed time after a step is the sum of that image's recorded step times;
    the ensemble after ``k`` steps combines the first ``k`` leaves by
    ``combine`` (the manifest's ``ensemble.combine``), with the live engine's
    arithmetic (:func:`hne_tf.ensemble.prefix_ensembles`).
    Returns per image: ``steps`` used, ``prediction`` and ``elapsed_ms``.
    """
    logits, step_ms = trace["logits"], trace["step_ms"]
    n, num_steps, _ = logits.shape
    if rule.kind == "leaves" and int(rule.value) > num_steps:
        raise ValueError(f"--leaves={int(rule.value)}: the trace has only {num_steps} leaves")
    if len(predicted_ms) != num_steps:
        raise ValueError(f"predicted_ms has {len(predicted_ms)} values for {num_steps} steps")
    running = prefix_ensembles(logits, combine)
    max_prob = softmax(running).max(axis=-1)
    elapsed = np.cumsum(step_ms, axis=1)
    steps = np.zeros(n, np.int64)
    for i in range(n):
        done = 0
        while rule.run_next(done, num_steps, elapsed[i, done - 1] if done else 0.0,
                            predicted_ms[min(done, num_steps - 1)], max_prob[i, done - 1] if done else 0.0):
            done += 1
        steps[i] = done
    idx = np.arange(n)
    return {"steps": steps, "prediction": np.argmax(running[idx, steps - 1], axis=-1),
            "elapsed_ms": elapsed[idx, steps - 1]}


def summarize(rule: StoppingRule, outcome: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    row = {"rule": rule.kind, "value": rule.value,
           "accuracy": float(np.mean(outcome["prediction"] == labels)),
           "mean_leaves": float(np.mean(outcome["steps"])),
           "mean_latency_ms": float(np.mean(outcome["elapsed_ms"])),
           "p95_latency_ms": float(np.percentile(outcome["elapsed_ms"], 95))}
    if rule.kind == "deadline":
        row["deadline_met"] = float(np.mean(outcome["elapsed_ms"] <= rule.value))
    return row


def sweep_rules(num_steps: int, predicted_ms: Sequence[float]) -> list[StoppingRule]:
    """Default operating points: every leaf count, a ladder of confidence
    thresholds, and deadlines at the predicted cost of 1, 2, 4, ... leaves
    (plus half-way points)."""
    rules = [StoppingRule("leaves", k) for k in range(1, num_steps + 1)]
    rules += [StoppingRule("confidence", c) for c in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)]
    cum = np.cumsum(predicted_ms)
    marks = sorted({k for k in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64) if k <= num_steps} | {num_steps})
    deadlines = sorted({round(float(cum[k - 1]) * 1.05, 4) for k in marks})
    rules += [StoppingRule("deadline", d) for d in deadlines if d > 0]
    return rules


def format_table(rows: list[dict]) -> str:
    lines = [f"{'rule':<12} {'value':>9} {'accuracy %':>11} {'mean leaves':>12} {'mean ms':>9} {'p95 ms':>8} "
             f"{'deadline met':>13}"]
    for r in rows:
        value = f"{int(r['value'])}" if r["rule"] == "leaves" else f"{r['value']:g}"
        met = f"{r['deadline_met'] * 100:.1f}%" if "deadline_met" in r else ""
        lines.append(f"{r['rule']:<12} {value:>9} {r['accuracy'] * 100:>11.2f} {r['mean_leaves']:>12.2f} "
                     f"{r['mean_latency_ms']:>9.3f} {r['p95_latency_ms']:>8.3f} {met:>13}")
    return "\n".join(lines)


def plot(rows: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for kind, marker in zip(RULES, "o^s", strict=True):
        pts = sorted((r for r in rows if r["rule"] == kind), key=lambda r: r["mean_latency_ms"])
        if not pts:
            continue
        axes[0].plot([r["mean_latency_ms"] for r in pts], [r["accuracy"] * 100 for r in pts], marker=marker,
                     label=kind)
        pts = sorted(pts, key=lambda r: r["mean_leaves"])
        axes[1].plot([r["mean_leaves"] for r in pts], [r["accuracy"] * 100 for r in pts], marker=marker, label=kind)
    axes[0].set_xlabel("mean latency per image (ms)")
    axes[1].set_xlabel("mean leaves evaluated")
    for ax in axes:
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def check_output(output: str) -> None:
    """Raises ValueError unless ``<output>.json`` and ``.png`` can be written (before the run, not after)."""
    folder = os.path.dirname(os.path.abspath(output)) or "."
    blocker = folder
    while not os.path.exists(blocker) and os.path.dirname(blocker) != blocker:
        blocker = os.path.dirname(blocker)
    if not os.path.isdir(blocker):
        raise ValueError(f"--output {output}: {blocker} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ValueError(f"--output {output}: cannot write to {folder} ({e.strerror or e})") from None
    for ext in (".json", ".png"):
        if os.path.isdir(output + ext):
            raise ValueError(f"--output {output}: {output + ext} is a directory")


def _shorten(items: list[str], most: int = 12) -> str:
    """``a, b, c`` -- at most ``most`` items, then how many more."""
    shown = ", ".join(items[:most])
    return shown + (f", ... ({len(items) - most} more)" if len(items) > most else "")


def run(manifest_path: str, precision: str = "float32", rule: StoppingRule | None = None,  # noqa: PLR0913 -- the CLI flags, as keywords
        num_images: int | None = None, threads: int = 2, output: str | None = None,
        data_dir: str | None = None, log=print, per_step_threads: bool = True) -> dict:
    """The runner's job; returns what it writes to ``<output>.json``.

    ``num_images``: the first N test images (None: all of them; 0 is an error).
    """
    if num_images is not None:
        checks.count("--num_images", num_images)
    checks.count("--threads", threads)
    if output:
        check_output(output)
    engine = AnytimeEngine(manifest_path, precision, threads, per_step_threads)
    if engine.thread_plan_source != "--threads":
        where = "the export's measurement" if engine.thread_plan_source == "manifest" else "measured now"
        log(f"threads per step (faster of 1 and {threads}, {where}): {engine.thread_plan}")
    if rule is not None:
        engine.check_rule(rule)
    from hne_tf.quiet import quiet_native_stderr

    with quiet_native_stderr():  # TensorFlow's start-up lines: the data sets import it
        from hne_tf import datasets
    from hne_tf.export import inputs

    try:  # preprocessed as the manifest's input says (a folder's statistics are not recomputed)
        dataset = datasets.for_manifest(engine.manifest, data_dir)
    except datasets.DataError as e:
        raise ValueError(str(e)) from None
    images, labels = inputs.load_split(dataset, "test", data_dir, num_images)
    if num_images is not None and len(images) < num_images:
        raise ValueError(f"--num_images={num_images}: the {engine.manifest['model']['dataset']} test split has "
                         f"only {len(images)} images")
    names = list(engine.manifest["labels"])
    log(f"{len(names)} classes (the manifest's labels): {_shorten(names)}")
    predicted = engine.calibrate(images[:32])
    log(f"{os.path.basename(engine.path)}: {engine.num_steps} steps, predicted step latency (ms, 90th percentile "
        f"on {min(32, len(images))} images, {engine.threads_text()}, {engine.interpreter.delegate_used}): "
        + ", ".join(f"{v:.3f}" for v in predicted))
    if rule is not None:
        log(f"running {len(images)} test images live under '{rule.describe()}'")
        results = [engine.classify(images[i], rule) for i in range(len(images))]
        outcome = {"steps": np.array([r.steps for r in results]),
                   "prediction": np.array([r.label for r in results]),
                   "elapsed_ms": np.array([r.elapsed_ms for r in results])}
        rows = [summarize(rule, outcome, labels)]
        mode = "live"
        counts = np.bincount(outcome["prediction"], minlength=len(names))
        log("predicted: " + _shorten([f"{names[c]} {counts[c]}" for c in np.argsort(-counts, kind="stable")
                                      if counts[c]]))
    else:
        log(f"tracing all {engine.num_steps} steps on {len(images)} test images (batch 1)")
        trace = engine.trace(images, log=log)
        rows = [summarize(r, replay(trace, r, predicted, engine.rule), labels)
                for r in sweep_rules(engine.num_steps, predicted)]
        mode = "replay of one traced pass"
    table = format_table(rows)
    log(table)
    result = {"manifest": os.path.abspath(manifest_path), "file": os.path.basename(engine.path),
              "precision": precision, "ensemble_rule": engine.rule, "threads": threads,
              "thread_plan": engine.thread_plan, "thread_plan_source": engine.thread_plan_source,
              "delegate": engine.interpreter.delegate_used,
              "num_images": int(len(images)), "labels": names, "mode": mode, "predicted_step_ms": predicted,
              "points": rows}
    if output:
        title = (f"{engine.manifest['model']['preset']} anytime, {precision}, {engine.threads_text()}, "
                 f"{len(images)} images")
        osutil.write_json(output + ".json", result)
        osutil.replace_atomically(output + ".png", lambda path: plot(rows, path, title))
        log(f"wrote {output}.json and {output}.png")
    return result


def main(argv) -> None:
    from absl import flags

    FLAGS = flags.FLAGS
    rule = None
    if FLAGS.rule != "sweep":
        value = {"deadline": FLAGS.deadline_ms, "confidence": FLAGS.confidence, "leaves": FLAGS.leaves}.get(FLAGS.rule)
        if FLAGS.rule not in RULES:
            sys.exit(f"export.anytime: error: --rule must be sweep, {', '.join(RULES)}; got {FLAGS.rule!r}")
        if value is None:
            flag = {"deadline": "deadline_ms", "confidence": "confidence", "leaves": "leaves"}[FLAGS.rule]
            sys.exit(f"export.anytime: error: --rule={FLAGS.rule} needs --{flag}")
        try:
            rule = StoppingRule(FLAGS.rule, value)
        except ValueError as e:
            sys.exit(f"export.anytime: error: {e}")
    from hne_tf.export.inputs import InputError

    if FLAGS.precision not in precision_registry.REGISTRY:
        sys.exit(f"export.anytime: error: --precision must be one of {', '.join(precision_registry.REGISTRY)}, "
                 f"got {FLAGS.precision!r}")
    manifest_dir = os.path.dirname(os.path.abspath(FLAGS.manifest))
    output = FLAGS.output or os.path.join(manifest_dir, f"anytime_eval_{FLAGS.precision}")
    try:
        run(FLAGS.manifest, FLAGS.precision, rule, FLAGS.num_images, FLAGS.threads, output, FLAGS.data_dir,
            per_step_threads=FLAGS.per_step_threads)
    except (mf.ManifestError, ValueError, InputError, litert.UnsupportedLiteRT) as e:
        if os.environ.get("HNE_TF_TRACEBACK"):
            raise
        sys.exit(f"export.anytime: error: {e}")
    except OSError as e:
        if os.environ.get("HNE_TF_TRACEBACK"):
            raise
        what = "disk full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "cannot write"
        sys.exit(f"export.anytime: error: {what}: {e.filename or output} ({e.strerror or e}); "
                 "earlier results there are unchanged")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("manifest", "runs/hne_fashion_mnist_tflite/manifest.json", "An export's manifest.json.")
    flags.DEFINE_string("precision", "float32", "Which anytime file: " + " | ".join(precision_registry.REGISTRY)
                        + ".")
    flags.DEFINE_string("rule", "sweep", "sweep (every rule at many operating points) | deadline | confidence | "
                        "leaves")
    flags.DEFINE_float("deadline_ms", None, "Per-image budget for --rule=deadline (ms).")
    flags.DEFINE_float("confidence", None, "Max-probability threshold for --rule=confidence.")
    flags.DEFINE_integer("leaves", None, "Number of leaves for --rule=leaves.")
    flags.DEFINE_integer("num_images", None, "First N test images (default: the whole test split).")
    flags.DEFINE_integer("threads", 2, "Interpreter threads.")
    flags.DEFINE_bool("per_step_threads", True, "Run each step on 1 thread or --threads, whichever was faster "
                      "for it (--threads only when over 5% faster): the export's measurement (the manifest's "
                      "step_threads) where it compared 1 and --threads, else measured at start-up. Small steps "
                      "gain nothing from waking a thread pool. --noper_step_threads runs every step on --threads.")
    flags.DEFINE_string("output", None, "Output path without extension (default: <manifest dir>/anytime_eval_"
                        "<precision>); writes .json and .png.")
    flags.DEFINE_string("data_dir", None, "Data location (default: the data set's default).")


def cli() -> None:
    """The ``hne-anytime`` command."""
    run_app(main, _define_flags, __doc__, "export.anytime")


if __name__ == "__main__":
    cli()
