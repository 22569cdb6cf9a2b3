"""hne-tf: tree ensembles (HNE, ONE, OEMC, EnsembleNet) for anytime inference.

The names below load their module (and TensorFlow) on first use (PEP 562), so that the plain
Python submodules (``hne_tf.osutil``, ``hne_tf.quiet``, ``hne_tf.tree``) import without TensorFlow.
"""

from __future__ import annotations

import importlib
import os

# TensorFlow's CPU gradient of a grouped convolution exists only in its oneDNN kernels, which TF turns
# on by default only on CPUs with AVX-512 VNNI/BF16 or AMX. Ask for them on every x86 CPU (an AVX2-only
# EPYC, say) unless the user chose; this takes effect when hne_tf is imported before TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# Public name -> the submodule that defines it.
_EXPORTS = {
    "cost_table": "cost", "format_cost_table": "cost",
    "InputSpec": "datasets", "EnsembleTrainer": "training",
    "PrefixModel": "models", "TreeEnsemble": "models", "build_model": "models",
    "list_models": "presets",
    "AnytimeStep": "tree", "StepRun": "tree", "TreeSpec": "tree", "default_prefixes": "tree",
    "run_anytime_steps": "tree",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hne_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hne_tf.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
