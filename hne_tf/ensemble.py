"""The ensemble rule, in one place: the prediction of the first ``k`` leaves.

HNE (AAAI 2021, eq. 1) combines the leaves of a tree ensemble by averaging
their logits; because leaves are ordered depth-first, the first ``k`` leaves
form the ensemble of size ``k``. Every consumer of that rule (the losses, the
training metrics, the evaluator, the export's accuracy measurements and the
anytime runner) calls these functions instead of writing the mean inline.

The functions take TensorFlow tensors or NumPy arrays and return the same
kind: losses and metrics work on tensors, the export and the runner on NumPy.
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

Array = np.ndarray | tf.Tensor


def _is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, list, tuple))


def _check_k(k, n) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 or (n is not None and k > n):
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    return int(k)


def ensemble_logits(logits: Array, k: int) -> Array:
    """The ensemble of the first ``k`` leaves: the mean of their logits.

    Args:
      logits: ``[batch, N, classes]``, leaves depth-first.
      k: ensemble size, ``1 <= k <= N``.

    Returns:
      ``[batch, classes]``, a NumPy array for NumPy input, else a tensor in
      the dtype of ``logits``.
    """
    if _is_numpy(logits):
        logits = np.asarray(logits)
        k = _check_k(k, logits.shape[1])
        return logits[:, :k].mean(axis=1)
    k = _check_k(k, logits.shape[1])
    return tf.reduce_mean(logits[:, :k], axis=1)


def prefix_ensembles(logits: Array) -> Array:
    """Every ensemble size at once: entry ``k - 1`` of axis 1 is :func:`ensemble_logits` ``(logits, k)``.

    Args:
      logits: ``[batch, N, classes]``.

    Returns:
      ``[batch, N, classes]``: the running mean over the leaf axis, computed as
      a cumulative sum divided by the count, the same arithmetic as
      :class:`RunningMean`.
    """
    if _is_numpy(logits):
        logits = np.asarray(logits)
        n = logits.shape[1]
        return np.cumsum(logits, axis=1) / np.arange(1, n + 1, dtype=logits.dtype)[None, :, None]
    n = tf.shape(logits)[1]
    counts = tf.cast(tf.range(1, n + 1), logits.dtype)[None, :, None]
    return tf.cumsum(logits, axis=1) / counts


class RunningMean:
    """The anytime ensemble, one leaf at a time (NumPy).

    ``add(z)`` folds in the next leaf's logits and returns the ensemble of the
    leaves so far: the sum of their logits divided by their count, so after
    ``k`` calls it equals ``prefix_ensembles(...)[:, k - 1]``.
    """

    def __init__(self) -> None:
        self.total = None
        self.count = 0

    def add(self, logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits)
        self.total = logits.copy() if self.total is None else self.total + logits
        self.count += 1
        return self.value

    @property
    def value(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("no leaf has been added yet")
        return self.total / np.asarray(self.count, dtype=self.total.dtype)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (NumPy), stable for large logits."""
    z = np.asarray(logits) - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


__all__ = ["RunningMean", "ensemble_logits", "prefix_ensembles", "softmax"]
