"""Mixed-precision modes for training, in one place.

``--mixed_precision`` takes one of :data:`MODES`' keys:

- ``"off"``: everything in float32.
- ``"float16"``: Keras' ``mixed_float16`` policy (float16 compute, float32
  variables) and a loss-scaling optimizer, since float16's 5-bit exponent
  lets small gradients underflow.
- ``"bfloat16"``: Keras' ``mixed_bfloat16`` policy (bfloat16 compute, float32
  variables). bfloat16 has float32's 8-bit exponent, so gradients do not
  underflow and no loss scaling is needed; it keeps 8 significant bits
  (relative rounding error up to 2**-9, about 0.2%).

In both mixed modes the variables, batch-norm statistics, the classifier's
logits and the loss stay float32 (see :mod:`hne_tf.layers`).
"""

from __future__ import annotations

import keras

#: ``--mixed_precision`` value -> Keras dtype policy name (None: plain float32).
MODES: dict[str, str | None] = {"off": None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def policy_name(mode: str) -> str:
    """The Keras dtype policy of ``mode`` (``"float32"`` for ``"off"``); ValueError for an unknown mode."""
    if mode not in MODES:
        raise ValueError(f"--mixed_precision={mode!r} is not one of: {', '.join(MODES)}")
    return MODES[mode] or "float32"


def apply(mode: str) -> str:
    """Sets Keras' global dtype policy for ``mode`` and returns the previous policy's name.

    Layers take the global policy when they are built, so call it before
    building the model. Restore with ``keras.mixed_precision.set_global_policy(previous)``.
    """
    name = policy_name(mode)  # validates before changing anything
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    return previous


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, mode: str) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a loss-scaling optimizer for ``"float16"``; unchanged otherwise."""
    policy_name(mode)
    if mode == "float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compute_dtype(mode: str) -> str:
    """The dtype activations are computed in under ``mode``: float32, float16 or bfloat16."""
    return keras.DTypePolicy(policy_name(mode)).compute_dtype


__all__ = ["MODES", "apply", "compute_dtype", "policy_name", "wrap_optimizer"]
