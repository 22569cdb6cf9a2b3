"""Explicit per-node reference networks built from plain Keras layers.

Every tree layer class has a reference, declared in the table :data:`REFERENCES` with
:func:`reference_for`: a function ``(layer, j, x) -> y`` computing node ``j`` of the layer
from that node's input ``x`` alone (the parent's channels; a Keras tensor) with plain Keras
layers that hold copies of node ``j``'s slices of the layer's weights. :func:`apply` looks a
reference up by the layer's exact class, so a layer class without one (a subclass included)
fails loudly. Composite layers and blocks chain their parts' references, so the grouped
implementation is checked against the definition of the ensemble at every level:

- :func:`leaf_network` chains them into one leaf's network (nodes shared in the tree are
  duplicated), which ``test_models.py`` compares with the tree;
- :func:`node_networks` builds every node of one layer, and :func:`weight_sources` maps each
  reference weight back to the slice of the layer's variable it copies, so that
  ``layer_checks.py`` can compare outputs and gradients layer by layer.
"""

from collections.abc import Callable

import keras
import numpy as np

from hne_tf import layers as L

#: Layer class -> ``reference(layer, j, x)``. Looked up by exact class (:func:`apply`).
REFERENCES: dict[type, Callable] = {}
# id(reference weight) -> (the tree layer's variable, the index of the slice it copies).
_SOURCES: dict[int, tuple] = {}


def reference_for(cls: type) -> Callable[[Callable], Callable]:
    """Decorator: declares ``fn(layer, j, x)`` the per-node reference of layer class ``cls``."""
    def register(fn: Callable) -> Callable:
        if cls in REFERENCES:
            raise AssertionError(f"{cls.__name__} has two references")
        REFERENCES[cls] = fn
        return fn
    return register


def apply(layer, j, x):
    """Node ``j`` of ``layer`` on ``x`` (node ``j``'s input alone), by the layer class's reference."""
    reference = REFERENCES.get(type(layer))
    if reference is None:
        raise LookupError(f"no reference for {type(layer).__name__}: declare one in tests/reference.py with "
                          f"@reference_for({type(layer).__name__})")
    return reference(layer, j, x)


def _copy(ref_layer, sources):
    """Sets ``ref_layer``'s weights to slices of tree variables; ``sources``: ``(variable, index)`` per weight."""
    ref_layer.set_weights([np.asarray(var)[index] for var, index in sources])
    for weight, source in zip(ref_layer.weights, sources, strict=True):
        _SOURCES[id(weight)] = source


def _activation(name, y):
    if name == "relu":
        return keras.layers.ReLU()(y)
    if name == "relu6":
        return keras.layers.ReLU(max_value=6.0)(y)
    assert name in (None, "linear"), name
    return y


def _channels(j, c):
    return (Ellipsis, slice(j * c, (j + 1) * c))


# ---------------------------------------------------------------- primitive layers

@reference_for(L.GroupedConv2D)
def _grouped_conv(layer, j, x):
    c = layer.out_per_group
    strides = layer.strides
    if layer.kernel_size == (1, 1) and strides != (1, 1):
        # oneDNN's strided 1x1 filter gradient is wrong (at batch 4, a different kernel entry off by up to
        # 50% from run to run; GroupedConv2D avoids it): subsample with a 1x1 max pool, then stride 1.
        x = keras.layers.MaxPooling2D(pool_size=1, strides=strides, padding="same")(x)
        strides = (1, 1)
    conv = keras.layers.Conv2D(c, layer.kernel_size, strides, padding="same", use_bias=layer.use_bias)
    y = conv(x)
    _copy(conv, [(layer.kernel, _channels(j, c))] + ([(layer.bias, _channels(j, c))] if layer.use_bias else []))
    return y


@reference_for(L.TreeDepthwiseConv2D)
def _depthwise_conv(layer, j, x):
    c = layer.per_group
    conv = keras.layers.DepthwiseConv2D(layer.kernel_size, layer.strides, padding="same", use_bias=False)
    y = conv(x)
    _copy(conv, [(layer.kernel, (slice(None), slice(None), slice(j * c, (j + 1) * c)))])
    return y


@reference_for(L.TreeBatchNorm)
def _batch_norm(layer, j, x):
    bn = keras.layers.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon)
    y = bn(x)
    index = _channels(j, layer.per_group)
    _copy(bn, [(w, index) for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)])
    return y


@reference_for(L.BranchReplicate)
def _replicate(layer, j, x):
    return x  # node j's input is already its parent's channels


