"""The tree-ensemble Keras model, its prefix sub-models and anytime steps."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from hne_tf import layers as L
from hne_tf.presets import get_preset, list_models
from hne_tf.tree import AnytimeStep, TreeSpec, slot_name


@L.register
class TreeEnsemble(keras.Model):
    """A tree ensemble built from a preset.

    Calling the model returns a dict:
      ``"logits"``: ``[batch, num_leaves, num_classes]``, leaves depth-first.
      ``"gate"`` (ONE only): ``[batch, num_leaves]`` softmax branch weights.
      ``"features"`` (OEMC only): one tensor per distilled block,
        ``[batch, num_students, h, w, c]``; entry 0 is the pseudo teacher's
        feature map, entry ``i > 0`` student ``i``'s map after its 1x1
        adaptation convolution.

    The model is rebuilt from ``(preset, input_shape, num_classes, options)``;
    that is its whole config.
    """

    def __init__(self, preset: str, input_shape, num_classes: int, options: Optional[dict] = None,
                 **kwargs):
        kwargs.setdefault("name", preset)
        super().__init__(**kwargs)
        self.preset = preset
        self.image_shape = tuple(int(d) for d in input_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
        self.num_classes = int(num_classes)
        self.options = dict(options or {})
        arch = get_preset(preset)(self.image_shape, self.num_classes, **self.options)
        self.family = arch.family
        self.spec = TreeSpec(arch.branching)
        self.tree_blocks = arch.blocks
        self.head = arch.head
        self.gate_block = arch.gate_block
        self.feature_blocks = tuple(arch.feature_blocks)
        n = self.spec.num_leaves
        if self.gate_block is not None:
            self.gate_dense = keras.layers.Dense(n, name="gate_dense")
            self.gate_bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True,
                                                          name="gate_bn")
        # OEMC adaptation convs: one per non-teacher student per distilled block.
        self.adapters = [keras.layers.Conv2D(c, 1, name=f"adapt_block{b}_student{s}")
                         for b, c in zip(self.feature_blocks, arch.feature_channels)
                         for s in range(1, n)]
        self(tf.zeros((1,) + self.image_shape), training=False)  # create every weight

    # ------------------------------------------------------------------ API
    @property
    def num_leaves(self) -> int:
        return self.spec.num_leaves

    @property
    def num_blocks(self) -> int:
        return self.spec.num_blocks

    def build(self, input_shape):
        # Sub-layers are built by the forward pass in __init__.
        self.built = True

    def call(self, inputs, training=None):
        return self.forward(inputs, training=training, extras=True)

    def forward(self, inputs, num_leaves: Optional[int] = None, training=None, extras: bool = False):
        """Runs the first ``num_leaves`` leaves (all by default).

        Returns the output dict; ``"gate"`` and ``"features"`` only with
        ``extras`` and all leaves.
        """
        k = self.num_leaves if num_leaves is None else num_leaves
        counts = self.spec.prefix_nodes(k)
        h = inputs
        out: Dict[str, object] = {}
        features = []
        for b, block in enumerate(self.tree_blocks):
            group_range = (0, counts[b])
            if extras and b in self.feature_blocks and k == self.num_leaves:
                nodes = block.node_outputs(h, training=training, group_range=group_range)
                features.append(self._adapt(b, nodes))
                h = tf.concat(nodes, axis=-1)
            else:
                h = block(h, training=training, group_range=group_range)
            if extras and b == self.gate_block and k == self.num_leaves:
                out["gate"] = self._gate(h, training)
        out["logits"] = self.head(h, training=training, group_range=(0, k))
        if features:
            out["features"] = features
        return out

    def _gate(self, shared, training):
        pooled = tf.reduce_mean(shared, axis=[1, 2])
        z = tf.nn.relu(self.gate_bn(self.gate_dense(pooled), training=training))
        return tf.nn.softmax(tf.cast(z, tf.float32), axis=-1)

    def _adapt(self, block, nodes):
        i = self.feature_blocks.index(block) * (self.num_leaves - 1)
        adapted = [nodes[0]] + [self.adapters[i + s - 1](nodes[s]) for s in range(1, len(nodes))]
        return tf.stack(adapted, axis=1)

    def prefix(self, k: int) -> "PrefixModel":
        """A Keras model that computes only the first ``k`` leaves.

        It shares this model's weights; its output is the logits tensor
        ``[batch, k, num_classes]``.
        """
        self.spec.prefix_nodes(k)  # validates k
        return PrefixModel(self, k)

    # -------------------------------------------------------------- anytime
    def anytime_steps(self) -> List[AnytimeStep]:
        return self.spec.anytime_steps()

    def anytime_step(self, step: int, inputs, training=False) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """Runs step ``step`` (1-based) of leaf-by-leaf evaluation.

        Args:
          inputs: the image batch for step 1 (and for every step of an
            independent ensemble), else the cache slot named by
            ``anytime_steps()[step - 1].reads``: one node's activation.

        Returns:
          ``(logits [batch, num_classes], {slot: activation})`` for the slots
          the step writes.
        """
        plan = self.anytime_steps()
        if not 1 <= step <= len(plan):
            raise ValueError(f"step must be in [1, {len(plan)}], got {step}")
        s = plan[step - 1]
        return self._leaf_path(inputs, s.leaf, s.start_block, training, keep=s.writes)

    def member_logits(self, inputs, leaf: int, training=False) -> tf.Tensor:
        """Leaf ``leaf``'s network alone, its whole root-to-leaf path: ``[batch, num_classes]``.

        The single branch or student a user deploys without the ensemble
        (any OEMC student, ONE's first branch).
        """
        if not isinstance(leaf, int) or not 0 <= leaf < self.num_leaves:
            raise ValueError(f"leaf must be an integer in [0, {self.num_leaves - 1}], got {leaf!r}")
        return self._leaf_path(inputs, leaf, 0, training)[0]

    def _leaf_path(self, h, leaf: int, start_block: int, training, keep=()):
        """Leaf ``leaf``'s nodes from ``start_block`` on, then its head.

        Returns ``(logits [batch, classes], {slot: activation})`` for the
        block outputs named in ``keep``.
        """
        kept = {}
        for b in range(start_block, self.num_blocks):
            node = self.spec.node_of_leaf(leaf, b)
            h = self.tree_blocks[b](h, training=training, group_range=(node, node + 1))
            if slot_name(b) in keep:
                kept[slot_name(b)] = h
        return self.leaf_logits(h, leaf, training=training), kept

    def leaf_logits(self, h, leaf: int, training=False) -> tf.Tensor:
        """The head of leaf ``leaf`` alone on its last-block activation ``h``: ``[batch, num_classes]``."""
        if isinstance(self.head, L.PerNodeBlock):  # OEMC: one head per student
            *body, head = self.head.node_layers(leaf)
            for layer in body:
                h = layer(h, training=training)
            return head.leaf_logits(h, 0, training=training)
        return self.head.leaf_logits(h, leaf, training=training)

    def run_anytime(self, inputs, num_steps: Optional[int] = None) -> tf.Tensor:
        """Runs steps 1..``num_steps`` in order with a cache; ``[batch, steps, classes]``."""
        cache = {"input": inputs}
        outs = []
        for s in self.anytime_steps()[: num_steps or self.num_leaves]:
            logits, writes = self.anytime_step(s.step, cache[s.reads])
            cache.update(writes)
            outs.append(logits)
        return tf.stack(outs, axis=1)

    # ---------------------------------------------------------- checkpoint
    def checkpoint_variables(self) -> tf.train.Checkpoint:
        """Every variable of the model, keyed by its Keras path, for ``tf.train.Checkpoint``.

        TF's object-graph checkpointing does not see Keras 3 layers held in
        lists (the tree's blocks and their layers), so
        ``tf.train.Checkpoint(model=ensemble)`` would save almost nothing.
        Saving this flat map instead covers every weight, batch-norm
        statistics included, and a restore checks names and shapes.
        """
        by_path = {}
        for v in self.variables:
            key = base = v.path.replace("/", ".")
            n = 1
            while key in by_path:  # Keras paths can repeat across per-node blocks (OEMC)
                n += 1
                key = f"{base}.{n}"
            by_path[key] = v
        return tf.train.Checkpoint(**by_path)

    # --------------------------------------------------------------- config
    def get_config(self):
        return {"preset": self.preset, "input_shape": list(self.image_shape),
                "num_classes": self.num_classes, "options": _jsonable(self.options), "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def build_from_config(self, config):
        pass  # built in __init__

    def get_build_config(self):
        return {"input_shape": (None,) + self.image_shape}


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(i) for i in v]
    if isinstance(v, dict):
        return {k: _jsonable(i) for k, i in v.items()}
    return v


class PrefixModel(keras.Model):
    """The first ``k`` leaves of a :class:`TreeEnsemble`, sharing its weights.

    Not serialized on its own: save the full model and call ``prefix(k)``
    after loading.
    """

    def __init__(self, ensemble: TreeEnsemble, k: int, **kwargs):
        kwargs.setdefault("name", f"{ensemble.name}_prefix{k}")
        super().__init__(**kwargs)
        self.ensemble = ensemble
        self.k = int(k)
        self.built = True  # the ensemble's weights already exist

    def call(self, inputs, training=False):
        return self.ensemble.forward(inputs, num_leaves=self.k, training=training)["logits"]


def build_model(name: str, input_shape=(32, 32, 3), num_classes: int = 10, **options) -> TreeEnsemble:
    """Builds a preset (see :func:`list_models`).

    Args:
      name: preset name; an unknown name raises ``ValueError`` listing them.
      input_shape: ``(height, width, channels)``.
      num_classes: classifier outputs.
      **options: preset options (e.g. ``branching=(1, 1, 1, 16, 1)``,
        ``width=0.5``, ``num_branches=4``).
    """
    get_preset(name)  # fail early with the list of valid names
    return TreeEnsemble(name, input_shape, num_classes, options)


__all__ = ["TreeEnsemble", "PrefixModel", "build_model", "list_models"]
