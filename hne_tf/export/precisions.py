"""Export precisions: one registry entry each.

An entry holds everything the export, the CLI, the manifest and its
validator need to know about a precision: its name, a one-line help (the
CLI's ``--precisions`` help and the manifest's ``precisions`` table), whether
the converter needs calibration images, and how to set up a
``tf.lite.TFLiteConverter`` for it. Adding a precision is one file in
:mod:`hne_tf.export.extra_precisions` with its :func:`register` call, plus its test.

This module imports no TensorFlow: the manifest validator and the host runner
read the names and the help without it; ``configure`` receives the converter
(and the TensorFlow module) only when the export calls it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

from hne_tf import plugins

# The precision every other one is checked against: its graphs must match
# Keras (the parity check) and its k = N model bounds the anytime file's size.
REFERENCE = "float32"


# ``configure(converter, tf, representative)``: see :class:`Precision`.
Configure = Callable[[object, object, Callable[[], Iterable] | None], None]


@dataclasses.dataclass(frozen=True)
class Precision:
    """One export precision.

    ``configure(converter, tf, representative)`` sets up ``converter`` (a
    ``tf.lite.TFLiteConverter``; ``tf`` is the TensorFlow module) for it.
    ``representative`` is a generator function of calibration batches when
    ``calibrated`` is true, else ``None``.
    """

    name: str
    help: str
    calibrated: bool
    configure: Configure


REGISTRY: dict[str, Precision] = {}


def register(name: str, help: str, calibrated: bool = False) -> Callable[[Configure], Configure]:
    """Decorator: registers ``configure`` as precision ``name``."""
    def wrap(configure: Configure) -> Configure:
        from hne_tf.export.manifest import PRECISION_PATTERN  # the manifest schema's rule for the name

        if not re.search(PRECISION_PATTERN, name):
            raise ValueError(f"precision name {name!r} does not match {PRECISION_PATTERN} (manifest.schema.json), "
                             "which every reader of the manifest accepts")
        if name in REGISTRY:
            raise ValueError(f"precision {name!r} is registered twice")
        REGISTRY[name] = Precision(name, help, calibrated, configure)
        return configure
    return wrap


def get(name: str) -> Precision:
    if name not in REGISTRY:
        raise ValueError(f"unknown precision {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` without repeats, in order; ValueError naming the unknown ones (or none given)."""
    names = tuple(dict.fromkeys(names))
    unknown = [p for p in names if p not in REGISTRY]
    if unknown or not names:
        raise ValueError(f"--precisions: unknown precision(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(REGISTRY)}")
    return names


@register("float32", "float32 weights and activations")
def _float32(converter, tf, representative) -> None:
    del converter, tf, representative  # the converter's defaults


@register("float16", "float16 weights, float32 compute")
def _float16(converter, tf, representative) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


@register("dynamic", "dynamic-range quantization: int8 weights, activations quantized on the fly")
def _dynamic(converter, tf, representative) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


@register("int8", "full integer quantization (int8 weights and activations, calibrated on training images); "
          "float32 input and output", calibrated=True)
def _int8(converter, tf, representative) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = representative


def cli_help() -> str:
    """The ``--precisions`` help: every registered precision with its meaning."""
    return "Comma list of: " + "; ".join(f"{p.name} ({p.help})" for p in REGISTRY.values()) + "."


__all__ = ["Precision", "REFERENCE", "REGISTRY", "check_names", "cli_help", "get", "register"]

# Precisions in files of their own (hne_tf/export/extra_precisions/): each module registers itself.
plugins.import_package("hne_tf.export.extra_precisions")
