"""Running exported files on the host with LiteRT (``ai_edge_litert``) and XNNPACK."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

# Quiet LiteRT's "Created TensorFlow Lite XNNPACK delegate" line unless asked.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ai_edge_litert.interpreter import Interpreter, OpResolverType

from hne_tf import checks
from hne_tf.export import litert_adapter as litert
from hne_tf.quiet import NOISE, quiet_native_stderr

if TYPE_CHECKING:
    from ai_edge_litert.compiled_model import CompiledModel

DELEGATE = "XNNPACK (LiteRT's default CPU delegate); LiteRT's built-in kernels where XNNPACK rejects a model"


def load_interpreter(path_or_bytes, num_threads: int = 2) -> Interpreter:
    """A LiteRT interpreter with the built-in ops and the XNNPACK delegate.

    XNNPACK refuses some quantized graphs when it prepares them (for example
    requantization scales outside its range, which degenerate one-channel
    layers produce). Every signature is therefore run once on zeros here; if
    XNNPACK fails, the model is loaded with LiteRT's built-in kernels alone.
    The choice is in ``interpreter.delegate_used`` ("xnnpack" or "builtin").
    """
    checks.count("num_threads", num_threads)
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

    A file with a static batch (every on-device file since issue 10: batch
    1; the export's batched files: ``--batch_sizes``) is run one such batch at
    a time and the outputs are concatenated, so host code can pass any
    number of images (a last batch short of the static one is padded, and
    the padding's outputs dropped). A dynamic-batch file is
    resized and re-allocated only when an input shape changes. Each call
    copies the inputs in and the outputs out (``SetTensor`` / ``GetTensor``);
    :class:`Steps` is the zero-copy path for the anytime file.
    """

    def __init__(self, interpreter: Interpreter, key: str) -> None:
        self.interpreter = interpreter
        self.key = key
        self._sub = litert.Subgraph(interpreter, key)
        self._inputs = self._sub.inputs
        self._outputs = list(self._sub.outputs.items())
        signatures = self._sub.runner.get_input_details()
        #: The static batch of the inputs, or None where it is dynamic (-1).
        self.batch = static_batch(signatures[name]["shape_signature"] for name in self._inputs)
        self._shapes = None
        self._views = None

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        if set(feed) != set(self._inputs):
            raise ValueError(f"signature {self.key} takes inputs {sorted(self._inputs)}, got {sorted(feed)}")
        n = len(next(iter(feed.values())))
        if self.batch is not None and n != self.batch:
            if n == 0:
                raise ValueError(f"signature {self.key}: no images")
            # A remainder short of the static batch is padded with its last image, and the padding's
            # outputs dropped: each image of a batch is computed independently (inference).
            short = -n % self.batch
            if short:
                feed = {k: np.concatenate([v, np.repeat(v[-1:], short, axis=0)]) for k, v in feed.items()}
            parts = [self._call({k: v[i:i + self.batch] for k, v in feed.items()})
                     for i in range(0, n + short, self.batch)]
            return {name: np.concatenate([p[name] for p in parts])[:n] for name in parts[0]}
        return self._call(feed)

    def _call(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shapes = {k: v.shape for k, v in feed.items()}
        if shapes != self._shapes:
            self._views = None
            for name, value in feed.items():
                self._sub.resize_input(self._inputs[name], value.shape)
            self._sub.allocate()
            self._shapes = shapes
        for name, value in feed.items():
            self._sub.set_tensor(self._inputs[name], value)
        self._sub.invoke()
        return {name: self._sub.get_tensor(i) for name, i in self._outputs}

    def one(self, image: np.ndarray, output: str = "logits") -> np.ndarray:
        """One image ``[1, ...]`` through a one-input signature, zero-copy: the
        image is copied into the input buffer, ``output`` is returned as a view
        of the output buffer (valid until the next call). The single-file
        counterpart of :class:`Steps`, used for timing."""
        if self._views is None:
            (name, index), = self._inputs.items()
            self._call({name: np.zeros((1, *image.shape[1:]), np.float32)})
            self._views = (self._sub.view(index), {n: self._sub.view(i) for n, i in self._outputs})
        np.copyto(self._views[0], image)
        self._sub.invoke()
        return self._views[1][output]

    def invoke(self) -> None:
        """Runs the signature again on the inputs of the last call, copying nothing (for timing)."""
        if self._shapes is None:
            raise RuntimeError("invoke() needs a previous call")
        self._sub.invoke()


def static_batch(shape_signatures) -> int | None:
    """The batch every input shares if it is static in all of them, else None."""
    batches = {int(s[0]) for s in shape_signatures}
    return batches.pop() if len(batches) == 1 and min(batches | {0}) >= 0 and batches != {0} else None


def run_batched(runner: Runner, images: np.ndarray, batch_size: int = 256, output: str = "logits") -> np.ndarray:
    """``runner`` over ``images`` in batches; the concatenated ``output``."""
    checks.count("batch_size", batch_size)
    outs = [runner(input=images[i:i + batch_size])[output] for i in range(0, len(images), batch_size)]
    return np.concatenate(outs, axis=0)


class Steps:
    """An anytime file's steps in order, with the cache slots in the interpreter's own buffers.

    ``steps``: the manifest's ordered steps (``signature``, ``reads``,
    ``writes``). The host runner, the export and the benchmark all run the
    steps through this one class.

    Zero-copy path: every signature is allocated once at one image (its
    static batch; a dynamic-batch file is resized to 1). Each slot lives in
    the output tensor of the step that writes it, and the class holds numpy
    views of those buffers (``InterpreterWrapper.tensor``). A step copies
    the one slot it reads from its writer's output buffer into its own input
    buffer (LiteRT's Python API cannot point one subgraph's input at
    another's output: this copy is the unavoidable one) and invokes its
    subgraph. Nothing else is copied, resized or allocated per step. (The
    buffers are reached through :mod:`hne_tf.export.litert_adapter`, the one
    user of LiteRT's private API.)

    ``interpreters``: optionally one interpreter per step, all of the same
    file (e.g. a 1-thread one for small steps and a 2-thread one for large
    ones, see :func:`thread_plan`); by default ``interpreter`` runs every
    step.
    """

    def __init__(self, interpreter: Interpreter, steps: Sequence[dict],
                 interpreters: Sequence[Interpreter] | None = None) -> None:
        self.steps = list(steps)
        self.interpreters = list(interpreters) if interpreters is not None else [interpreter] * len(self.steps)
        if len(self.interpreters) != len(self.steps):
            raise ValueError(f"{len(self.interpreters)} interpreters for {len(self.steps)} steps")
        writer: dict[str, np.ndarray] = {}
        self._fast = None
        self._plan = []
        #: The slot each step reads, as a view of the buffer that holds it (None: the image).
        self._sources: list[np.ndarray | None] = []
        self.outputs: list[dict[str, np.ndarray]] = []
        for s, interp in zip(self.steps, self.interpreters, strict=True):
            sub = litert.Subgraph(interp, s["signature"])
            inputs, outputs = sub.inputs, sub.outputs
            if set(inputs) != {s["reads"]}:
                raise ValueError(f"signature {s['signature']} takes inputs {sorted(inputs)}, the manifest says "
                                 f"it reads {s['reads']!r}")
            missing = set(s["writes"]) - set(outputs)
            if missing or "logits" not in outputs:
                lacking = sorted((missing | {"logits"}) - set(outputs))
                raise ValueError(f"signature {s['signature']} has no output(s) {lacking}")
            shape = sub.runner.get_input_details()[s["reads"]]["shape_signature"]
            if shape[0] != 1:
                sub.resize_input(inputs[s["reads"]], [1, *shape[1:]])
            sub.allocate()
            views = {name: sub.view(i) for name, i in outputs.items()}
            dst = sub.view(inputs[s["reads"]])
            if s["reads"] != "input" and s["reads"] not in writer:
                raise ValueError(f"step {s['signature']} reads {s['reads']!r} before any step writes it")
            # The slot as it stands before this step: its latest writer so far
            # (later steps rewrite a slot for other nodes of the tree).
            self._sources.append(None if s["reads"] == "input" else writer[s["reads"]])
            self._plan.append((*sub.invoke_parts, dst, s["reads"], views["logits"]))
            self.outputs.append(views)
            for w in s["writes"]:
                writer[w] = views[w]

    def __len__(self) -> int:
        return len(self.steps)

    def step(self, index: int, cache: dict[str, np.ndarray]) -> np.ndarray:
        """Runs step ``index`` (0-based) on one image; its logits ``[1, classes]``.

        ``cache`` must hold ``"input"`` (``[1, H, W, C]``); the slots the step
        writes are added to it as views of the interpreter's buffers (valid
        until that step runs again). The logits are such a view too.
        """
        invoke, sub, dst, reads, logits = self._plan[index]
        src = self._sources[index]
        np.copyto(dst, cache["input"] if src is None else src)
        invoke(sub)
        for w in self.steps[index]["writes"]:
            cache[w] = self.outputs[index][w]
        return logits

    def run(self, inputs: np.ndarray, step_ms: np.ndarray | None = None) -> np.ndarray:
        """Every step on ``inputs`` ``[n, H, W, C]``, one image at a time: logits
        ``[n, steps, classes]``; with ``step_ms``, each step's ms of the last
        image into ``step_ms`` (``[steps]``) or of every image (``[n, steps]``)."""
        inputs = np.asarray(inputs, np.float32)
        n = len(inputs)
        out = np.empty((n, len(self._plan)) + self._plan[0][4].shape[1:], np.float32) if self._plan else None
        for i in range(n):
            row = None if step_ms is None else (step_ms[i] if np.ndim(step_ms) == 2 else step_ms)
            self._run_one(inputs[i:i + 1], out[i], row)
        return out

    def _run_one(self, image, out, step_ms) -> None:
        # (invoke, subgraph, input buffer, slot source or None, logits row): all views, made once.
        fast = self._fast
        if fast is None:
            fast = self._fast = [(invoke, sub, dst, src, logits[0]) for (invoke, sub, dst, _, logits), src
                                 in zip(self._plan, self._sources, strict=True)]
        copyto = np.copyto
        if step_ms is None:
            for j, (invoke, sub, dst, src, row) in enumerate(fast):
                copyto(dst, image if src is None else src)
                invoke(sub)
                out[j] = row
            return
        clock = time.perf_counter
        for j, (invoke, sub, dst, src, row) in enumerate(fast):
            t = clock()
            copyto(dst, image if src is None else src)
            invoke(sub)
            out[j] = row
            step_ms[j] = (clock() - t) * 1e3

    def invoke(self) -> None:
        """Every step again on its last inputs, copying nothing (for timing the compute alone)."""
        for invoke, sub, *_ in self._plan:
            invoke(sub)


def split_run(handles: Sequence, run: Callable[[object, np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """``run(handle, chunk)`` for each of ``handles`` on its own contiguous chunk of ``images``, all at
    once in threads; the outputs concatenated in image order.

    For a pass over many images (the export's accuracy on the test split): one 1-thread interpreter per
    CPU, each in a thread of its own, beats one interpreter with as many threads, because LiteRT's
    invoke releases the GIL and each image is independent of the others, while XNNPACK's threads
    synchronise inside every operator. Each image is computed alone either way, so the outputs are
    the same. A handle (an interpreter, or a :class:`Runner` or :class:`Steps` over one) is used by
    one thread only: load them first, in this thread (loading redirects the process's stderr).
    """
    if not handles:
        raise ValueError("split_run needs at least one handle")
    bounds = np.linspace(0, len(images), min(len(handles), max(len(images), 1)) + 1).astype(int)
    chunks = [(h, images[a:b]) for h, a, b in zip(handles, bounds[:-1], bounds[1:], strict=False)]
    if len(chunks) == 1:
        return run(*chunks[0])
    with ThreadPoolExecutor(len(chunks)) as pool:
        return np.concatenate(list(pool.map(lambda hc: run(*hc), chunks)), axis=0)


def run_steps(interpreter: Interpreter, steps: Sequence[dict], inputs: np.ndarray) -> np.ndarray:
    """All anytime steps over ``inputs``, one image at a time (the zero-copy path of
    :class:`Steps`): logits ``[n, steps, classes]``."""
    return Steps(interpreter, steps).run(inputs)


# LiteRT's CompiledModel start-up lines (environment, accelerator registry,
# vendor plugins that are not installed): informational.
_COMPILED_NOISE = tuple(re.compile(p) for p in (
    r"^(INFO|WARNING): \[[\w.]+:\d+\]", r"^\u2514 Could not load shared library", r"^\s*$"))


_ENVIRONMENT = None


def compiled_model(path: str, num_threads: int = 1) -> CompiledModel | None:
    """LiteRT's ``CompiledModel`` of ``path`` on the CPU (XNNPACK), or None where
    this ``ai_edge_litert`` has no such API."""
    try:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options
    except ImportError:  # pragma: no cover - older LiteRT
        return None
    checks.count("num_threads", num_threads)
    global _ENVIRONMENT
    with quiet_native_stderr(NOISE + _COMPILED_NOISE):
        if _ENVIRONMENT is None:
            # One environment for every model: each one created and dropped
            # announces its accelerators on stderr again.
            _ENVIRONMENT = litert.default_environment()
        model = CompiledModel.from_file(str(path), environment=_ENVIRONMENT, options=Options(
            hardware_accelerators=HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=num_threads)))
        _flush_c_stdio()  # LiteRT's log lines sit in a C stdio buffer; flush them into the block
    return model


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no C library to reach
        pass


class CompiledSteps:
    """The anytime steps on LiteRT's ``CompiledModel``, handing buffers over.

    Every slot is one ``TensorBuffer``: the output buffer of the step that
    writes it is passed, as is, as the input buffer of the step that reads
    it, so no slot is copied at all; only the image is written in and each
    step's logits read out. For measurement beside :class:`Steps`.
    """

    def __init__(self, model, steps: Sequence[dict]) -> None:
        self.model = model
        self.steps = list(steps)
        signatures = model.get_signature_list()
        first = self.steps[0]
        self.image = model.create_input_buffer_by_name(first["signature"], first["reads"])
        slots = {"input": self.image}
        self._plan = []
        for s in self.steps:
            sig = s["signature"]
            outs = {name: model.create_output_buffer_by_name(sig, name) for name in signatures[sig]["outputs"]}
            self._plan.append((sig, {s["reads"]: slots[s["reads"]]}, outs, outs["logits"]))
            slots.update({w: outs[w] for w in s["writes"]})
        self.num_classes = int(np.prod(model.get_output_tensor_details(first["signature"])["logits"]["shape"]))

    def run(self, image: np.ndarray) -> np.ndarray:
        """Every step on one image ``[1, H, W, C]``: logits ``[steps, classes]``."""
        self.image.write(np.asarray(image, np.float32))
        run, n = self.model.run_by_name, self.num_classes
        out = []
        for sig, ins, outs, logits in self._plan:
            run(sig, ins, outs)
            out.append(logits.read(n, np.float32))
        return np.stack(out)


#: More threads are chosen only when they are this much faster (relative): within it, the difference is the
#: noise of a shared machine, and the fewer threads leave cores to the rest of the app.
THREAD_MARGIN = 0.05


def faster_count(counts: Sequence[int], medians: Sequence[float], margin: float = THREAD_MARGIN) -> int:
    """Of thread ``counts`` (ascending) with their ``medians``, the fewest that no larger count beats by
    more than ``margin``: the rule of the export's stored plans and of :func:`thread_plan`, and of the
    page's and the Android engine's own choice (``tests/data/thread_choice_vectors.json``)."""
    if not 0 <= margin <= 1:
        raise ValueError(f"a thread margin must be in [0, 1], got {margin}")
    if not counts or len(counts) != len(medians):
        raise ValueError(f"need one time per thread count, got {len(counts)} counts and {len(medians)} times")
    best = 0
    for i in range(1, len(counts)):
        if counts[i] <= counts[i - 1]:
            raise ValueError(f"thread counts must ascend, got {list(counts)}")
        if medians[i] < medians[best] * (1 - margin):
            best = i
    return counts[best]


def thread_plan(path: str, steps: Sequence[dict], threads: int, image: np.ndarray, runs: int = 30,
                warmup: int = 3) -> list[int]:
    """Per step, the thread count (1 or ``threads``) under which it ran faster (:func:`faster_count`).

    Both interpreters run the whole sequence, interleaved, ``runs`` times;
    each step's medians are compared. Small steps usually do better on one
    thread: waking the pool costs more than the second core saves.
    """
    seqs = {t: Steps(load_interpreter(path, num_threads=t), steps) for t in sorted({1, threads})}
    rows = {t: [] for t in seqs}

    def timed(t) -> None:
        row = np.zeros(len(steps))
        seqs[t].run(image, row)
        rows[t].append(row)

    interleaved_ms({t: (lambda t=t: timed(t)) for t in seqs}, runs, warmup)
    med = {t: np.median(np.asarray(r[-runs:]), axis=0) for t, r in rows.items()}
    counts = sorted(seqs)
    return [faster_count(counts, [med[t][i] for t in counts]) for i in range(len(steps))]


def planned_steps(path: str, steps: Sequence[dict], plan: Sequence[int]) -> Steps:
    """:class:`Steps` running step ``i`` on an interpreter of ``plan[i]`` threads (one per count)."""
    interpreters = {t: load_interpreter(path, num_threads=t) for t in sorted(set(plan))}
    return Steps(interpreters[plan[0]], steps, [interpreters[t] for t in plan])


def signature_models(buf: bytes) -> dict[str, bytes]:
    """Each signature of a flatbuffer as a model of its own (its subgraph alone,
    the buffers shared), so that LiteRT's node list (subgraph 0 only in the
    Python API) can be read for every signature."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)  # unpacked once: the slow part
    subgraphs, out = model.subgraphs, {}
    for sig in list(model.signatureDefs or []):  # each packed alone from the same (local) object
        key = sig.signatureKey.decode() if isinstance(sig.signatureKey, bytes) else sig.signatureKey
        model.subgraphs, model.signatureDefs = [subgraphs[sig.subgraphIndex]], [sig]
        sig.subgraphIndex = 0
        builder = flatbuffers.Builder(len(buf) + 1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        out[key] = bytes(builder.Output())
    return out


def partitions(buf: bytes, num_threads: int = 1, interpreter: Interpreter | None = None) -> dict[str, dict]:
    """How XNNPACK takes each signature of a flatbuffer.

    Per signature: ``partitions`` (the delegate kernels LiteRT put in its
    execution plan; 1 = the whole graph, 0 = XNNPACK refused it), ``ops``
    (the graph's op count) and ``fallback`` (the names of the ops that stay
    on LiteRT's built-in kernels). Read from the interpreter's node list after
    the delegate is applied: the replaced ops stay listed, the delegate
    kernels are appended as ``DELEGATE`` nodes, and an op runs outside them
    exactly when a tensor it writes is read by a partition, by another such
    op or is a graph output, without being written by a partition.

    ``interpreter``: ``buf`` already loaded (:func:`load_interpreter`). A
    one-signature file is then read from it, not loaded again. LiteRT's
    Python API lists the nodes of subgraph 0 only, so each signature of a
    multi-signature file is loaded as a model of its own
    (:func:`signature_models`).
    """
    if interpreter is not None:
        keys = list(interpreter.get_signature_list())
        if len(keys) == 1 and litert.Subgraph(interpreter, keys[0]).subgraph == 0:
            return {keys[0]: _partitions_of(interpreter)}
    return {key: _partitions_of(load_interpreter(one, num_threads=num_threads))
            for key, one in signature_models(buf).items()}


def _partitions_of(interpreter: Interpreter) -> dict:
    """:func:`partitions` of subgraph 0 of ``interpreter``."""
    if interpreter.delegate_used != "xnnpack":
        ops = [d["op_name"] for d in litert.ops_details(interpreter)]
        return {"partitions": 0, "ops": len(ops), "fallback": sorted(ops)}
    details = litert.ops_details(interpreter)
    delegates = [d for d in details if d["op_name"] == "DELEGATE"]
    ops = [d for d in details if d["op_name"] != "DELEGATE"]
    by_delegate = {int(t) for d in delegates for t in d["outputs"]}
    needed = {int(t) for d in delegates for t in d["inputs"]}
    needed |= {int(d["index"]) for d in interpreter.get_output_details()}
    outside: set[int] = set()
    changed = True
    while changed:
        changed = False
        for d in ops:
            outs = {int(t) for t in d["outputs"]}
            if d["index"] not in outside and outs & needed and not outs <= by_delegate:
                outside.add(d["index"])
                needed |= {int(t) for t in d["inputs"] if t >= 0}
                changed = True
    return {"partitions": len(delegates), "ops": len(ops),
            "fallback": sorted(d["op_name"] for d in ops if d["index"] in outside)}


def interleaved_ms(callables: dict[str, Callable[[], object]], runs: int, warmup: int = 3,
                   clock: Callable[[], float] = time.perf_counter, prime: bool = False) -> dict[str, np.ndarray]:
    """Wall time in ms of every callable, ``[runs]`` each, timed round-robin.

    ``warmup`` untimed rounds first; then each of ``runs`` rounds calls every
    callable once, starting one further along the list each round, so that a
    burst of load or a slow first call after a switch lands on all of them
    alike rather than on whichever was timed at that moment.

    ``prime``: call each callable once, untimed, right before its timed call,
    so every one is timed with its own weights in the caches (as an app
    calling one model again and again) rather than after whichever file ran
    before it in the round, which favours the callables that follow one on
    the same file.
    """
    checks.count("runs", runs)
    checks.count("warmup", warmup, 0)
    names = list(callables)
    for _ in range(warmup):
        for name in names:
            callables[name]()
    times = {name: np.zeros(runs) for name in names}
    for r in range(runs):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            if prime:
                callables[name]()
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


__all__ = ["DELEGATE", "THREAD_MARGIN", "CompiledSteps", "Runner", "Steps", "accuracy", "compiled_model",
           "faster_count", "planned_steps",
           "thread_plan", "interleaved_ms", "load_interpreter", "median_iqr", "partitions",
           "run_batched", "run_steps", "split_run", "signature_models", "static_batch"]
