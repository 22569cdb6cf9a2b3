"""The tree-ensemble Keras model, its prefix sub-models and anytime steps."""

from __future__ import annotations

from collections.abc import Iterator

import keras
import tensorflow as tf

from hne_tf import checks
from hne_tf import layers as L
from hne_tf.presets import ENSEMBLE_RULES, TEACHER, Extra, get_preset, list_models
from hne_tf.tree import AnytimeStep, StepRun, TreeSpec, run_anytime_steps, slot_name

#: A forward pass's outputs: ``"logits"`` ``[batch, leaves, classes]`` and the extras' entries.
Outputs = dict[str, tf.Tensor | list[tf.Tensor]]


@L.register
class TreeEnsemble(keras.Model):
    """A tree ensemble built from a preset.

    Calling the model returns a dict:
      ``"logits"``: ``[batch, num_leaves, num_classes]``, leaves depth-first;
      and one entry per training-only extra the family adds (see
      :class:`hne_tf.presets.Extra`, asked for by role with :meth:`extra`):
      ``"gate"`` (ONE's teacher): ``[batch, num_leaves]`` softmax branch weights.
      ``"features"`` (OEMC's feature adapters): one tensor per distilled
        block, ``[batch, num_students, h, w, c]``; entry 0 is the pseudo
        teacher's feature map, entry ``i > 0`` student ``i``'s map after its
        1x1 adaptation convolution.

    The model is rebuilt from ``(preset, input_shape, num_classes, options)``;
    that is its whole config.
    """

    def __init__(self, preset: str, input_shape, num_classes: int, options: dict | None = None,
                 **kwargs) -> None:
        kwargs.setdefault("name", preset)
        super().__init__(**kwargs)
        build = get_preset(preset)  # an unknown name lists the valid ones
        self.preset = preset
        if (not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3
                or not all(_positive_int(d) for d in input_shape)):
            raise ValueError(f"{preset}: input_shape must be (height, width, channels), three integers >= 1, "
                             f"got {input_shape!r}")
        self.image_shape = tuple(int(d) for d in input_shape)
        if not _positive_int(num_classes):
            raise ValueError(f"{preset}: num_classes must be an integer >= 1, got {num_classes!r}")
        self.num_classes = int(num_classes)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"{preset}: options must be a mapping of option names to values, got {options!r}")
        self.options = dict(options or {})
        arch = build(self.image_shape, self.num_classes, **self.options)
        self.family = arch.family
        self.spec = TreeSpec(arch.branching)
        self.tree_blocks = arch.blocks
        self.head = arch.head
        roles = [e.role for e in arch.extras]
        outputs = [e.output for e in arch.extras]
        if len(set(roles)) != len(roles) or len(set(outputs)) != len(outputs) or "logits" in outputs:
            raise ValueError(f"{preset}: extras need distinct roles and output keys other than 'logits', "
                             f"got {arch.extras}")
        self.extras: tuple[Extra, ...] = tuple(arch.extras)
        # Keras tracks the extras' layers through this list (weights, checkpoint,
        # .keras file); their variable paths stay "<model>/<layer>/...".
        self.extra_layers = [layer for e in self.extras for layer in e.layers]
        self._deployable = tuple(int(m) for m in arch.deployable_members)
        if any(not 0 <= m < self.spec.num_leaves for m in self._deployable):
            raise ValueError(f"{preset}: deployable_members {self._deployable} outside the leaves "
                             f"[0, {self.spec.num_leaves - 1}]")
        self(tf.zeros((1,) + self.image_shape), training=False)  # create every weight

    # ------------------------------------------------------------------ API
    @property
    def num_leaves(self) -> int:
        return self.spec.num_leaves

    @property
    def num_blocks(self) -> int:
        return self.spec.num_blocks

    @property
    def ensemble_rule(self) -> str:
        """How the leaves combine, the family's (``presets.register_family``): ``"mean_logits"`` or
        ``"mean_probs"`` (:data:`hne_tf.ensemble.RULES`)."""
        return ENSEMBLE_RULES[self.family]

    def build(self, input_shape) -> None:
        # Sub-layers are built by the forward pass in __init__.
        self.built = True

    def call(self, inputs, training=None) -> Outputs:
        return self.forward(inputs, training=training, extras=True)

    def forward(self, inputs, num_leaves: int | None = None, training=None, extras: bool = False) -> Outputs:
        """Runs the first ``num_leaves`` leaves (all by default).

        Returns the output dict; the extras' entries only with ``extras`` and
        all leaves.
        """
        k = self.num_leaves if num_leaves is None else num_leaves
        counts = self.spec.prefix_nodes(k)
        run_extras = self.extras if extras and k == self.num_leaves else ()
        wanted = {b for e in run_extras for b in e.reads}
        nodes: dict[int, list[tf.Tensor]] = {}
        h = inputs
        for b, block in enumerate(self.tree_blocks):
            group_range = (0, counts[b])
            if b in wanted:
                nodes[b] = block.node_outputs(h, training=training, group_range=group_range)
                h = nodes[b][0] if len(nodes[b]) == 1 else tf.concat(nodes[b], axis=-1)
            else:
                h = block(h, training=training, group_range=group_range)
        out: Outputs = {"logits": self.head(h, training=training, group_range=(0, k))}
        for e in run_extras:
            out[e.output] = e(nodes, training=training)
        return out

    # --------------------------------------------------------------- roles
    def trunk_blocks(self) -> list[int]:
        """Indices of the trunk: the root blocks every leaf shares (one node each), before the first
        branching. Empty for an independent ensemble (branching at block 0)."""
        return [b for b, nodes in enumerate(self.spec.groups) if nodes == 1]  # running product: a prefix

    def trunk_variables(self) -> list:
        """Trainable variables of the trunk blocks (:meth:`trunk_blocks`), e.g. OEMC's shared base block.

        The trainer keeps a loss's ``"no_trunk_grad"`` part away from them
        (:class:`hne_tf.training.EnsembleTrainer`).
        """
        return [v for b in self.trunk_blocks() for v in self.tree_blocks[b].trainable_variables]

    def extra(self, role: str) -> Extra | None:
        """The family's training-only part with this role, or None.

        Roles: ``"teacher"`` (ONE's gate: fills ``outputs["gate"]``, gives
        :meth:`teacher_logits`) and ``"feature_adapter"`` (OEMC's 1x1
        adaptation convolutions: fills ``outputs["features"]``).
        """
        return next((e for e in self.extras if e.role == role), None)

    def extra_weights(self, role: str | None = None) -> list:
        """Variables of the extras (of the one with ``role``; of all by default).

        They are trained and checkpointed with the model but belong to no
        prefix, anytime step or member.
        """
        chosen = self.extras if role is None else [e for e in self.extras if e.role == role]
        return [w for e in chosen for w in e.weights]

    def teacher_logits(self, outputs: dict) -> tf.Tensor | None:
        """The family's own teacher from the full model's outputs: ``[batch, num_classes]``, or None.

        ONE: the gated teacher ``sum_i gate_i z_i`` (what the paper's
        "ONE-E" evaluates). None for families whose teacher is the ensemble
        of the leaves itself (HNE, OEMC, EnsembleNet): evaluate the ensemble
        of all leaves for them. ``outputs`` is ``model(x)``.
        """
        teacher = self.extra(TEACHER)
        return None if teacher is None else teacher.teacher_logits(outputs)

    def default_members(self) -> list[int]:
        """Leaves that are deployed alone by default (OEMC: every student; others none).

        The export's ``--members=default``.
        """
        return list(self._deployable)

    def prefix(self, k: int) -> PrefixModel:
        """A Keras model that computes only the first ``k`` leaves.

        It shares this model's weights; its output is the logits tensor
        ``[batch, k, num_classes]``.
        """
        self.spec.prefix_nodes(k)  # validates k
        return PrefixModel(self, k)

    # -------------------------------------------------------------- anytime
    def anytime_steps(self) -> list[AnytimeStep]:
        return self.spec.anytime_steps()

    def anytime_step(self, step: int, inputs, training=False) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
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

    def _leaf_path(self, h, leaf: int, start_block: int, training, keep=()) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
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
        return self.head.leaf_logits(h, leaf, training=training)

    def iter_anytime(self, inputs, num_steps: int | None = None, training=False) -> Iterator[StepRun]:
        """Runs steps 1..``num_steps`` (all by default) in order with a cache, yielding each step's
        :class:`hne_tf.tree.StepRun` (``step``, ``inputs``, ``logits`` ``[batch, classes]``, ``writes``)."""
        return run_anytime_steps(
            self.anytime_steps(),
            lambda s, x: self._leaf_path(x, s.leaf, s.start_block, training, keep=s.writes),
            inputs, num_steps)

    def run_anytime(self, inputs, num_steps: int | None = None) -> tf.Tensor:
        """Runs steps 1..``num_steps`` (all by default) in order with a cache; ``[batch, steps, classes]``."""
        return tf.stack([r.logits for r in self.iter_anytime(inputs, num_steps)], axis=1)

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
    def get_config(self) -> dict:
        return {"preset": self.preset, "input_shape": list(self.image_shape),
                "num_classes": self.num_classes, "options": _jsonable(self.options), "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config) -> TreeEnsemble:
        return cls(**config)

    def build_from_config(self, config) -> None:
        pass  # built in __init__

    def get_build_config(self) -> dict:
        return {"input_shape": (None,) + self.image_shape}


def _positive_int(v) -> bool:
    return checks.integer(1).accepts(v)


def _jsonable(v) -> object:
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

    def __init__(self, ensemble: TreeEnsemble, k: int, **kwargs) -> None:
        kwargs.setdefault("name", f"{ensemble.name}_prefix{k}")
        super().__init__(**kwargs)
        self.ensemble = ensemble
        self.k = int(k)
        self.built = True  # the ensemble's weights already exist

    def call(self, inputs, training=False) -> tf.Tensor:
        return self.ensemble.forward(inputs, num_leaves=self.k, training=training)["logits"]


def build_model(name: str, input_shape=(32, 32, 3), num_classes: int = 10, **options) -> TreeEnsemble:
    """Builds a preset (see :func:`list_models`).

    Args:
      name: preset name; an unknown name raises ``ValueError`` listing them.
      input_shape: ``(height, width, channels)``.
      num_classes: classifier outputs, an integer >= 1.
      **options: preset options, each checked against its range (a
        ``ValueError`` names the preset, the option, the range and the value;
        ``hne_tf.presets.PRESETS[name].checks`` lists them) (e.g. ``branching=(1, 1, 1, 16, 1)``,
        ``width=0.5``, ``num_branches=4``).
    """
    return TreeEnsemble(name, input_shape, num_classes, options)


__all__ = ["TreeEnsemble", "PrefixModel", "build_model", "list_models"]
