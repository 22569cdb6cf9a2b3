"""The tree's blocks: a list of tree layers shared by all of a block's nodes, or one stack per node."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from hne_tf.layers.common import NodeCosts, _full, register, sequence_cost


def serialize_list(layers: Sequence[keras.layers.Layer]) -> list[dict]:
    return [keras.saving.serialize_keras_object(layer) for layer in layers]


def _as_layer(obj) -> keras.layers.Layer:
    """A layer, or a layer's serialized config (as found in ``from_config``)."""
    return keras.saving.deserialize_keras_object(obj) if isinstance(obj, dict) else obj


@register
class GroupedBlock(keras.layers.Layer):
    """One block of the tree whose nodes all share one architecture.

    Its tree layers run over all live branches at once; the first layer does
    the block's branching. ``call(x, group_range=(s, e))`` computes nodes
    ``s..e-1`` of this block.
    """

    def __init__(self, layers, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tree_layers = [_as_layer(c) for c in layers]
        self.groups = self.tree_layers[-1].groups

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        for layer in self.tree_layers:
            x = layer(x, training=training, group_range=group_range)
        return x

    def node_outputs(self, x, training=None, group_range=None) -> list[tf.Tensor]:
        """Nodes ``start..stop-1`` of this block, one tensor each (equal widths)."""
        start, stop = _full(group_range, self.groups)
        y = self(x, training=training, group_range=group_range)
        return tf.split(y, stop - start, axis=-1) if stop - start > 1 else [y]

    def node_costs(self, input_hw) -> NodeCosts:
        """Per node: ``(macs, params)`` lists and the output resolution."""
        macs, params, hw = sequence_cost(self.tree_layers, input_hw)
        return [macs] * self.groups, [params] * self.groups, hw

    def get_config(self) -> dict:
        return {**super().get_config(), "layers": serialize_list(self.tree_layers)}


@register
class PerNodeBlock(keras.layers.Layer):
    """A block whose nodes have different architectures (OEMC's students).

    Each node is its own stack of (single-group) layers. Activations of the
    live nodes are still concatenated in the channel axis, each with its own
    width, so the model treats both block kinds alike.

    Args:
      nodes: per node, the list of layers applied in order.
      branch: branching factor of this block.
      input_widths: channels of each node of the previous block.
      stack_outputs: concatenate the nodes' outputs along axis 1 instead of
        the channel axis (used for per-node classifier heads).
    """

    def __init__(self, nodes, branch, input_widths, stack_outputs=False, **kwargs) -> None:
        super().__init__(**kwargs)
        nodes = [[_as_layer(c) for c in node] for node in nodes]
        self.node_sizes = [len(node) for node in nodes]
        # Keras tracks a flat list of layers; node_layers(j) re-nests it.
        self.flat_layers = [layer for node in nodes for layer in node]
        self.branch = int(branch)
        self.input_widths = [int(w) for w in input_widths]
        self.stack_outputs = bool(stack_outputs)
        self.groups = len(nodes)

    def node_layers(self, j) -> list[keras.layers.Layer]:
        start = sum(self.node_sizes[:j])
        return self.flat_layers[start:start + self.node_sizes[j]]

    def node_outputs(self, x, training=None, group_range=None) -> list[tf.Tensor]:
        start, stop = _full(group_range, self.groups)
        first_parent = start // self.branch
        last_parent = (stop - 1) // self.branch
        widths = self.input_widths[first_parent:last_parent + 1]
        parents = tf.split(x, widths, axis=-1) if len(widths) > 1 else [x]
        outputs = []
        for j in range(start, stop):
            h = parents[j // self.branch - first_parent]
            for layer in self.node_layers(j):
                h = layer(h, training=training)
            outputs.append(h)
        return outputs

    def call(self, x, training=None, group_range=None) -> tf.Tensor:
        outputs = self.node_outputs(x, training, group_range)
        if len(outputs) == 1:
            return outputs[0]
        return tf.concat(outputs, axis=1 if self.stack_outputs else -1)

    def leaf_logits(self, x, leaf: int, training=None) -> tf.Tensor:
        """As the model's head (one classifier stack per node, e.g. OEMC's students):
        node ``leaf``'s logits ``[batch, num_classes]``; ``x`` holds only that node's input."""
        *body, head = self.node_layers(leaf)
        for layer in body:
            x = layer(x, training=training)
        return head.leaf_logits(x, 0, training=training)

    def node_costs(self, input_hw) -> NodeCosts:
        """Per node: ``(macs, params)`` lists and the output resolution."""
        costs = [sequence_cost(self.node_layers(j), input_hw) for j in range(self.groups)]
        return [c[0] for c in costs], [c[1] for c in costs], costs[-1][2]

    def get_config(self) -> dict:
        nodes = [serialize_list(self.node_layers(j)) for j in range(self.groups)]
        return {**super().get_config(), "nodes": nodes, "branch": self.branch,
                "input_widths": self.input_widths, "stack_outputs": self.stack_outputs}
