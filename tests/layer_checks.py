"""One set of checks that every layer class of hne_tf.layers goes through (keras-hub's run_layer_test idea).

:func:`check_layer` builds a :class:`Case`'s layer on its tiny input and checks, each against an
independent expectation:

- serialization: ``get_config`` -> ``from_config`` gives the same config (compared as JSON);
  ``serialize_keras_object`` names the class as registered (``hne_tf>Class``) and deserializes to
  the same class and config; a functional model around the layer, saved as ``.keras`` and loaded
  with ``safe_mode=True``, has the same weights and gives bit-identical outputs;
- reference: node by node, the layer's plain-Keras reference (``tests/reference.py``) gives the same
  output in inference mode and in training mode, and in training mode the same gradients of a fixed
  random projection of the output, with respect to the input and to every trainable variable (the
  reference's weight gradients put back into the slices of the variables they copy);
- mixed precision: built under ``mixed_bfloat16`` and ``mixed_float16`` with the float32 layer's
  weights (which stay float32), in inference and in training mode the output has the policy's
  compute dtype (or the case's ``output_dtype``), is finite and is close to float32's.

:func:`layer_classes` finds every public layer class in the modules of :mod:`hne_tf.layers`, so a
new layer is checked, or fails for want of a case and a reference, without being listed anywhere.
"""

import dataclasses
import importlib
import json
import pkgutil
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from reference import join_nodes, node_input, node_networks, randomize_batchnorm, weight_sources

from hne_tf import layers as L

# Mixed precision against float32, relative to the largest float32 value: bfloat16 keeps 8 significant
# bits, float16 11, and a composite layer rounds after each of its parts.
MIXED_TOLERANCE = {"mixed_bfloat16": 6e-2, "mixed_float16": 1e-2}


@dataclasses.dataclass
class Case:
    """A layer to check: ``make()`` builds it (under the current dtype policy), on an input of ``input_shape``."""

    make: Callable[[], keras.layers.Layer]
    input_shape: tuple
    output_dtype: str | None = None  # under mixed precision, when not the compute dtype (float32 logits)


def layer_classes() -> dict[str, type]:
    """Every public ``keras.layers.Layer`` subclass defined in a module of :mod:`hne_tf.layers`, by name."""
    found = {}
    for info in pkgutil.iter_modules(L.__path__):
        module = importlib.import_module(f"{L.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, keras.layers.Layer) and obj.__module__ == module.__name__
                    and not name.startswith("_")):
                found[name] = obj
    return found


def _inputs(shape, seed=0) -> tf.Tensor:
    # A mean away from zero: batch norm's statistics then matter.
    return tf.constant(np.random.default_rng(seed).normal(0.5, 1.0, shape).astype("float32"))


def _close(got, want, what, rtol=1e-4, atol=1e-5):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    # float32 sums in another order: relative to the largest value of the compared array.
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, np.abs(want).max()), err_msg=what)


def check_serialization(layer, x, path):
    config = layer.get_config()
    as_json = json.dumps(config, sort_keys=True)
    assert json.dumps(type(layer).from_config(config).get_config(), sort_keys=True) == as_json
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert serialized["registered_name"] == f"{L.PACKAGE}>{type(layer).__name__}"
    clone = keras.saving.deserialize_keras_object(serialized)
    assert type(clone) is type(layer)
    assert json.dumps(clone.get_config(), sort_keys=True) == as_json
    inp = keras.Input(tuple(x.shape[1:]))
    model = keras.Model(inp, layer(inp))
    model.save(str(path))
    loaded = keras.saving.load_model(str(path), safe_mode=True)
    # Compared in order, not by path: a container's sublayers, deserialized from their configs, are
    # built before the container and so lack its name in their paths (TreeEnsemble rebuilds its
    # blocks from the preset instead, so a model's paths do not change).
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def check_against_reference(layer, x, dy):
    """Inference output, then training output and gradients, node by node against the reference networks."""
    networks = node_networks(layer, x)

    def reference(x, training):
        return join_nodes([net(node_input(layer, x, j), training=training) for j, net in enumerate(networks)])

    _close(layer(x, training=False), reference(x, False), f"{type(layer).__name__}: inference output")
    sources = [s for net in networks for s in weight_sources(net) if s[0].trainable]
    with tf.GradientTape() as tape:
        tape.watch(x)
        want = reference(x, True)
        loss = tf.reduce_sum(want * dy)
    ref_grads = tape.gradient(loss, [x] + [w for w, _, _ in sources])
    want_dw = {id(v): np.zeros(v.shape) for v in layer.trainable_variables}
    for (_, var, index), grad in zip(sources, ref_grads[1:], strict=True):
        want_dw[id(var)][index] += 0.0 if grad is None else np.asarray(grad)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * dy)
    dx, *dw = tape.gradient(loss, [x] + list(layer.trainable_variables))
    name = type(layer).__name__
    _close(y, want, f"{name}: training output")
    _close(dx, ref_grads[0], f"{name}: input gradient")
    assert len(want_dw) == len(dw)
    for var, grad in zip(layer.trainable_variables, dw, strict=True):
        assert grad is not None, f"{name}: no gradient for {var.path}"
        _close(grad, want_dw[id(var)], f"{name}: gradient of {var.path}")


def check_mixed_precision(case, layer, x):
    """The output in both modes (forward only: on CPUs where TensorFlow runs bfloat16 without oneDNN
    there is no grouped-convolution gradient, and rounding moves ReLU6's kinks)."""
    weights = layer.get_weights()  # before the training-mode call below moves the batch-norm statistics
    want = {training: np.asarray(layer(x, training=training)) for training in (False, True)}
    for policy, tolerance in MIXED_TOLERANCE.items():
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            mixed = case.make()
            mixed(x)  # sublayers made in build() take the policy too
        finally:
            keras.config.set_dtype_policy(previous)
        mixed.set_weights(weights)
        assert all(v.dtype == "float32" for v in mixed.weights)
        for training in (False, True):
            y = mixed(x, training=training)
            what = f"{type(layer).__name__} under {policy}, training={training}"
            assert y.dtype == (case.output_dtype or keras.mixed_precision.Policy(policy).compute_dtype), what
            y = tf.cast(y, tf.float32).numpy()
            assert np.isfinite(y).all(), what
            _close(y, want[training], what, rtol=0, atol=tolerance)


def check_layer(case, tmp_path):
    keras.utils.set_random_seed(0)
    layer = case.make()
    x = _inputs(case.input_shape)
    layer(x)  # build
    randomize_batchnorm(layer)  # statistics and scales away from 0 and 1: inference mode means something
    check_serialization(layer, x, tmp_path / "layer.keras")
    dy = _inputs(layer(x).shape, seed=1)
    check_against_reference(layer, x, dy)
    check_mixed_precision(case, layer, x)
    return layer