@reference_for(L.TreeDense)
def _dense(layer, j, x):
    """``x``: ``[batch, in_features]``, node ``j``'s features."""
    u = layer.units
    dense = keras.layers.Dense(u)
    y = dense(x)
    _copy(dense, [(layer.kernel, (slice(None), slice(j * u, (j + 1) * u))), (layer.bias, slice(j * u, (j + 1) * u))])
    return _activation(layer.activation, y)


# ---------------------------------------------------------------- composite layers

@reference_for(L.TreeConvBN)
def _conv_bn(layer, j, x):
    return _activation(layer.activation, apply(layer.bn, j, apply(layer.conv, j, x)))


def _residual(layer, j, x, final_relu):
    h = x
    for sub in layer._body():
        h = apply(sub, j, h)
    if layer.shortcut is not None:
        h = keras.layers.Add()([h, apply(layer.shortcut, j, x)])
    elif layer.residual:
        h = keras.layers.Add()([h, x])
    return keras.layers.ReLU()(h) if final_relu else h


@reference_for(L.TreeBottleneck)
def _bottleneck(layer, j, x):
    return _residual(layer, j, x, final_relu=True)


@reference_for(L.TreeBasicBlock)
def _basic_block(layer, j, x):
    return _residual(layer, j, x, final_relu=True)


@reference_for(L.TreeInvertedResidual)
def _inverted_residual(layer, j, x):
    return _residual(layer, j, x, final_relu=False)  # MobileNetV2's projection is linear


@reference_for(L.TreeHead)
def _head(layer, j, x):
    """Logits ``[batch, num_classes]`` of leaf ``j``."""
    h = keras.layers.GlobalAveragePooling2D()(x)
    if layer.hidden is not None:
        h = apply(layer.hidden, j, h)
    return apply(layer.classifier, j, h)


# ---------------------------------------------------------------- blocks

@reference_for(L.GroupedBlock)
def _grouped_block(layer, j, x):
    for sub in layer.tree_layers:
        x = apply(sub, j, x)
    return x


@reference_for(L.PerNodeBlock)
def _per_node_block(layer, j, x):
    for sub in layer.node_layers(j):  # single-group layers: their node 0
        x = apply(sub, 0, x)
    return x


# ---------------------------------------------------------------- networks

def leaf_network(model, leaf):
    """A functional Keras model computing one leaf's logits ``[batch, classes]``."""
    inp = keras.Input(model.image_shape)
    x = inp
    for b, block in enumerate(model.tree_blocks):
        x = apply(block, model.spec.node_of_leaf(leaf, b), x)
    return keras.Model(inp, apply(model.head, leaf, x))


def _branch(layer):
    """How many children each input group of ``layer`` has (a block branches in its first layer)."""
    if isinstance(layer, L.GroupedBlock):
        return _branch(layer.tree_layers[0])
    return getattr(layer, "branch", 1)


def node_input(layer, x, j):
    """The part of ``layer``'s full input ``x`` (numpy or tensor) that node ``j`` reads: its parent's.

    Groups sit side by side in the last axis (``PerNodeBlock``: with its ``input_widths``), except
    in ``TreeDense``'s ``[batch, groups, features]``.
    """
    parent = j // _branch(layer)
    if isinstance(layer, L.TreeDense):
        return x[:, parent]
    widths = getattr(layer, "input_widths", None)
    if widths is None:
        parents = layer.groups // _branch(layer)
        widths = [x.shape[-1] // parents] * parents
    start = sum(widths[:parent])
    return x[..., start:start + widths[parent]]


def node_networks(layer, x):
    """One functional Keras model per node of ``layer``, for the full input ``x`` of the layer."""
    networks = []
    for j in range(layer.groups):
        inp = keras.Input(tuple(node_input(layer, x, j).shape[1:]))
        networks.append(keras.Model(inp, apply(layer, j, inp)))
    return networks


def join_nodes(outputs):
    """The layer's output from its nodes' outputs: stacked on axis 1 (per-leaf vectors) or side by side."""
    if len(outputs[0].shape) == 2:
        return keras.ops.stack(outputs, axis=1)
    return keras.ops.concatenate(outputs, axis=-1)


def weight_sources(network):
    """``(reference weight, tree variable, index)`` for every weight of a reference network."""
    return [(w, *_SOURCES[id(w)]) for w in network.weights]


def randomize_batchnorm(model, seed=0):
    """Gives every BN non-trivial statistics so inference-mode tests mean something."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        name = w.path
        shape = tuple(w.shape)
        if name.endswith("moving_mean") or name.endswith("beta"):
            w.assign(rng.normal(0, 0.1, shape).astype("float32"))
        elif name.endswith("moving_variance") or name.endswith("gamma"):
            w.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
