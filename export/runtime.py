"""Running exported files on the host with LiteRT (``ai_edge_litert``) and XNNPACK."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np

# Quiet LiteRT's "Created TensorFlow Lite XNNPACK delegate" line unless asked.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from export.quiet import quiet_native_stderr  # noqa: E402

DELEGATE = "XNNPACK (LiteRT's default CPU delegate); LiteRT's built-in kernels where XNNPACK rejects a model"


def load_interpreter(path_or_bytes, num_threads: int = 2) -> Interpreter:
    """A LiteRT interpreter with the built-in ops and the XNNPACK delegate.

    XNNPACK refuses some quantized graphs when it prepares them (for example
    requantization scales outside its range, which degenerate one-channel
    layers produce). Every signature is therefore run once on zeros here; if
    XNNPACK fails, the model is loaded with LiteRT's built-in kernels alone.
    The choice is in ``interpreter.delegate_used`` ("xnnpack" or "builtin").
    """
    positive("num_threads", num_threads)
    kwargs = {"model_content": bytes(path_or_bytes)} if isinstance(path_or_bytes, (bytes, bytearray)) else {
        "model_path": str(path_or_bytes)}
    try:
        with quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(**kwargs, num_threads=num_threads,
                                      experimental_op_resolver_type=OpResolverType.BUILTIN)
            _probe(interpreter)
        interpreter.delegate_used = "xnnpack"
    except RuntimeError as e:
        if "XNNPACK" not in str(e) and "XNNPack" not in str(e):
            raise
        interpreter = Interpreter(**kwargs, num_threads=num_threads,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        _probe(interpreter)
        interpreter.delegate_used = "builtin"
    return interpreter


def _probe(interpreter: Interpreter) -> None:
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        feed = {}
        for name, detail in runner.get_input_details().items():
            shape = [1 if d < 0 else d for d in detail["shape_signature"]]
            feed[name] = np.zeros(shape, detail["dtype"])
        runner(**feed)


class Runner:
    """Calls one signature of an interpreter with numpy inputs of any batch size.

    LiteRT's ``SignatureRunner.__call__`` resizes and re-allocates the
    subgraph's tensors on every call, which costs more than a small anytime
    step itself. This runner re-allocates only when an input shape changes,
    as an app would, through the same wrapper calls that ``__call__`` makes
    (falling back to ``__call__`` if a LiteRT version lacks them).
    """

    def __init__(self, interpreter: Interpreter, key: str):
        self.interpreter = interpreter
        self.key = key
        self._runner = interpreter.get_signature_runner(key)
        try:
            self._wrapper = self._runner._interpreter_wrapper
            self._index = self._runner._subgraph_index
            self._inputs = dict(self._runner._inputs)
            self._outputs = list(self._runner._outputs)
        except AttributeError:  # pragma: no cover - other LiteRT versions
            self._wrapper = None
        self._shapes = None

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        if self._wrapper is None:
            return self._runner(**feed)
        if set(feed) != set(self._inputs):
            raise ValueError(f"signature {self.key} takes inputs {sorted(self._inputs)}, got {sorted(feed)}")
        shapes = {k: v.shape for k, v in feed.items()}
        if shapes != self._shapes:
            for name, value in feed.items():
                self._wrapper.ResizeInputTensor(self._inputs[name], np.array(value.shape, np.int32), False,
                                                self._index)
            self._wrapper.AllocateTensors(self._index)
            self._shapes = shapes
        for name, value in feed.items():
            self._wrapper.SetTensor(self._inputs[name], value, self._index)
        self._wrapper.Invoke(self._index)
        return {name: self._wrapper.GetTensor(i, self._index) for name, i in self._outputs}

    def invoke(self) -> None:
        """Runs the signature again on the inputs of the last call, copying nothing (for timing)."""
        if self._wrapper is None or self._shapes is None:
            raise RuntimeError("invoke() needs a LiteRT with signature wrappers and a previous call")
        self._wrapper.Invoke(self._index)


def run_batched(runner: Runner, images: np.ndarray, batch_size: int = 256, output: str = "logits") -> np.ndarray:
    """``runner`` over ``images`` in batches; the concatenated ``output``."""
    positive("batch_size", batch_size)
    outs = [runner(input=images[i:i + batch_size])[output] for i in range(0, len(images), batch_size)]
    return np.concatenate(outs, axis=0)


class Steps:
    """An anytime file's steps in order, passing one cache between them.

    ``steps``: the manifest's ordered steps (``signature``, ``reads``,
    ``writes``). The host runner, the export and the benchmark all run the
    steps through this one class.
    """

    def __init__(self, interpreter: Interpreter, steps: Sequence[dict]):
        self.steps = list(steps)
        self.runners = [Runner(interpreter, s["signature"]) for s in self.steps]

    def __len__(self) -> int:
        return len(self.steps)

    def step(self, index: int, cache: dict[str, np.ndarray]) -> np.ndarray:
        """Runs step ``index`` (0-based) on ``cache``, adds the slots it writes; its logits."""
        s = self.steps[index]
        out = self.runners[index](**{s["reads"]: cache[s["reads"]]})
        for w in s["writes"]:
            cache[w] = out[w]
        return out["logits"]

    def run(self, inputs: np.ndarray, step_ms: np.ndarray | None = None) -> np.ndarray:
        """Every step on ``inputs``: logits ``[batch, steps, classes]``; each step's ms into ``step_ms``."""
        cache = {"input": inputs}
        logits = []
        for i in range(len(self.steps)):
            t = time.perf_counter()
            logits.append(self.step(i, cache))
            if step_ms is not None:
                step_ms[i] = (time.perf_counter() - t) * 1e3
        return np.stack(logits, axis=1)

    def invoke(self) -> None:
        """Every step again on its last inputs, copying nothing (for timing the compute alone)."""
        for run in self.runners:
            run.invoke()


