"""Explicit per-leaf reference networks built from plain Keras layers.

Each leaf of a tree ensemble becomes its own ``keras.Sequential``-like
functional model (nodes shared in the tree are duplicated here), with the
tree's weights copied slice by slice. Used to check the grouped
implementation against the definition of the ensemble.
"""

import keras
import numpy as np

from hne_tf import layers as L


def _bn(tree_bn, j):
    c = tree_bn.per_group
    bn = keras.layers.BatchNormalization(momentum=tree_bn.momentum, epsilon=tree_bn.epsilon)
    sl = slice(j * c, (j + 1) * c)
    weights = [np.asarray(w)[sl] for w in (tree_bn.gamma, tree_bn.beta, tree_bn.moving_mean,
                                           tree_bn.moving_variance)]
    return bn, weights


def _conv_bn(layer, j, x):
    """TreeConvBN -> Conv2D/DepthwiseConv2D + BatchNormalization + activation."""
    conv = layer.conv
    if layer.depthwise:
        c = conv.per_group
        k = keras.layers.DepthwiseConv2D(conv.kernel_size, conv.strides, padding="same", use_bias=False)
        kw = np.asarray(conv.kernel)[:, :, j * c:(j + 1) * c, :]
    else:
        c = conv.out_per_group
        k = keras.layers.Conv2D(c, conv.kernel_size, conv.strides, padding="same", use_bias=False)
        kw = np.asarray(conv.kernel)[..., j * c:(j + 1) * c]
    y = k(x)
    k.set_weights([kw])
    bn, w = _bn(layer.bn, j)
    y = bn(y)
    bn.set_weights(w)
    if layer.activation == "relu":
        y = keras.layers.ReLU()(y)
    elif layer.activation == "relu6":
        y = keras.layers.ReLU(max_value=6.0)(y)
    return y


def _dense(layer, j, x, activation=None):
    w = np.asarray(layer.kernel).reshape(layer.in_features, layer.groups, layer.units)[:, j]
    b = np.asarray(layer.bias).reshape(layer.groups, layer.units)[j]
    d = keras.layers.Dense(layer.units)
    y = d(x)
    d.set_weights([w, b])
    if activation == "relu6":
        y = keras.layers.ReLU(max_value=6.0)(y)
    return y


def _apply(layer, j, x):
    if isinstance(layer, L.TreeConvBN):
        return _conv_bn(layer, j, x)
    if isinstance(layer, (L.TreeBottleneck, L.TreeBasicBlock, L.TreeInvertedResidual)):
        h = x
        for sub in layer._body():
            h = _conv_bn(sub, j, h)
        if layer.shortcut is not None:
            h = keras.layers.Add()([h, _conv_bn(layer.shortcut, j, x)])
        elif layer.residual:
            h = keras.layers.Add()([h, x])
        if not isinstance(layer, L.TreeInvertedResidual):
            h = keras.layers.ReLU()(h)
        return h
    if isinstance(layer, L.TreeHead):
        h = keras.layers.GlobalAveragePooling2D()(x)
        if layer.hidden is not None:
            h = _dense(layer.hidden, j, h, layer.hidden_activation)
        return _dense(layer.classifier, j, h)
    raise TypeError(f"no reference for {type(layer).__name__}")


def _node_layers(block, j):
    if isinstance(block, L.PerNodeBlock):
        return block.node_layers(j), 0  # single-group layers: slice 0
    if isinstance(block, L.GroupedBlock):
        return block.tree_layers, j
    return [block], j  # the grouped head


def leaf_network(model, leaf):
    """A functional Keras model computing one leaf's logits ``[batch, classes]``."""
    inp = keras.Input(model.image_shape)
    x = inp
    for b, block in enumerate(model.tree_blocks):
        layers, j = _node_layers(block, model.spec.node_of_leaf(leaf, b))
        for layer in layers:
            x = _apply(layer, j, x)
    layers, j = _node_layers(model.head, leaf)
    for layer in layers:
        x = _apply(layer, j, x)
    return keras.Model(inp, x)


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
