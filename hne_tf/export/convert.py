"""Keras tree ensemble -> TFLite flatbuffers.

Four kinds of graph come out of one trained :class:`hne_tf.TreeEnsemble`:

* ``prefix_kNN``: the first ``k`` leaves, input ``"input"`` ``[batch, H, W, C]``,
  output ``"logits"`` ``[batch, k, classes]`` (the per-leaf logits; a
  consumer combines them by the manifest's ``ensemble.combine``: their mean,
  or the mean of their softmax for EnsembleNet).
* ``member_NN``: one leaf's network alone (OEMC students, ONE's branches),
  output ``"logits"`` ``[batch, classes]``.
* ``stepNN``: anytime step ``NN`` (docs/architecture.md, section 9). Its input
  is the cache slot it reads (``"input"`` or ``"block{b}"``); its outputs are
  ``"logits"`` ``[batch, classes]`` of its leaf plus the slots it writes.
* ``teacher``: the family's own teacher, for models with a ``"teacher"``
  extra (ONE's gated teacher, the paper's "ONE-E"): every leaf and the gate,
  input ``"input"``, output ``"logits"`` ``[batch, classes]``
  (``model.teacher_logits``: ``sum_i gate_i z_i``).

Every graph is traced, then frozen (variables become constants) *before* it
reaches the converter. Two facts make this necessary (TF 2.21):

* Handed variables, the converter keeps them as resource variables
  (``VAR_HANDLE`` / ``READ_VARIABLE``): batch norm is not folded, and a
  multi-signature file stores kernels whole and slices them at run time.
* Frozen, the per-node slices of the wide grouped kernels are folded into
  constants, so each node's weights land in the one step that computes it.

After conversion the flatbuffer is tidied (:func:`finalize`): internal
tensor names and empty quantization tables are dropped, empty buffers and
identical shape vectors shared. That per-tensor metadata is most of the
difference in size between the anytime file (one op per node and layer) and
the full model (one op per layer); the weights are stored once in both.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import flatbuffers
import numpy as np
import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from hne_tf import checks
from hne_tf.export import precisions
from hne_tf.layers.common import constant_weight_slices
from hne_tf.quiet import quiet_native_stderr
from hne_tf.tree import AnytimeStep, run_anytime_steps

DEFAULT_SIGNATURE = "serving_default"


def prefix_key(k: int) -> str:
    return f"prefix_k{k:02d}"


def member_key(leaf: int) -> str:
    return f"member_{leaf:02d}"


def step_key(step: int) -> str:
    return f"step{step:02d}"


#: Key (and file name stem) of the teacher graph.
TEACHER_KEY = "teacher"


#: Batch size of the exported graphs' inputs: static 1, so that no op depends
#: on a run-time batch size (a delegate then takes the graph whole). Host
#: code runs larger batches one image at a time (:mod:`hne_tf.export.runtime`).
BATCH = 1


@dataclasses.dataclass
class Graph:
    """One traced and frozen graph.

    ``inputs``: input name -> shape without batch; ``fn``: a ``tf.function``
    with a static batch of :data:`BATCH` (what is converted); ``dynamic_fn``:
    the same frozen graph for any batch (calibration data on the host).
    Both return a dict of outputs.
    """

    key: str
    inputs: dict[str, tuple]
    outputs: dict[str, tuple]
    fn: Callable
    dynamic_fn: Callable | None = None
    #: Static-batch functions other than :data:`BATCH`, by batch (:meth:`at_batch`).
    batched_fns: dict[int, Callable] = dataclasses.field(default_factory=dict)

    def at_batch(self, batch: int | None) -> Callable:
        """The graph as a ``tf.function`` with a static input batch of ``batch`` (a batched file's), or
        with a dynamic one for None (``bench/bench_batch.py`` compares it)."""
        if batch == BATCH:
            return self.fn
        if batch is None:
            return self.dynamic_fn
        if batch not in self.batched_fns:
            if self.dynamic_fn is None:
                raise ValueError(f"graph {self.key} has no dynamic-batch function to fix at batch {batch}")
            self.batched_fns[batch] = tf.function(self.dynamic_fn.python_function,
                                                  input_signature=_specs(self.inputs, batch), autograph=False)
        return self.batched_fns[batch]


def _specs(inputs: dict[str, tuple], batch: int | None) -> list[tf.TensorSpec]:
    """The float32 input signature of ``inputs`` (name -> shape without batch) at ``batch`` (None: dynamic)."""
    return [tf.TensorSpec((batch,) + tuple(shape), tf.float32, name=name) for name, shape in inputs.items()]


def _freeze(body, inputs: dict[str, tuple], key: str) -> Graph:
    # autograph=False: the model's Python control flow runs on Python values (leaves, nodes, blocks),
    # so AutoGraph has nothing to convert, yet rewriting every Keras call it meets costs about a quarter
    # of the tracing CPU time (same graph: the .tflite files are byte-identical either way).
    with constant_weight_slices():  # a prefix or member graph stores only its slices of the weights
        concrete = tf.function(body, input_signature=_specs(inputs, None), autograph=False).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    structure = concrete.structured_outputs

    def call(*args: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.nest.pack_sequence_as(structure, frozen(*args))

    call.__name__ = key  # the converter names signatures after their functions
    fn = tf.function(call, input_signature=_specs(inputs, BATCH), autograph=False)
    dynamic_fn = tf.function(call, input_signature=_specs(inputs, None), autograph=False)
    outputs = {name: tuple(t.shape[1:]) for name, t in structure.items()}
    return Graph(key, dict(inputs), outputs, fn, dynamic_fn)


def slot_shapes(model) -> dict[str, tuple]:
    """Shape (without batch) of every anytime cache slot, found by running the steps once."""
    shapes = {"input": tuple(model.image_shape)}
    for run in model.iter_anytime(tf.zeros((1,) + tuple(model.image_shape))):
        shapes.update({name: tuple(t.shape[1:]) for name, t in run.writes.items()})
    return shapes


def trace_graphs(model, prefixes: Sequence[int], members: Sequence[int], anytime: bool = True,
                 log: Callable[[str], None] = print, teacher: bool = False) -> dict[str, Graph]:
    """Traces and freezes the requested prefix, member and anytime-step graphs, and with
    ``teacher`` the teacher graph (the model must have a ``"teacher"`` extra)."""
    image = {"input": tuple(model.image_shape)}
    graphs: dict[str, Graph] = {}
    for k in prefixes:
        sub = model.prefix(k)
        graphs[prefix_key(k)] = _freeze(lambda x, sub=sub: {"logits": sub(x, training=False)}, image,
                                        prefix_key(k))
    for leaf in members:
        graphs[member_key(leaf)] = _freeze(
            lambda x, leaf=leaf: {"logits": model.member_logits(x, leaf, training=False)}, image, member_key(leaf))
    if anytime:
        shapes = slot_shapes(model)
        for s in model.anytime_steps():
            def body(x: tf.Tensor, s=s) -> dict[str, tf.Tensor]:
                logits, writes = model.anytime_step(s.step, x, training=False)
                return {"logits": logits, **writes}
            graphs[step_key(s.step)] = _freeze(body, {s.reads: shapes[s.reads]}, step_key(s.step))
    if teacher:
        def teacher_body(x: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = model.teacher_logits(model(x, training=False))
            if logits is None:
                raise ValueError(f"{model.preset} has no teacher extra: there is no teacher graph to export")
            return {"logits": logits}
        graphs[TEACHER_KEY] = _freeze(teacher_body, image, TEACHER_KEY)
    log(f"traced and froze {len(graphs)} graphs")
    return graphs


class Converter:
    """Converts sets of frozen graphs (by key) to TFLite flatbuffers."""

    def __init__(self, graphs: dict[str, Graph]) -> None:
        self.graphs = graphs

    def convert(self, keys: Sequence[str], precision: str,
                representative: Callable[[], Iterable] | None = None, batch: int | None = BATCH) -> bytes:
        """TFLite flatbuffer holding the signatures ``keys``.

        ``precision``: a name in :data:`hne_tf.export.precisions.REGISTRY`.
        ``representative`` (calibrated precisions) yields ``(key, {input_name: batch})``.
        A single-signature file gets the key ``serving_default``. ``batch``: the
        inputs' static batch (:data:`BATCH` for every on-device file; larger for
        the export's batched files, ``--batch_sizes``; None: dynamic).
        """
        entry = precisions.get(precision)
        if entry.calibrated and representative is None:
            raise ValueError(f"{precision} needs a representative dataset (calibration images)")
        if batch is not None:
            checks.count("batch", batch)
        functions = [self.graphs[k].at_batch(batch).get_concrete_function() for k in keys]
        # The graphs hold no variables; the empty module only selects the
        # converter's multi-signature path.
        converter = tf.lite.TFLiteConverter.from_concrete_functions(functions, tf.Module())
        if entry.calibrated and len(keys) == 1:
            representative = _single_signature(representative)
        entry.configure(converter, tf, representative if entry.calibrated else None)
        with warnings.catch_warnings(), quiet_native_stderr():
            # int8 calibration runs inside the converter on tf.lite.Interpreter.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            buf = converter.convert()
        return finalize(buf, rename_single=DEFAULT_SIGNATURE if len(keys) == 1 else None)


def _single_signature(representative: Callable[[], Iterable]) -> Callable[[], Iterable]:
    """A one-signature model calibrates on bare input dicts, without the key."""
    def gen() -> Iterator[dict[str, np.ndarray]]:
        for _, inputs in representative():
            yield inputs
    return gen


def finalize(buf: bytes, rename_single: str | None = None) -> bytes:
    """Drops internal tensor names and empty quantization tables, shares empty buffers.

    Signature keys and the names of signature inputs and outputs are kept.
    ``rename_single`` renames the signature of a one-signature model.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(buf))
    model.description = None
    keep = set()
    for sig in model.signatureDefs or []:
        if rename_single is not None and len(model.signatureDefs) == 1:
            sig.signatureKey = rename_single
        for tmap in list(sig.inputs or []) + list(sig.outputs or []):
            keep.add((sig.subgraphIndex, tmap.tensorIndex))

    def empty(b) -> bool:
        return b.data is None or len(b.data) == 0

    for si, subgraph in enumerate(model.subgraphs):
        for ti, tensor in enumerate(subgraph.tensors):
            if (si, ti) not in keep:
                tensor.name = None
            q = tensor.quantization
            if q is not None and (q.scale is None or len(q.scale) == 0) and q.details is None:
                tensor.quantization = None
            if empty(model.buffers[tensor.buffer]) and not tensor.isVariable:
                tensor.buffer = 0
    used = sorted({0} | {t.buffer for sg in model.subgraphs for t in sg.tensors}
                  | {m.buffer for m in (model.metadata or [])})
    remap = {old: new for new, old in enumerate(used)}
    model.buffers = [model.buffers[i] for i in used]
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = remap[tensor.buffer]
    for meta in model.metadata or []:
        meta.buffer = remap[meta.buffer]
    builder = _SharingBuilder(max(1024, len(buf)))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class _SharingBuilder(flatbuffers.Builder):
    """Writes each distinct integer vector (shapes, op inputs and outputs) once.

    Flatbuffers may point many tables at one vector, and most tensors of a
    tree share a handful of shapes; the anytime file has one tensor per node
    and layer, so this saves a few percent of its size. Buffer data keeps the
    converter's 16-byte alignment.
    """

    def __init__(self, size) -> None:
        super().__init__(size)
        self._shared = {}

    def CreateNumpyVector(self, x: np.ndarray) -> int:  # flatbuffers' name (an override)
        if x.dtype == np.uint8:  # tensor data
            self.StartVector(1, x.size, 16)
            self.head = self.head - x.size
            self.Bytes[self.head:self.head + x.size] = x.tobytes()
            self.vectorNumElems = x.size
            return self.EndVector()
        key = (x.dtype.str, x.tobytes())
        if key not in self._shared:
            self._shared[key] = super().CreateNumpyVector(x)
        return self._shared[key]