def run_steps(interpreter: Interpreter, steps: Sequence[dict], inputs: np.ndarray,
              batch_size: int = 256) -> np.ndarray:
    """All anytime steps over ``inputs`` in batches: logits ``[n, steps, classes]``."""
    positive("batch_size", batch_size)
    sequence = Steps(interpreter, steps)
    return np.concatenate([sequence.run(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)])


def positive(name: str, value, minimum: int = 1) -> None:
    """Raises ValueError naming ``name`` unless ``value`` is an integer >= ``minimum``.

    A count of 0 never means "all" here: callers pass None for that.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")


def interleaved_ms(callables: dict[str, Callable[[], object]], runs: int, warmup: int = 3,
                   clock: Callable[[], float] = time.perf_counter) -> dict[str, np.ndarray]:
    """Wall time in ms of every callable, ``[runs]`` each, timed round-robin.

    ``warmup`` untimed rounds first; then each of ``runs`` rounds calls every
    callable once, starting one further along the list each round, so that a
    burst of load or a slow first call after a switch lands on all of them
    alike rather than on whichever was timed at that moment.
    """
    positive("runs", runs)
    positive("warmup", warmup, 0)
    names = list(callables)
    for _ in range(warmup):
        for name in names:
            callables[name]()
    times = {name: np.zeros(runs) for name in names}
    for r in range(runs):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            t = clock()
            callables[name]()
            times[name][r] = (clock() - t) * 1e3
    return times


def median_iqr(samples) -> tuple[float, float]:
    """Median and interquartile range (75th - 25th percentile) of ``samples``."""
    q25, q50, q75 = np.percentile(np.asarray(samples, np.float64), [25, 50, 75])
    return float(q50), float(q75 - q25)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


__all__ = ["DELEGATE", "Runner", "Steps", "accuracy", "interleaved_ms", "load_interpreter", "median_iqr", "positive",
           "run_batched", "run_steps"]
