"""Composite tree layers: conv + BN, the residual blocks of the papers' networks, and the head."""

from __future__ import annotations

import keras
import tensorflow as tf

from hne_tf.layers.common import GroupCost, NodeCosts, _activation, _full, _pair, register, sequence_cost
from hne_tf.layers.primitives import BranchReplicate, GroupedConv2D, TreeBatchNorm, TreeDense, TreeDepthwiseConv2D


class _Composite(keras.layers.Layer):
    """A layer made of tree layers applied in sequence (after replication)."""

    def _sublayers_cost(self, layers, input_hw) -> GroupCost:
        return sequence_cost(layers, input_hw)


@register
class TreeConvBN(_Composite):
    """[replicate] -> grouped conv (or depthwise) -> BN -> activation.

    Args:
      filters: output channels per group.
      kernel_size, strides: of the convolution.
      groups: output groups.
      branch: replication factor applied to the input first.
      depthwise: use a depthwise convolution (``filters`` must equal the
        input channels per group).
      activation: ``"relu"``, ``"relu6"`` or ``None``.
    """

    def __init__(self, filters, kernel_size=3, strides=1, groups=1, branch=1, depthwise=False,
                 activation="relu", **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.groups = int(groups)
        self.branch = int(branch)
        self.depthwise = bool(depthwise)
        self.activation = activation
        self._act = _activation(activation)
        self.replicate = BranchReplicate(self.branch, self.groups, name="replicate")
        if self.depthwise:
            self.conv = TreeDepthwiseConv2D(self.kernel_size, self.strides, self.groups, name="conv")
        else:
            self.conv = GroupedConv2D(self.filters * self.groups, self.kernel_size, self.strides,
                                      self.groups, name="conv")
        self.bn = TreeBatchNorm(self.groups, name="bn")

    def build(self, input_shape) -> None:
        cin = int(input_shape[-1]) * self.branch
        if self.depthwise and cin != self.filters * self.groups:
            raise ValueError(f"{self.name}: depthwise needs filters per group == input channels per group")

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        x = self.replicate(x, group_range=group_range)
        x = self.conv(x, training=training, group_range=group_range)
        x = self.bn(x, training=training, group_range=group_range)
        return self._act(x)

    def group_cost(self, input_hw) -> GroupCost:
        return self._sublayers_cost([self.conv, self.bn], input_hw)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "groups": self.groups, "branch": self.branch,
                "depthwise": self.depthwise, "activation": self.activation}


class _ResidualBlock(_Composite):
    """Shared machinery: [replicate] -> body -> (+ shortcut) -> activation."""

    def __init__(self, filters, strides=1, groups=1, branch=1, projection=False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = _pair(strides)
        self.groups = int(groups)
        self.branch = int(branch)
        self.projection = bool(projection)
        self.replicate = BranchReplicate(self.branch, self.groups, name="replicate")
        self.shortcut = (TreeConvBN(self.filters, 1, self.strides, self.groups, activation=None,
                                    name="shortcut") if self.projection else None)

    def _check_identity(self, input_shape, residual) -> int:
        cin = int(input_shape[-1]) * self.branch // self.groups
        if residual and self.shortcut is None and (cin != self.filters or self.strides != (1, 1)):
            raise ValueError(
                f"{self.name}: identity shortcut needs stride 1 and {self.filters} input channels per "
                f"group, got stride {self.strides} and {cin}; pass projection=True")
        return cin

    def _body(self) -> list[keras.layers.Layer]:
        raise NotImplementedError

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        x = self.replicate(x, group_range=group_range)
        h = x
        for layer in self._body():
            h = layer(h, training=training, group_range=group_range)
        if self.shortcut is not None:
            h = h + self.shortcut(x, training=training, group_range=group_range)
        elif self.residual:
            h = h + x
        return self._final(h)

    def _final(self, h) -> tf.Tensor:
        return h

    def group_cost(self, input_hw) -> GroupCost:
        macs, params, hw = self._sublayers_cost(self._body(), input_hw)
        if self.shortcut is not None:
            m, p, _ = self.shortcut.group_cost(input_hw)
            macs, params = macs + m, params + p
        return macs, params, hw

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "groups": self.groups, "branch": self.branch, "projection": self.projection}


