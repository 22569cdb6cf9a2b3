"""Running exported files on the host with LiteRT (``ai_edge_litert``) and XNNPACK."""

from __future__ import annotations

import os
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# Quiet LiteRT's "Created TensorFlow Lite XNNPACK delegate" line unless asked.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

DELEGATE = "XNNPACK (LiteRT's default CPU delegate); LiteRT's built-in kernels where XNNPACK rejects a model"


def load_interpreter(path_or_bytes, num_threads: int = 2) -> Interpreter:
    """A LiteRT interpreter with the built-in ops and the XNNPACK delegate.

    XNNPACK refuses some quantized graphs when it prepares them (for example
    requantization scales outside its range, which degenerate one-channel
    layers produce). Every signature is therefore run once on zeros here; if
    XNNPACK fails, the model is loaded with LiteRT's built-in kernels alone.
    The choice is in ``interpreter.delegate_used`` ("xnnpack" or "builtin").
    """
    kwargs = {"model_content": bytes(path_or_bytes)} if isinstance(path_or_bytes, (bytes, bytearray)) else {
        "model_path": str(path_or_bytes)}
    try:
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

    def __call__(self, **inputs: np.ndarray) -> Dict[str, np.ndarray]:
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


def signature_keys(interpreter: Interpreter) -> List[str]:
    return list(interpreter.get_signature_list())


def run_batched(runner: Runner, images: np.ndarray, batch_size: int = 256, output: str = "logits") -> np.ndarray:
    """``runner`` over ``images`` in batches; the concatenated ``output``."""
    outs = [runner(input=images[i:i + batch_size])[output] for i in range(0, len(images), batch_size)]
    return np.concatenate(outs, axis=0)


def run_steps(interpreter: Interpreter, steps, inputs: np.ndarray, batch_size: int = 256,
              keys: Optional[Sequence[str]] = None) -> np.ndarray:
    """All anytime steps in order with a cache: logits ``[n, steps, classes]``.

    ``steps``: the manifest's (or ``TreeSpec.anytime_steps()``'s) ordered steps,
    each with ``reads`` and ``writes``; ``keys``: their signature keys.
    """
    keys = keys or [s["signature"] if isinstance(s, dict) else f"step{s.step:02d}" for s in steps]
    runners = [Runner(interpreter, k) for k in keys]
    out = []
    for i in range(0, len(inputs), batch_size):
        cache = {"input": inputs[i:i + batch_size]}
        logits = []
        for s, run in zip(steps, runners):
            reads, writes = (s["reads"], s["writes"]) if isinstance(s, dict) else (s.reads, s.writes)
            result = run(**{reads: cache[reads]})
            logits.append(result["logits"])
            cache.update({w: result[w] for w in writes})
        out.append(np.stack(logits, axis=1))
    return np.concatenate(out, axis=0)


def median_latency_ms(fn, runs: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def step_latencies_ms(interpreter: Interpreter, steps, image: np.ndarray, runs: int = 20,
                      warmup: int = 3) -> Tuple[List[float], float]:
    """Median latency of each anytime step at batch 1, and of running them all in sequence.

    Each step is timed on the cache the previous steps produced for ``image``.
    """
    keys = [s["signature"] for s in steps]
    runners = [Runner(interpreter, k) for k in keys]
    cache = {"input": image[None] if image.ndim == 3 else image}
    per_step = []
    for s, run in zip(steps, runners):
        feed = {s["reads"]: cache[s["reads"]]}
        per_step.append(median_latency_ms(lambda: run(**feed), runs, warmup))
        result = run(**feed)
        cache.update({w: result[w] for w in s["writes"]})

    def all_steps():
        c = {"input": cache["input"]}
        for s, run in zip(steps, runners):
            r = run(**{s["reads"]: c[s["reads"]]})
            for w in s["writes"]:
                c[w] = r[w]

    return per_step, median_latency_ms(all_steps, runs, warmup)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


__all__ = ["DELEGATE", "Runner", "accuracy", "load_interpreter", "median_latency_ms", "run_batched",
           "run_steps", "signature_keys", "step_latencies_ms"]
