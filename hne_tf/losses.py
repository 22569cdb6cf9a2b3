"""Training losses for tree ensembles (HNE, ONE, OEMC, EnsembleNet).

Every loss is built by :func:`get_loss` and consumes the model's output dict
(see :class:`hne_tf.models.TreeEnsemble`) plus integer labels ``[batch]``. It
returns a dict of **per-example** float32 vectors ``[batch]``: ``"loss"`` is
the total and the other keys are its components, so that the training loop
can average with ``tf.nn.compute_average_loss`` under ``tf.distribute``.

Notation: ``z_n`` is the logits of leaf ``n`` (``N`` leaves, depth-first),
``CE(g, z)`` the cross-entropy of the (optionally label-smoothed) ground truth
``g`` against ``softmax(z)``, ``y_k = ensemble_logits(logits, k)`` the mean of
the first ``k`` leaves' logits (eq. 1 of the HNE paper) and ``y_E = y_N`` the
full ensemble. ``sg`` is ``tf.stop_gradient``. ``sizes`` are the nested
ensemble sizes ``hne_tf.tree.default_prefixes(N)`` = 1, 2, 4, ..., N.

Losses (``name``: total ``"loss"``; then the component keys)::

  independent                 L_I = sum_n CE(g, z_n)                      (HNE eq. 3)
                              -> ce_independent
  nested                      L_S = sum_{k in sizes} CE(g, y_k)           (HNE eq. 4)
                              -> ce_nested
  independent_nested          L_I + L_S
                              -> ce_independent, ce_nested
  codistillation              (1 - a) L_I + a s L_D                       (HNE eq. 5)
                              -> ce_independent, distill
  hierarchical_distillation   (1 - a) L_I + a s L_HD                      (HNE eq. 6)
                              -> ce_independent, distill
  one                         L_I + CE(g, z_e) + s KL_T(z_e)              (ONE eq. 6)
                              -> ce_independent, ce_teacher, distill
  oemc                        w0 L_I + s (w1 MSE + w2 KL_T(y_E))          (OEMC eq. 7)
                              -> ce_independent, feature_mse, distill
  ensemblenet_ensembling      (1 - lam) L_I + N lam CE(g, y_E)            (EnsembleNet eq. 2)
                              -> ce_independent, ce_ensemble
  ensemblenet_codistillation  mu s L_D + N CE(g, y_E)                     (EnsembleNet eq. 3)
                              -> distill, ce_ensemble

with ``s = distill_scale`` (argument of the returned function, 1 by default),
``a = alpha``, ``p^T = softmax(z / T)``. The components are the *unweighted*
terms (``distill`` already contains its ``T^2`` factor, but neither ``a``,
``s`` nor the family weights), so ``loss`` can be recomputed from them.

* ``L_D = sum_n T^2 CE(sg softmax(y_E / T), softmax(z_n / T))``.
* ``KL_T(teacher) = sum_n T^2 KL(sg softmax(teacher / T) || softmax(z_n / T))``.
* ``L_HD = sum_{k in sizes, k < N} T^2 CE(sg softmax(y_E / T), softmax(y_k / T))``;
  it is 0 for a single leaf.
* ONE: ``z_e = sum_n gate_n z_n``; the teacher (logits and gate) is detached
  inside the KL term, so the gate learns only from ``CE(g, z_e)``.
* OEMC: ``MSE = sum_blocks sum_{i >= 1} mean_{h,w,c} (sg f_0 - f_i)^2`` with
  ``f_0`` the pseudo teacher's feature map and ``f_i`` student ``i``'s adapted
  map; only students and their adapters learn from it. The KD teacher is
  ``y_E``, the mean logits of all students, pseudo teacher included, and the
  KL sum runs over all students.

Decisions the papers leave open (our choices):

* **Sum over leaves, not mean.** ``L_I``, ``L_D``, ``L_HD`` and ``L_S`` are
  sums over models / sub-ensembles. With a sum, the parameters that belong
  to one leaf alone receive the same gradient scale as a single network
  trained by itself, whatever ``N``; shared blocks receive the sum of their
  leaves' gradients.
* **T^2 scaling of HNE distillation.** ``L_D`` and ``L_HD`` are multiplied by
  ``T^2`` (as ONE and OEMC do, following Hinton et al.): the gradient of a
  cross-entropy between distributions softened by ``T`` shrinks roughly like
  ``1 / T^2``, and the factor compensates, so the balance between the
  distillation and ground-truth terms does not drift when ``T`` changes. The
  HNE papers do not say whether they scale.
* **Cross-entropy vs. KL.** HNE and EnsembleNet distillation use
  cross-entropy against the soft targets (as their equations write it), ONE
  and OEMC use KL divergence. The two differ by the teacher's entropy, a
  constant for the students, so gradients are identical; only the logged
  value differs.
* **One ensemble definition.** Every ensemble prediction is the mean of
  *logits* (:func:`ensemble_logits`, HNE eq. 1), also for OEMC's teacher and
  EnsembleNet's ``p_ens`` (we read EnsembleNet's plain-average ensembler as
  an average of logits). Only ONE uses its learned gate.
* **distill_scale** multiplies every term that matches a teacher (soft-target
  terms and OEMC's feature hints), never a ground-truth term. It is meant for
  the optional sigmoid ramp-up (:func:`sigmoid_rampup`).
* **Label smoothing** (``label_smoothing=eps``) replaces the one-hot target of
  every ground-truth cross-entropy by ``(1 - eps) onehot + eps / C``; soft
  targets are never smoothed.
* Everything is computed in float32 (logits, gate and features are cast), so
  the losses are safe under mixed precision.
* Arguments a loss does not use (``alpha`` for ``one``, ``temperature`` for
  ``nested``, ...) are accepted and ignored, so a training loop may pass the
  same arguments for every loss. EnsembleNet's co-distillation uses
  ``temperature`` (default 1, i.e. the paper's plain cross-entropy).
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf

from hne_tf.tree import default_prefixes

LOSSES = (
    "independent",
    "nested",
    "independent_nested",
    "codistillation",
    "hierarchical_distillation",
    "one",
    "oemc",
    "ensemblenet_ensembling",
    "ensemblenet_codistillation",
)

FAMILIES = ("hne", "one", "oemc", "ensemblenet")

# Families each loss supports (losses that need only logits support all).
SUPPORTED_FAMILIES = {name: FAMILIES for name in LOSSES}
SUPPORTED_FAMILIES["one"] = ("one",)
SUPPORTED_FAMILIES["oemc"] = ("oemc",)

# Hyper-parameter defaults used when an argument is None / not given.
DEFAULTS = {
    "independent": {},
    "nested": {},
    "independent_nested": {},
    "codistillation": {"alpha": 0.5, "temperature": 2.0},
    "hierarchical_distillation": {"alpha": 0.5, "temperature": 2.0},
    "one": {"temperature": 3.0},
    "oemc": {"temperature": 2.0, "oemc_weights": (0.7, 0.15, 0.15)},
    "ensemblenet_ensembling": {"ensemble_lambda": 0.0},
    "ensemblenet_codistillation": {"ensemble_mu": 3.0, "temperature": 1.0},
}

_EXTRA_KWARGS = ("oemc_weights", "ensemble_lambda", "ensemble_mu")

LossFn = Callable[..., Dict[str, tf.Tensor]]


# ---------------------------------------------------------------- helpers
def sigmoid_rampup(epoch, rampup_epochs) -> float:
    """Sigmoid-shaped ramp from ~0 to 1: ``exp(-5 (1 - t)^2)``, ``t = clip(epoch / rampup_epochs, 0, 1)``.

    Returns 1.0 when ``rampup_epochs <= 0`` (no ramp-up).
    """
    if rampup_epochs <= 0:
        return 1.0
    t = min(max(float(epoch) / float(rampup_epochs), 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


def ensemble_logits(logits, k: int) -> tf.Tensor:
    """Ensemble prediction of the first ``k`` leaves: the mean of their logits (HNE eq. 1).

    Args:
      logits: ``[batch, N, classes]``.
      k: sub-ensemble size, ``1 <= k <= N``.

    Returns:
      ``[batch, classes]`` in the dtype of ``logits``.
    """
    n = logits.shape[1]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 or (n is not None and k > n):
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    return tf.reduce_mean(logits[:, :int(k)], axis=1)


def _ce_ground_truth(labels, logits, eps: float) -> tf.Tensor:
    """Per-example cross-entropy of (smoothed) one-hot labels; logits ``[B, C]`` or ``[B, N, C]``.

    For ``[B, N, C]`` the result is summed over the N axis.
    """
    num_classes = logits.shape[-1]
    target = tf.one_hot(labels, num_classes, dtype=tf.float32)
    if eps:
        target = target * (1.0 - eps) + eps / num_classes
    if logits.shape.rank == 3:
        target = target[:, None, :]
    ce = -tf.reduce_sum(target * tf.nn.log_softmax(logits, axis=-1), axis=-1)
    if logits.shape.rank == 3:
        ce = tf.reduce_sum(ce, axis=1)
    return ce


def _soft_ce(teacher_logits, student_logits, temperature: float) -> tf.Tensor:
    """``T^2 CE(sg softmax(teacher / T), softmax(student / T))`` per example.

    ``teacher_logits`` is ``[B, C]``; ``student_logits`` ``[B, C]`` or
    ``[B, N, C]`` (summed over N).
    """
    q = tf.stop_gradient(tf.nn.softmax(teacher_logits / temperature, axis=-1))
    if student_logits.shape.rank == 3:
        q = q[:, None, :]
    ce = -tf.reduce_sum(q * tf.nn.log_softmax(student_logits / temperature, axis=-1), axis=-1)
    if student_logits.shape.rank == 3:
        ce = tf.reduce_sum(ce, axis=1)
    return temperature ** 2 * ce


def _soft_kl(teacher_logits, student_logits, temperature: float) -> tf.Tensor:
    """``T^2 sum_n KL(sg softmax(teacher / T) || softmax(z_n / T))`` per example; students ``[B, N, C]``."""
    log_q = tf.stop_gradient(tf.nn.log_softmax(teacher_logits / temperature, axis=-1))[:, None, :]
    log_p = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    kl = tf.reduce_sum(tf.exp(log_q) * (log_q - log_p), axis=-1)
    return temperature ** 2 * tf.reduce_sum(kl, axis=1)


def _feature_mse(features: Sequence[tf.Tensor]) -> tf.Tensor:
    """OEMC intermediate loss per example: pseudo teacher (entry 0) detached."""
    total = None
    for f in features:
        f = tf.cast(f, tf.float32)
        if f.shape.rank != 5:
            raise ValueError(f"OEMC features must be [batch, students, h, w, c], got shape {f.shape}")
        teacher = tf.stop_gradient(f[:, :1])
        sq = tf.square(f[:, 1:] - teacher)  # [B, S-1, h, w, c]
        per_student = tf.reduce_mean(sq, axis=[2, 3, 4])
        term = tf.reduce_sum(per_student, axis=1)
        total = term if total is None else total + term
    return total


def _check_prob(name, value, low=0.0, high=1.0):
    if not low <= float(value) <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


# ------------------------------------------------------------------ API
def get_loss(name: str, family: str, num_leaves: int, *, alpha: Optional[float] = None,
             temperature: Optional[float] = None, label_smoothing: float = 0.0, **kw) -> LossFn:
    """Builds the loss ``name`` for a model of ``family`` with ``num_leaves`` leaves.

    Args:
      name: one of :data:`LOSSES`.
      family: the model's family (``model.family``): one of :data:`FAMILIES`.
        ``"one"`` needs family ``"one"`` (gate), ``"oemc"`` family ``"oemc"``
        (features); the other losses need only logits and fit every family.
      num_leaves: number of leaves ``N`` of the model.
      alpha: distillation weight of ``codistillation`` and
        ``hierarchical_distillation`` (default 0.5).
      temperature: softening temperature (defaults: 2 for HNE losses and
        OEMC, 3 for ONE, 1 for EnsembleNet co-distillation).
      label_smoothing: smoothing of every ground-truth cross-entropy.
      **kw: ``oemc_weights=(alpha, beta, gamma)`` (default
        ``(0.7, 0.15, 0.15)``), ``ensemble_lambda`` (default 0.0, may be
        negative), ``ensemble_mu`` (default 3.0).

    Returns:
      ``loss_fn(labels, outputs, distill_scale=1.0)`` returning a dict of
      per-example float32 tensors ``[batch]``: ``"loss"`` plus components
      (see the module docstring).
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}")
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; valid families: {', '.join(FAMILIES)}")
    supported = SUPPORTED_FAMILIES[name]
    if family not in supported:
        raise ValueError(f"loss {name!r} supports model families {', '.join(supported)} only, "
                         f"got family {family!r}")
    unknown = sorted(set(kw) - set(_EXTRA_KWARGS))
    if unknown:
        raise TypeError(f"get_loss got unknown keyword arguments {unknown}; "
                        f"accepted: alpha, temperature, label_smoothing, {', '.join(_EXTRA_KWARGS)}")
    if isinstance(num_leaves, bool) or not isinstance(num_leaves, numbers.Integral) or num_leaves < 1:
        raise ValueError(f"num_leaves must be a positive integer, got {num_leaves!r}")
    num_leaves = int(num_leaves)
    _check_prob("label_smoothing", label_smoothing)

    defaults = DEFAULTS[name]
    a = float(defaults.get("alpha", 0.5) if alpha is None else alpha)
    _check_prob("alpha", a)
    t = float(defaults.get("temperature", 1.0) if temperature is None else temperature)
    if t <= 0:
        raise ValueError(f"temperature must be > 0, got {t}")
    w = kw.get("oemc_weights")
    w = tuple(float(x) for x in (DEFAULTS["oemc"]["oemc_weights"] if w is None else w))
    if len(w) != 3:
        raise ValueError(f"oemc_weights must be (alpha, beta, gamma), got {w}")
    lam = kw.get("ensemble_lambda")
    lam = float(DEFAULTS["ensemblenet_ensembling"]["ensemble_lambda"] if lam is None else lam)
    mu = kw.get("ensemble_mu")
    mu = float(DEFAULTS["ensemblenet_codistillation"]["ensemble_mu"] if mu is None else mu)

    n = num_leaves
    eps = float(label_smoothing)
    small_sizes = [k for k in default_prefixes(n) if k < n]

    def loss_fn(labels, outputs, distill_scale=1.0) -> Dict[str, tf.Tensor]:
        if "logits" not in outputs:
            raise ValueError("outputs must contain 'logits'")
        logits = tf.cast(outputs["logits"], tf.float32)
        if logits.shape.rank != 3 or (logits.shape[1] is not None and logits.shape[1] != n):
            raise ValueError(f"logits must be [batch, {n}, classes], got shape {logits.shape}")
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        scale = tf.cast(distill_scale, tf.float32)
        y_e = ensemble_logits(logits, n)

        if name == "independent":
            ce_i = _ce_ground_truth(labels, logits, eps)
            return {"loss": ce_i, "ce_independent": ce_i}

        if name in ("nested", "independent_nested"):
            ce_s = tf.add_n([_ce_ground_truth(labels, ensemble_logits(logits, k), eps)
                             for k in default_prefixes(n)])
            if name == "nested":
                return {"loss": ce_s, "ce_nested": ce_s}
            ce_i = _ce_ground_truth(labels, logits, eps)
            return {"loss": ce_i + ce_s, "ce_independent": ce_i, "ce_nested": ce_s}

        if name == "codistillation":
            ce_i = _ce_ground_truth(labels, logits, eps)
            dist = _soft_ce(y_e, logits, t)
            return {"loss": (1.0 - a) * ce_i + a * scale * dist, "ce_independent": ce_i, "distill": dist}

        if name == "hierarchical_distillation":
            ce_i = _ce_ground_truth(labels, logits, eps)
            if small_sizes:
                dist = tf.add_n([_soft_ce(y_e, ensemble_logits(logits, k), t) for k in small_sizes])
            else:
                dist = tf.zeros_like(ce_i)
            return {"loss": (1.0 - a) * ce_i + a * scale * dist, "ce_independent": ce_i, "distill": dist}

        if name == "one":
            if "gate" not in outputs:
                raise ValueError("loss 'one' needs outputs['gate'] (a model of family 'one')")
            gate = tf.cast(outputs["gate"], tf.float32)
            z_e = tf.reduce_sum(gate[:, :, None] * logits, axis=1)
            ce_i = _ce_ground_truth(labels, logits, eps)
            ce_t = _ce_ground_truth(labels, z_e, eps)
            dist = _soft_kl(z_e, logits, t)
            return {"loss": ce_i + ce_t + scale * dist, "ce_independent": ce_i, "ce_teacher": ce_t,
                    "distill": dist}

        if name == "oemc":
            if not outputs.get("features"):
                raise ValueError("loss 'oemc' needs outputs['features'] (a model of family 'oemc')")
            ce_i = _ce_ground_truth(labels, logits, eps)
            mse = _feature_mse(outputs["features"])
            dist = _soft_kl(y_e, logits, t)
            total = w[0] * ce_i + scale * (w[1] * mse + w[2] * dist)
            return {"loss": total, "ce_independent": ce_i, "feature_mse": mse, "distill": dist}

        if name == "ensemblenet_ensembling":
            ce_i = _ce_ground_truth(labels, logits, eps)
            ce_e = _ce_ground_truth(labels, y_e, eps)
            return {"loss": (1.0 - lam) * ce_i + n * lam * ce_e, "ce_independent": ce_i,
                    "ce_ensemble": ce_e}

        # ensemblenet_codistillation
        ce_e = _ce_ground_truth(labels, y_e, eps)
        dist = _soft_ce(y_e, logits, t)
        return {"loss": mu * scale * dist + n * ce_e, "distill": dist, "ce_ensemble": ce_e}

    loss_fn.__name__ = f"{name}_loss"
    return loss_fn


__all__ = ["DEFAULTS", "FAMILIES", "LOSSES", "SUPPORTED_FAMILIES", "ensemble_logits", "get_loss",
           "sigmoid_rampup"]
