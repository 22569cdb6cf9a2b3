"""The preset registry: model families, presets and their options' checks.

A preset is a builder, ``(input_shape, num_classes, **options) -> Architecture``,
with a name, a check for each option and the options' values. :func:`hne_tf.build_model`
wraps the :class:`Architecture` a preset returns in a :class:`hne_tf.TreeEnsemble`.
Everything a preset builds is described by its name and options, which is also
how models are serialized.

The families live in :mod:`hne_tf.families`, one module each with its builders,
its presets as a table (:func:`register_presets`) and its extras; this module
imports them all when it is imported. Generic code asks a model for an extra by
its role (:data:`TEACHER`, :data:`FEATURE_ADAPTER`), never for a family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from hne_tf import checks, plugins

# --------------------------------------------------------------------------
# Extras: training-only parts a family adds to the tree
# --------------------------------------------------------------------------

TEACHER = "teacher"
FEATURE_ADAPTER = "feature_adapter"


class Extra:
    """A training-only part of a model family, asked for by its role.

    It reads the per-node outputs of some tree blocks (``reads``) during the
    full model's forward pass and fills one entry of the output dict
    (``output``). Its layers are the model's layers: the model tracks them,
    so they are trained, checkpointed and saved with it, and their variable
    paths sit directly under the model's name. No prefix, anytime step or
    member uses them, and the cost table does not count them.

    Generic code asks ``model.extra(role)`` instead of testing the family.

    Attributes:
      role: what the part is for (:data:`TEACHER`, :data:`FEATURE_ADAPTER`).
      output: the key it fills in the model's output dict.
      reads: the blocks whose node outputs it reads.
      layers: its Keras layers.
    """

    role: str = ""
    output: str = ""

    def __init__(self, reads: Sequence[int], layers: Sequence[keras.layers.Layer]) -> None:
        self.reads = tuple(int(b) for b in reads)
        self.layers = list(layers)

    def __call__(self, nodes: dict[int, list[tf.Tensor]], training=None) -> tf.Tensor | list[tf.Tensor]:
        """``nodes[b]``: block ``b``'s node outputs, one tensor per node, for ``b`` in ``reads``."""
        raise NotImplementedError

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self.layers for w in layer.trainable_weights]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(role={self.role!r}, output={self.output!r}, reads={self.reads})"



# --------------------------------------------------------------------------
# Model families: a label on every Architecture that the losses check
# (``losses.register(families=...)``) and the manifest records
# --------------------------------------------------------------------------

FAMILIES: dict[str, str] = {}  # name -> one line: the paper and what its models add
ENSEMBLE_RULES: dict[str, str] = {}  # name -> how its leaves combine (hne_tf.ensemble.RULES)


def register_family(name: str, summary: str, ensemble_rule: str = "mean_logits") -> str:
    """Registers the model family ``name`` (see :data:`FAMILIES`) and returns the name.

    A family in a file of its own (:mod:`hne_tf.families`) calls this next to
    its presets; an Architecture of an unregistered family is refused.
    ``ensemble_rule``: how the family's leaves combine into the ensemble of
    the first ``k`` (:data:`hne_tf.ensemble.RULES`): ``"mean_logits"`` (HNE
    eq. 1) or ``"mean_probs"`` (EnsembleNet eq. 2). The evaluator, eval.json,
    the export's accuracies and manifest, and the anytime runner follow it
    (``model.ensemble_rule``).
    """
    from hne_tf.ensemble import check_rule

    if name in FAMILIES:
        raise ValueError(f"model family {name!r} is registered twice")
    ENSEMBLE_RULES[name] = check_rule(ensemble_rule)
    FAMILIES[name] = summary
    return name


@dataclasses.dataclass
class Architecture:
    """What a preset builds.

    Attributes:
      family: a registered model family (:data:`FAMILIES`); a label for
        losses and the manifest, never a switch in the model code.
      branching: branching factor per block.
      blocks: ``GroupedBlock`` / ``PerNodeBlock``, one per tree block.
      head: per-leaf classifiers after the last block: a ``TreeHead`` or a
        ``PerNodeBlock`` of single-leaf ``TreeHead`` stacks. Either has
        ``call(x, group_range)``, ``leaf_logits(x, leaf)`` and ``node_costs``.
      extras: the family's training-only parts (:class:`Extra`), at most one
        per role.
      deployable_members: leaves that make sense deployed alone (OEMC: every
        student); the export's default ``--members``.
    """

    family: str
    branching: tuple[int, ...]
    blocks: list
    head: object
    extras: tuple[Extra, ...] = ()
    deployable_members: tuple[int, ...] = ()