@register
class TreeBottleneck(_ResidualBlock):
    """HNE "ResNet" / "ResNet+Branching" layer (AAAI Table 2, Fig. 7).

    A bottleneck residual block whose 3x3 convolution is depthwise:
    grouped 1x1 (filters / expansion) -> depthwise 3x3 (stride) -> grouped 1x1
    (filters), each followed by BN, ReLU after the sum. The paper gives only
    the block's input and output channels; we use ResNet's usual bottleneck
    ratio of 4 for the inner width. The branching variant replicates
    branches first and uses a projection shortcut, like ResNet's downsampling
    blocks.
    """

    def __init__(self, filters, strides=1, groups=1, branch=1, projection=False, expansion=4, **kwargs) -> None:
        super().__init__(filters, strides, groups, branch, projection, **kwargs)
        self.expansion = int(expansion)
        mid = max(1, self.filters // self.expansion)
        self.reduce = TreeConvBN(mid, 1, 1, self.groups, activation="relu", name="reduce")
        self.spatial = TreeConvBN(mid, 3, self.strides, self.groups, depthwise=True, activation="relu",
                                  name="depthwise")
        self.expand = TreeConvBN(self.filters, 1, 1, self.groups, activation=None, name="expand")
        self.residual = True

    def build(self, input_shape) -> None:
        self._check_identity(input_shape, True)

    def _body(self) -> list[keras.layers.Layer]:
        return [self.reduce, self.spatial, self.expand]

    def _final(self, h) -> tf.Tensor:
        return tf.nn.relu(h)

    def get_config(self) -> dict:
        return {**super().get_config(), "expansion": self.expansion}


@register
class TreeBasicBlock(_ResidualBlock):
    """ResNet basic block (two 3x3 convolutions), grouped.

    The CIFAR ResNet-32/110 of ONE, OEMC and EnsembleNet is built from it.
    """

    def __init__(self, filters, strides=1, groups=1, branch=1, projection=False, **kwargs) -> None:
        super().__init__(filters, strides, groups, branch, projection, **kwargs)
        self.conv1 = TreeConvBN(self.filters, 3, self.strides, self.groups, activation="relu", name="conv1")
        self.conv2 = TreeConvBN(self.filters, 3, 1, self.groups, activation=None, name="conv2")
        self.residual = True

    def build(self, input_shape) -> None:
        self._check_identity(input_shape, True)

    def _body(self) -> list[keras.layers.Layer]:
        return [self.conv1, self.conv2]

    def _final(self, h) -> tf.Tensor:
        return tf.nn.relu(h)


@register
class TreeInvertedResidual(_ResidualBlock):
    """HNE "MBNet" / "MBNet+Branching" layer (AAAI Table 3, Fig. 8).

    MobileNetV2's inverted residual with grouped 1x1 convolutions: expand
    (x expansion, ReLU6) -> depthwise 3x3 (stride, ReLU6) -> linear project.
    The identity shortcut is used when stride is 1, channels are unchanged and
    the layer does not branch; the branching variant, like MobileNetV2's
    shortcut-less blocks, has none.
    """

    def __init__(self, filters, strides=1, groups=1, branch=1, expansion=6, **kwargs) -> None:
        super().__init__(filters, strides, groups, branch, projection=False, **kwargs)
        self.expansion = int(expansion)

    def build(self, input_shape) -> None:
        cin = int(input_shape[-1]) * self.branch // self.groups
        hidden = cin * self.expansion
        self.expand_conv = TreeConvBN(hidden, 1, 1, self.groups, activation="relu6", name="expand")
        self.spatial = TreeConvBN(hidden, 3, self.strides, self.groups, depthwise=True,
                                  activation="relu6", name="depthwise")
        self.project = TreeConvBN(self.filters, 1, 1, self.groups, activation=None, name="project")
        self.residual = self.branch == 1 and self.strides == (1, 1) and cin == self.filters

    def _body(self) -> list[keras.layers.Layer]:
        return [self.expand_conv, self.spatial, self.project]

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("projection")
        return {**config, "expansion": self.expansion}


@register
class TreeHead(_Composite):
    """Per-leaf classifier: global average pool -> [dense + act] -> linear.

    Output ``[batch, leaves_in_range, num_classes]`` (logits).
    ``hidden_units`` gives the MobileNet HNE's extra "Avg. Pool + Linear +
    ReLU6" layer (AAAI Table 3).
    """

    def __init__(self, num_classes, groups=1, hidden_units=None, hidden_activation="relu6", **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.groups = int(groups)
        self.hidden_units = None if hidden_units is None else int(hidden_units)
        self.hidden_activation = hidden_activation
        self.hidden = (TreeDense(self.hidden_units, self.groups, hidden_activation, name="hidden")
                       if self.hidden_units else None)
        # Logits in float32 under mixed precision, as Keras advises for a model's output: the
        # softmax and the loss then see float32 values (bfloat16 would round a logit of 10 to
        # steps of 1/16). The classifier is a tiny matmul, so this costs nothing measurable.
        self.classifier = TreeDense(self.num_classes, self.groups, name="classifier", dtype="float32")

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        start, stop = _full(group_range, self.groups)
        pooled = tf.reduce_mean(x, axis=[1, 2])
        h = tf.reshape(pooled, (-1, stop - start, x.shape[-1] // (stop - start)))
        if self.hidden is not None:
            h = self.hidden(h, group_range=group_range)
        return self.classifier(tf.cast(h, tf.float32), group_range=group_range)

    def leaf_logits(self, x, leaf: int, training=None) -> tf.Tensor:
        """Logits ``[batch, num_classes]`` of group ``leaf`` alone; ``x`` holds only that group's channels."""
        h = tf.reduce_mean(x, axis=[1, 2])
        if self.hidden is not None:
            h = self.hidden.single(h, leaf)
        return self.classifier.single(tf.cast(h, tf.float32), leaf)

    def group_cost(self, input_hw) -> GroupCost:
        layers = [self.classifier] if self.hidden is None else [self.hidden, self.classifier]
        return self._sublayers_cost(layers, input_hw)

    def node_costs(self, input_hw) -> NodeCosts:
        """Per leaf: ``(macs, params)`` lists and the output resolution, as the blocks report them."""
        macs, params, hw = self.group_cost(input_hw)
        return [macs] * self.groups, [params] * self.groups, hw

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "groups": self.groups,
                "hidden_units": self.hidden_units, "hidden_activation": self.hidden_activation}