def weight_bytes(buf: bytes) -> int:
    """Bytes of constant data (weights, biases, folded batch norm) in a flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema  # the reader: no unpacking of every buffer

    model = schema.Model.GetRootAs(buf, 0)
    meta = {model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    return sum(model.Buffers(i).DataLength() for i in range(model.BuffersLength()) if i not in meta)


def representative_batches(graphs: dict[str, Graph], keys: Sequence[str], steps, images: np.ndarray,
                           batch_size: int = 16, batch: int = BATCH) -> Callable[[], Iterable]:
    """Calibration data for ``keys``: the images for prefix, member and teacher graphs,
    and for anytime steps the cache slots that the frozen float steps compute
    from those images. ``batch``: the converted graph's static batch; each
    yielded input holds that many images (fewer calibration images than
    ``batch`` are repeated to fill one)."""
    checks.count("batch", batch)
    if batch > BATCH and len(images) < batch:
        images = np.resize(images, (batch,) + images.shape[1:])  # repeats the images in order
    step_inputs: dict[str, list[np.ndarray]] = {}

    def frozen_step(s: AnytimeStep, x: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        # The concrete function: calling the tf.function itself for 16 steps
        # that share one Python body trips TF's "frequent retracing" warning.
        out = graphs[step_key(s.step)].dynamic_fn.get_concrete_function()(x)
        return out["logits"], out

    if any(k.startswith("step") for k in keys):
        for start in range(0, len(images), batch_size):
            chunk_images = tf.constant(images[start:start + batch_size])
            for run in run_anytime_steps(steps, frozen_step, chunk_images):
                step_inputs.setdefault(step_key(run.step.step), []).append(run.inputs.numpy())

    def gen() -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for key in keys:
            graph = graphs[key]
            (name,) = graph.inputs
            # The graphs take `batch` images at a time (a remainder short of it is left out).
            chunk = max(batch_size, batch) // batch * batch
            batches = step_inputs[key] if key in step_inputs else [
                images[start:start + chunk] for start in range(0, len(images), chunk)]
            for part in batches:
                for i in range(0, len(part) - batch + 1, batch):
                    yield key, {name: part[i:i + batch]}

    return gen


__all__ = ["BATCH", "TEACHER_KEY", "Converter", "Graph", "finalize", "member_key", "prefix_key",
           "representative_batches", "slot_shapes", "step_key", "trace_graphs", "weight_bytes"]