# --------------------------------------------------------------------------
# Options: every preset declares the type and range of each option
# --------------------------------------------------------------------------

class OptionError(ValueError):
    """An option outside its allowed values; :func:`get_preset` adds the preset's name."""

    def __init__(self, option: str, allowed: str, value) -> None:
        super().__init__(f"option {option!r} must be {allowed}, got {value!r}")
        self.option, self.allowed, self.value = option, allowed, value


# The option rules are the project's one vocabulary (hne_tf.checks); presets.Check and the makers below
# are its names here. ``positive()`` is a number > 0.
Check = checks.Rule
integer = checks.integer
integers = checks.integers
choice = checks.choice
or_none = checks.or_none


def positive() -> Check:
    return checks.number(0, low_open=True)


Builder = Callable[..., Architecture]  # (input_shape, num_classes, **options) -> Architecture


@dataclasses.dataclass(frozen=True)
class Preset:
    """A registered preset: its builder, its options' checks and its defaults, and one line saying what it is."""

    name: str
    builder: Builder
    checks: dict[str, Check]
    defaults: dict
    description: str = ""

    def options(self, given: dict) -> dict:
        """``given`` merged over the defaults, each checked; raises ``ValueError`` naming the preset."""
        if not isinstance(given, dict):
            raise ValueError(f"{self.name}: options must be a mapping of option names to values, got {given!r}")
        unknown = sorted(set(given) - set(self.checks))
        if unknown:
            raise ValueError(f"{self.name}: unknown option {unknown[0]!r}; valid options: "
                             f"{', '.join(sorted(self.checks))}")
        merged = {**self.defaults, **given}
        for key, value in merged.items():
            check = self.checks[key]
            if not check.accepts(value):
                raise ValueError(f"{self.name}: {OptionError(key, check.allowed, value)}")
            merged[key] = check.convert(value)
        return merged

    def __call__(self, input_shape, num_classes, **options) -> Architecture:
        merged = self.options(options)
        try:
            arch = self.builder(tuple(int(d) for d in input_shape), int(num_classes), **merged)
        except OptionError as e:  # a check that needs several options (e.g. branching per variant)
            raise ValueError(f"{self.name}: {e}") from None
        if arch.family not in FAMILIES:
            raise ValueError(f"{self.name}: model family {arch.family!r} is not registered "
                             f"(presets.register_family); registered: {', '.join(FAMILIES)}")
        return arch


PRESETS: dict[str, Preset] = {}


def register_preset(name: str, checks: dict[str, Check], *, description: str = "",
                    **defaults) -> Callable[[Builder], Builder]:
    """Decorator: registers a builder as the preset ``name`` with its options' checks and defaults.

    ``description`` defaults to the first line of the builder's docstring.
    """
    if set(defaults) != set(checks):
        raise AssertionError(f"{name}: defaults {sorted(defaults)} do not match the options {sorted(checks)}")

    def wrap(fn: Builder) -> Builder:
        summary = description or (fn.__doc__ or "").strip().split("\n")[0]
        PRESETS[name] = Preset(name, fn, dict(checks), defaults, summary)
        PRESETS[name].options({})  # the defaults must pass their own checks
        return fn
    return wrap


def register_presets(table: dict[str, dict], builder: Builder, checks: dict[str, Check]) -> None:
    """Registers every row of ``table`` as a preset of ``builder`` (presets as data, as keras-hub keeps them).

    ``table``: preset name -> ``{"description": one line, "defaults": {option: value}}``, a value
    for every option that ``checks`` declares (see :func:`register_preset`).
    """
    for name, row in table.items():
        if set(row) != {"description", "defaults"}:
            raise AssertionError(f"{name}: a preset's row has 'description' and 'defaults', got {sorted(row)}")
        register_preset(name, checks, description=row["description"], **row["defaults"])(builder)


def list_models() -> list[str]:
    """Names accepted by :func:`hne_tf.build_model`."""
    return sorted(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset ``name``: call it as ``preset(input_shape, num_classes, **options)``."""
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    return PRESETS[name]


# The families and their presets, one file each (hne_tf/families/): each module registers itself.
plugins.import_package("hne_tf.families")
