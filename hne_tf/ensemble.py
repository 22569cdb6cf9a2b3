"""The ensemble rule, in one place: the prediction of the first ``k`` leaves.

Because leaves are ordered depth-first, the first ``k`` leaves form the
ensemble of size ``k``. A model family combines them by one of two rules
(:data:`RULES`; the family's registration says which, ``model.ensemble_rule``):

* ``"mean_logits"`` (HNE, AAAI 2021, eq. 1; also ONE's branches and OEMC's
  students): the prediction is ``softmax(mean_i z_i)``;
* ``"mean_probs"`` (EnsembleNet, eq. 2): the prediction is
  ``mean_i softmax(z_i)``.

Both are returned as *ensemble logits* ``y``, whose softmax is the
prediction: the mean logits, or ``log mean_i softmax(z_i)`` (a normalized
log-probability, so ``softmax(y)`` is the mean probability itself). Argmax,
confidence and NLL then read the same way under either rule.

Users: the losses (HNE's nested and distilled ensembles, EnsembleNet's
``p_ens``), the trainer's ``acc_k`` metrics, the evaluator
(:mod:`hne_tf.metrics`), and on the export side the exporter's accuracies,
the host anytime runner (:class:`RunningMean` live, :func:`prefix_ensembles`
in its replay) and the decision fixture. The functions take TensorFlow
tensors or NumPy arrays and return the same kind. Importing this module does
not import TensorFlow (the manifest's validator reads :data:`RULES`); a
tensor brings it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from hne_tf import checks

if TYPE_CHECKING:
    import tensorflow as tf

    Array = np.ndarray | tf.Tensor

MEAN_LOGITS = "mean_logits"
MEAN_PROBS = "mean_probs"
#: Each rule and the prediction it gives after ``k`` leaves (the manifest's ``ensemble.prediction``).
RULES: dict[str, str] = {
    MEAN_LOGITS: "softmax of the mean of the first k leaves' logits",
    MEAN_PROBS: "the mean of the first k leaves' softmax probabilities (the ensemble logits are its log)",
}


def check_rule(rule) -> str:
    """``rule`` if it is one of :data:`RULES`, else ValueError naming them."""
    if rule not in RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose from {', '.join(RULES)}")
    return rule


def _is_numpy(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, list, tuple))


def _check_k(k, n) -> int:
    return checks.leaves("k", k, n)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis (NumPy), stable for large logits."""
    z = np.asarray(z)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (NumPy), stable for large logits."""
    z = np.asarray(logits) - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def ensemble_logits(logits: Array, k: int, rule: str = MEAN_LOGITS) -> Array:
    """The ensemble logits of the first ``k`` leaves under ``rule``.

    Args:
      logits: ``[batch, N, classes]``, leaves depth-first.
      k: ensemble size, ``1 <= k <= N``.
      rule: ``"mean_logits"``: ``mean_i z_i``; ``"mean_probs"``:
        ``log mean_i softmax(z_i)``, by a logsumexp over the leaves.

    Returns:
      ``[batch, classes]``, a NumPy array for NumPy input, else a tensor in
      the dtype of ``logits``.
    """
    check_rule(rule)
    if _is_numpy(logits):
        logits = np.asarray(logits)
        k = _check_k(k, logits.shape[1])
        if rule == MEAN_LOGITS:
            return logits[:, :k].mean(axis=1)
        log_p = log_softmax(logits[:, :k])
        top = log_p.max(axis=1)
        return top + np.log(np.exp(log_p - top[:, None]).sum(axis=1)) - np.log(np.asarray(k, logits.dtype))
    import tensorflow as tf

    k = _check_k(k, logits.shape[1])
    if rule == MEAN_LOGITS:
        return tf.reduce_mean(logits[:, :k], axis=1)
    log_p = tf.nn.log_softmax(logits[:, :k], axis=-1)
    return tf.reduce_logsumexp(log_p, axis=1) - tf.cast(math.log(k), logits.dtype)


def prefix_ensembles(logits: Array, rule: str = MEAN_LOGITS) -> Array:
    """Every ensemble size at once: entry ``k - 1`` of axis 1 is :func:`ensemble_logits` ``(logits, k, rule)``.

    Args:
      logits: ``[batch, N, classes]``.
      rule: as in :func:`ensemble_logits`.

    Returns:
      ``[batch, N, classes]``, the running form, with the arithmetic of
      :class:`RunningMean`: a cumulative sum of the logits divided by the
      count, or a cumulative logsumexp of the leaves' log-probabilities minus
      the log of the count.
    """
    check_rule(rule)
    if _is_numpy(logits):
        logits = np.asarray(logits)
        counts = np.arange(1, logits.shape[1] + 1, dtype=logits.dtype)[None, :, None]
        if rule == MEAN_LOGITS:
            return np.cumsum(logits, axis=1) / counts
        return np.logaddexp.accumulate(log_softmax(logits), axis=1) - np.log(counts)
    import tensorflow as tf

    counts = tf.cast(tf.range(1, tf.shape(logits)[1] + 1), logits.dtype)[None, :, None]
    if rule == MEAN_LOGITS:
        return tf.cumsum(logits, axis=1) / counts
    return tf.math.cumulative_logsumexp(tf.nn.log_softmax(logits, axis=-1), axis=1) - tf.math.log(counts)


class RunningMean:
    """The anytime ensemble, one leaf at a time (NumPy), under ``rule``.

    ``add(z)`` folds in the next leaf's logits ``[..., classes]`` and returns
    the ensemble logits of the leaves so far; after ``k`` calls they equal
    ``prefix_ensembles(...)[:, k - 1]`` bit for bit. ``"mean_logits"`` keeps
    the sum of the logits (the value is the sum over the count);
    ``"mean_probs"`` keeps the logsumexp of the leaves' log-probabilities
    (the value is that minus the log of the count: the log of the mean
    probability, without underflow).
    """

    def __init__(self, rule: str = MEAN_LOGITS) -> None:
        self.rule = check_rule(rule)
        self.total = None
        self.count = 0

    def add(self, logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits)
        term = logits if self.rule == MEAN_LOGITS else log_softmax(logits)
        if self.total is None:
            self.total = term.copy()
        elif self.rule == MEAN_LOGITS:
            self.total = self.total + term
        else:
            self.total = np.logaddexp(self.total, term)
        self.count += 1
        return self.value

    @property
    def value(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("no leaf has been added yet")
        count = np.asarray(self.count, dtype=self.total.dtype)
        return self.total / count if self.rule == MEAN_LOGITS else self.total - np.log(count)


__all__ = ["MEAN_LOGITS", "MEAN_PROBS", "RULES", "RunningMean", "check_rule", "ensemble_logits", "log_softmax",
           "prefix_ensembles", "softmax"]
