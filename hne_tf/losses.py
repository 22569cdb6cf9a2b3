"""Training losses for tree ensembles (HNE, ONE, OEMC, EnsembleNet): one function per loss, one registry.

Each loss is a function registered with :func:`register`, which records its
families, a one-line summary and its hyperparameters (name, default, help,
valid range). :func:`get_loss` looks a loss up, checks the model family and
every hyperparameter, and returns ``loss_fn(labels, outputs, distill_scale=1.0)``.
``train.py`` builds its ``--loss`` help and one flag per hyperparameter from
the registry, so adding a loss means adding one function here (and its test).

Inputs: the model's output dict (see :class:`hne_tf.models.TreeEnsemble`) and
integer labels ``[batch]``. Output: a dict of **per-example** float32 vectors
``[batch]``: ``"loss"`` is the total, the other keys its components, so that
the training loop can average with ``tf.nn.compute_average_loss`` under
``tf.distribute``. The components are the *unweighted* terms (``distill``
already holds its ``T^2`` factor where the loss has one, but neither ``a``,
``s`` nor the family weights), so ``loss`` can be recomputed from them.
A loss may also return :data:`NO_TRUNK_GRAD` (``"no_trunk_grad"``): the
weighted part of ``"loss"`` (already included in it) whose gradient must not
reach the model's trunk (``model.trunk_variables()``, the root blocks every
leaf shares). The function :func:`get_loss` returns gives it only when asked
(``no_trunk_grad=True``, as ``EnsembleTrainer.train_step`` does); it is not a
logged component.

Notation: ``z_n`` is the logits of leaf ``n`` (``N`` leaves, depth-first),
``CE(g, z)`` the cross-entropy of the (optionally label-smoothed) ground truth
``g`` against ``softmax(z)``, ``y_k = ensemble_logits(logits, k)`` the mean of
the first ``k`` leaves' logits (HNE AAAI eq. 1, :mod:`hne_tf.ensemble`) and
``y_E = y_N`` the full ensemble. ``sg`` is ``tf.stop_gradient``, ``s`` the
``distill_scale`` argument (the sigmoid ramp-up, :func:`sigmoid_rampup`),
``sizes`` the nested ensemble sizes ``hne_tf.tree.default_prefixes(N)`` =
1, 2, 4, ..., N. ``python3 train.py --help`` prints the registry.

Decisions the papers leave open (our choices):

* **Sum over leaves, not mean.** ``L_I``, ``L_D``, ``L_HD`` and ``L_S`` are
  sums over models / sub-ensembles. With a sum, the parameters that belong to
  one leaf alone receive the same gradient scale as a single network trained
  by itself, whatever ``N``; shared blocks receive the sum of their leaves'
  gradients.
* **T^2 scaling.** HNE's ``L_D`` and ``L_HD`` (and EnsembleNet's
  co-distillation) are multiplied by ``T^2`` as ONE does (ONE eq. 6,
  following Hinton et al.): the gradient of a cross-entropy between
  distributions softened by ``T`` shrinks roughly like ``1 / T^2``, and the
  factor keeps the balance with the ground-truth terms when ``T`` changes.
  The HNE papers do not say whether they scale. **OEMC does not**: its KD
  term (OEMC eqs. 6-7) has no ``T^2``, and its weights 0.7 / 0.15 / 0.15 were
  tuned without one, so :func:`oemc` follows the paper.
* **Cross-entropy vs. KL.** HNE and EnsembleNet distillation use
  cross-entropy against the soft targets (as their equations write it), ONE
  and OEMC use KL divergence. The two differ by the teacher's entropy, a
  constant for the students, so gradients are identical; only the logged
  value differs.
* **Ensembles.** HNE, OEMC (its ensemble teacher, "averaged logits") and
  the nested sizes use the mean of logits (HNE eq. 1). EnsembleNet's
  ensembler "averages over the predictions of individual models", i.e. the
  heads' probabilities: ``p_ens = mean_n softmax(z_n)`` by default
  (``ensemble_average="probabilities"``; ``"logits"`` gives softmax of the
  mean logits, which agrees with it only where the heads agree). ONE uses its
  learned gate.
* **distill_scale** multiplies every term that matches a teacher (soft-target
  terms and OEMC's feature hints), never a ground-truth term.
* **Label smoothing** (``label_smoothing=eps``) replaces the one-hot target of
  every ground-truth cross-entropy by ``(1 - eps) onehot + eps / C``; soft
  targets are never smoothed.
* Everything is computed in float32 (logits, gate and features are cast), so
  the losses are safe under mixed precision.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence

import tensorflow as tf

from hne_tf import checks, plugins
from hne_tf.ensemble import MEAN_PROBS, ensemble_logits
from hne_tf.tree import default_prefixes

NO_TRUNK_GRAD = "no_trunk_grad"  # the part of "loss" that trains every variable except the trunk's

LossFn = Callable[..., dict[str, tf.Tensor]]


# ------------------------------------------------------------ registry
@dataclasses.dataclass(frozen=True)
class HParam:
    """One hyperparameter of a loss: its default and the values it accepts.

    Numbers: ``low`` / ``high`` bound them (``None``: unbounded), inclusive
    unless ``low_open`` / ``high_open``. Strings: one of ``choices``.
    """

    name: str
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    def at(self, default) -> HParam:
        """The same hyperparameter with another default (losses share names, not defaults)."""
        return dataclasses.replace(self, default=default)

    def rule(self) -> checks.Rule:
        """The values it accepts, in the project's one vocabulary (:mod:`hne_tf.checks`)."""
        if self.choices:
            return checks.choice(*self.choices)
        return checks.number(self.low, self.high, low_open=self.low_open, high_open=self.high_open)

    def range_text(self) -> str:
        """What it accepts, in words (``--help``): e.g. ``a number in [0, 1]``."""
        return self.rule().allowed

    def check(self, value, loss: str) -> float | str:
        """Returns ``value`` as the type the loss uses; a ValueError names the hyperparameter."""
        return self.rule().check(f"hyperparameter {self.name} of loss {loss!r}", value)


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """A registered loss: ``fn(labels, logits, outputs, *, distill_scale, **hparams)``."""

    name: str
    fn: Callable
    families: tuple[str, ...]  # the model families it fits; () for every family
    summary: str
    hparams: tuple[HParam, ...]
    min_leaves: int = 1  # 2 for a loss that is meaningless on one member (ONE, OEMC, EnsembleNet's eq. 3)
    uses_teacher: bool = False  # fn also takes teacher=model.teacher_logits (the family's own teacher)

    @property
    def defaults(self) -> dict[str, object]:
        return {h.name: h.default for h in self.hparams}


# Every ground-truth cross-entropy can be smoothed: each loss has this one.
LABEL_SMOOTHING = HParam("label_smoothing", 0.0, "label smoothing eps of every ground-truth cross-entropy "
                         "(soft targets are never smoothed)", 0.0, 1.0, high_open=True)
ALPHA = HParam("alpha", 0.5, "distillation weight a in (1 - a) L_I + a L_distill", 0.0, 1.0)
TEMPERATURE = HParam("temperature", 2.0, "softening temperature T of teacher and students", 0.0, None,
                     low_open=True)

LOSSES: dict[str, LossSpec] = {}


def register(name: str, *, summary: str, families: Sequence[str] = (),
             hparams: Sequence[HParam] = (), min_leaves: int = 1, uses_teacher: bool = False) -> Callable:
    """Decorator: registers ``fn`` as the loss ``name`` (see :class:`LossSpec`).

    ``families``: the model families (``hne_tf.presets.FAMILIES``) the loss
    fits; empty for every family. ``label_smoothing`` is added to every
    loss's hyperparameters. ``min_leaves``: 2 where the loss has no meaning
    on a single member (ONE's gate, OEMC's pseudo teacher, EnsembleNet's
    co-distillation would distil a network into itself). HNE's losses stay
    defined at N = 1, where every distillation term is 0. ``uses_teacher``:
    ``fn`` also takes ``teacher``, the model's own teacher
    (``model.teacher_logits``: outputs -> ``[batch, classes]``), so that the
    teacher's formula lives with the family, not in the loss (ONE).
    """
    if name in LOSSES:
        raise ValueError(f"loss {name!r} is registered twice")
    all_hparams = tuple(hparams) + (LABEL_SMOOTHING,)
    for h in all_hparams:
        h.check(h.default, name)  # a default outside its own range is a bug here

    def wrap(fn: Callable) -> Callable:
        LOSSES[name] = LossSpec(name, fn, tuple(families), summary, all_hparams, min_leaves, uses_teacher)
        return fn
    return wrap


def hyperparameters() -> dict[str, dict[str, HParam]]:
    """Every distinct hyperparameter name -> ``{loss name: HParam}`` of the losses that use it."""
    table: dict[str, dict[str, HParam]] = {}
    for spec in LOSSES.values():
        for h in spec.hparams:
            table.setdefault(h.name, {})[spec.name] = h
    return table


def describe() -> str:
    """One line per loss: name, families it fits, summary (the ``--loss`` help)."""
    lines = []
    for spec in LOSSES.values():
        fams = "all families" if not spec.families else "family " + "/".join(spec.families) + " only"
        lines.append(f"{spec.name}: {spec.summary} [{fams}]")
    return "\n".join(lines)


# ------------------------------------------------------------ helpers
def sigmoid_rampup(epoch, rampup_epochs) -> float | tf.Tensor:
    """Sigmoid-shaped ramp from ~0 to 1: ``exp(-5 (1 - t)^2)``, ``t = clip(epoch / rampup_epochs, 0, 1)``.

    ``rampup_epochs <= 0`` means no ramp-up: 1.0. A Python number ``epoch``
    gives a float; a tensor or variable (the trainer's epoch counter) gives a
    float32 tensor, so the trainer and this function share one formula.
    """
    if rampup_epochs <= 0:
        return 1.0
    if isinstance(epoch, numbers.Real):
        t = min(max(float(epoch) / float(rampup_epochs), 0.0), 1.0)
        return float(math.exp(-5.0 * (1.0 - t) ** 2))
    t = tf.clip_by_value(tf.cast(epoch, tf.float32) / float(rampup_epochs), 0.0, 1.0)
    return tf.exp(-5.0 * tf.square(1.0 - t))


def _target(labels, num_classes: int, eps: float) -> tf.Tensor:
    target = tf.one_hot(labels, num_classes, dtype=tf.float32)
    return target * (1.0 - eps) + eps / num_classes if eps else target


def _ce_ground_truth(labels, logits, eps: float) -> tf.Tensor:
    """Per-example cross-entropy of (smoothed) one-hot labels; logits ``[B, C]`` or ``[B, N, C]``.

    For ``[B, N, C]`` the result is summed over the N axis.
    """
    return _ce_log_probs(labels, tf.nn.log_softmax(logits, axis=-1), eps)


def _ce_log_probs(labels, log_probs, eps: float) -> tf.Tensor:
    """Like :func:`_ce_ground_truth`, from log-probabilities ``[B, C]`` or ``[B, N, C]``."""
    target = _target(labels, log_probs.shape[-1], eps)
    if log_probs.shape.rank == 3:
        return -tf.reduce_sum(target[:, None, :] * log_probs, axis=[1, 2])
    return -tf.reduce_sum(target * log_probs, axis=-1)


def _soft_ce(teacher_probs, student_logits, temperature: float) -> tf.Tensor:
    """``T^2 CE(sg teacher_probs, softmax(student / T))`` per example.

    ``teacher_probs`` is ``[B, C]`` (already softened); ``student_logits``
    ``[B, C]`` or ``[B, N, C]`` (summed over N).
    """
    q = tf.stop_gradient(teacher_probs)
    log_p = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    if student_logits.shape.rank == 3:
        ce = -tf.reduce_sum(q[:, None, :] * log_p, axis=[1, 2])
    else:
        ce = -tf.reduce_sum(q * log_p, axis=-1)
    return temperature ** 2 * ce


def _soft_kl(teacher_logits, student_logits, temperature: float) -> tf.Tensor:
    """``sum_n KL(sg softmax(teacher / T) || softmax(z_n / T))`` per example, no T^2; students ``[B, N, C]``."""
    log_q = tf.stop_gradient(tf.nn.log_softmax(teacher_logits / temperature, axis=-1))[:, None, :]
    log_p = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    return tf.reduce_sum(tf.exp(log_q) * (log_q - log_p), axis=[1, 2])


def _feature_mse(features: Sequence[tf.Tensor]) -> tf.Tensor:
    """OEMC eqs. 3-4 per example: ``sum_blocks sum_{i >= 1} mean_{h,w,c} (sg f_0 - f_i)^2``."""
    total = None
    for f in features:
        f = tf.cast(f, tf.float32)
        if f.shape.rank != 5:
            raise ValueError(f"OEMC features must be [batch, students, h, w, c], got shape {f.shape}")
        teacher = tf.stop_gradient(f[:, :1])  # the pseudo teacher learns nothing from its students
        term = tf.reduce_sum(tf.reduce_mean(tf.square(f[:, 1:] - teacher), axis=[2, 3, 4]), axis=1)
        total = term if total is None else total + term
    return total


# ------------------------------------------------------------ the losses
@register("independent", summary="L_I = sum_n CE(g, z_n), every leaf on its own (HNE eq. 3)")
def independent(labels, logits, outputs, *, distill_scale, label_smoothing) -> dict[str, tf.Tensor]:
    """HNE AAAI eq. 3: ``L_I = sum_n CE(g, z_n)``. Components: ``ce_independent``."""
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    return {"loss": ce_i, "ce_independent": ce_i}


def _nested_ce(labels, logits, eps) -> tf.Tensor:
    return tf.add_n([_ce_ground_truth(labels, ensemble_logits(logits, k), eps)
                     for k in default_prefixes(logits.shape[1])])


@register("nested", summary="L_S = sum_k CE(g, y_k) over nested ensembles k = 1, 2, 4, ..., N (HNE eq. 4)")
def nested(labels, logits, outputs, *, distill_scale, label_smoothing) -> dict[str, tf.Tensor]:
    """HNE AAAI eq. 4: ``L_S = sum_{k in sizes} CE(g, y_k)``, gradients through every size.

    Components: ``ce_nested``.
    """
    ce_s = _nested_ce(labels, logits, label_smoothing)
    return {"loss": ce_s, "ce_nested": ce_s}


@register("independent_nested", summary="L_I + L_S (HNE eqs. 3 + 4, Table 1)")
def independent_nested(labels, logits, outputs, *, distill_scale, label_smoothing) -> dict[str, tf.Tensor]:
    """HNE AAAI eqs. 3 + 4 (Table 1's L_I + L_S). Components: ``ce_independent``, ``ce_nested``."""
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    ce_s = _nested_ce(labels, logits, label_smoothing)
    return {"loss": ce_i + ce_s, "ce_independent": ce_i, "ce_nested": ce_s}


@register("codistillation", summary="(1 - a) L_I + a L_D, every leaf distilled from the full ensemble "
          "(HNE eq. 5)", hparams=(ALPHA.at(0.5), TEMPERATURE.at(2.0)))
def codistillation(labels, logits, outputs, *, distill_scale, label_smoothing, alpha,
                   temperature) -> dict[str, tf.Tensor]:
    """HNE AAAI eq. 5: ``(1 - a) L_I + a s L_D``, ``L_D = sum_n T^2 CE(sg softmax(y_E / T), softmax(z_n / T))``.

    Components: ``ce_independent``, ``distill`` (= ``L_D``).
    """
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    teacher = tf.nn.softmax(ensemble_logits(logits, logits.shape[1]) / temperature, axis=-1)
    dist = _soft_ce(teacher, logits, temperature)
    return {"loss": (1.0 - alpha) * ce_i + alpha * distill_scale * dist, "ce_independent": ce_i,
            "distill": dist}


@register("hierarchical_distillation", summary="(1 - a) L_I + a L_HD, every nested ensemble k < N distilled "
          "from the full one (HNE eq. 6)", hparams=(ALPHA.at(0.5), TEMPERATURE.at(2.0)))
def hierarchical_distillation(labels, logits, outputs, *, distill_scale, label_smoothing, alpha,
                              temperature) -> dict[str, tf.Tensor]:
    """HNE AAAI eq. 6: ``(1 - a) L_I + a s L_HD``,
    ``L_HD = sum_{k in sizes, k < N} T^2 CE(sg softmax(y_E / T), softmax(y_k / T))``, 0 for one leaf.

    Components: ``ce_independent``, ``distill`` (= ``L_HD``).
    """
    n = logits.shape[1]
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    teacher = tf.nn.softmax(ensemble_logits(logits, n) / temperature, axis=-1)
    small = [k for k in default_prefixes(n) if k < n]
    dist = (tf.add_n([_soft_ce(teacher, ensemble_logits(logits, k), temperature) for k in small])
            if small else tf.zeros_like(ce_i))
    return {"loss": (1.0 - alpha) * ce_i + alpha * distill_scale * dist, "ce_independent": ce_i,
            "distill": dist}


@register("one", summary="L_I + CE(g, z_e) + T^2 KL(gated teacher z_e || branch) (ONE eq. 6)",
          families=("one",), hparams=(TEMPERATURE.at(3.0),), min_leaves=2, uses_teacher=True)
def one(labels, logits, outputs, *, distill_scale, label_smoothing, temperature, teacher) -> dict[str, tf.Tensor]:
    """ONE eq. 6: ``L_I + CE(g, z_e) + s T^2 sum_n KL(sg softmax(z_e / T) || softmax(z_n / T))``.

    ``z_e`` is the model's own gated teacher, ``teacher(outputs)`` =
    ``model.teacher_logits(outputs)`` (ONE eq. 3: ``sum_n gate_n z_n``, from
    ``outputs["gate"]``). The teacher (logits and gate) is detached inside the
    KL term, so the gate learns only from ``CE(g, z_e)``. Components:
    ``ce_independent``, ``ce_teacher``, ``distill`` (the KL sum with its ``T^2``).
    """
    if "gate" not in outputs:
        raise ValueError("loss 'one' needs outputs['gate'] (a model of family 'one')")
    z_e = tf.cast(teacher(outputs), tf.float32)
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    ce_t = _ce_ground_truth(labels, z_e, label_smoothing)
    dist = temperature ** 2 * _soft_kl(z_e, logits, temperature)
    return {"loss": ce_i + ce_t + distill_scale * dist, "ce_independent": ce_i, "ce_teacher": ce_t,
            "distill": dist}


@register("oemc", summary="a L_normal + b L_intermediate + c L_KD: student CE, feature MSE to the pseudo "
          "teacher, KL to the mean-logit teacher without T^2 (OEMC eq. 7)", families=("oemc",),
          hparams=(TEMPERATURE.at(2.0),
                   HParam("oemc_ce_weight", 0.7, "OEMC eq. 7 alpha: weight of the students' cross-entropy",
                          0.0, None),
                   HParam("oemc_feature_weight", 0.15, "OEMC eq. 7 beta: weight of the feature MSE", 0.0, None),
                   HParam("oemc_kd_weight", 0.15, "OEMC eq. 7 gamma: weight of the KD term", 0.0, None)),
          min_leaves=2)
def oemc(labels, logits, outputs, *, distill_scale, label_smoothing, temperature, oemc_ce_weight,  # noqa: PLR0913 -- the loss signature: one keyword per hyperparameter of eq. 7
         oemc_feature_weight, oemc_kd_weight) -> dict[str, tf.Tensor]:
    """OEMC eq. 7: ``a L_normal + s (b L_intermediate + c L_KD)``.

    * ``L_normal = L_I`` (OEMC eq. 2).
    * ``L_intermediate = sum_blocks sum_{i >= 1} mean_{h,w,c} (sg f_0 - f_i)^2``
      (OEMC eqs. 3-4, per example, the batch mean taken by the trainer) with
      ``f_0`` the pseudo teacher's feature map and ``f_i`` student ``i``'s map
      after its 1x1 adaptation convolution (``outputs["features"]``). Per
      OEMC section 3.3 it updates only the compressed students' parameters,
      "not the other way round": the pseudo teacher's map is detached here,
      and the weighted term ``s b L_intermediate`` is returned again as
      :data:`NO_TRUNK_GRAD`, so that the trainer keeps its gradient away from
      the shared base block (the trunk; it is the pseudo teacher's too, and
      moving it would move the target). The term thus trains only the
      compressed students' branches and their adapters, with no second
      forward pass. ``tests/test_fidelity.py`` checks this on
      ``oemc_resnet_tiny``.
    * ``L_KD = sum_n KL(sg softmax(y_E / T) || softmax(z_n / T))`` (OEMC eqs.
      5-6): the ensemble teacher is the mean of all students' logits, pseudo
      teacher included, and there is **no** ``T^2`` factor, as in the paper.

    Components: ``ce_independent``, ``feature_mse``, ``distill`` (= ``L_KD``).
    """
    if not outputs.get("features"):
        raise ValueError("loss 'oemc' needs outputs['features'] (a model of family 'oemc')")
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    mse = _feature_mse(outputs["features"])
    dist = _soft_kl(ensemble_logits(logits, logits.shape[1]), logits, temperature)
    hint = distill_scale * oemc_feature_weight * mse
    total = oemc_ce_weight * ce_i + hint + distill_scale * oemc_kd_weight * dist
    return {"loss": total, "ce_independent": ce_i, "feature_mse": mse, "distill": dist, NO_TRUNK_GRAD: hint}


ENSEMBLE_AVERAGE = HParam("ensemble_average", "probabilities",
                          "EnsembleNet's ensembler p_ens: the mean of the heads' probabilities (the paper's "
                          "simple average) or softmax of the mean logits", choices=("probabilities", "logits"))


def _ensemblenet_log_p_ens(logits, average: str, temperature: float = 1.0) -> tf.Tensor:
    """``log p_ens``, ``[B, C]``: the heads' mean softmax at ``T`` (:mod:`hne_tf.ensemble`'s
    ``"mean_probs"``, stable: a logsumexp over the heads), or softmax of their mean logits."""
    n = logits.shape[1]
    if average == "probabilities":
        return ensemble_logits(logits / temperature, n, MEAN_PROBS)
    return tf.nn.log_softmax(ensemble_logits(logits, n) / temperature, axis=-1)


@register("ensemblenet_ensembling", summary="(1 - lam) L_I + N lam CE(g, p_ens), p_ens the heads' mean "
          "probabilities (EnsembleNet eq. 2)",
          hparams=(HParam("ensemble_lambda", 0.0, "EnsembleNet eq. 2 lambda: weight of the ensembler's loss; "
                          "may be negative (the paper's best: -1.5 on ImageNet, -0.5 elsewhere)", None, 1.0),
                   ENSEMBLE_AVERAGE))
def ensemblenet_ensembling(labels, logits, outputs, *, distill_scale, label_smoothing, ensemble_lambda,
                           ensemble_average) -> dict[str, tf.Tensor]:
    """EnsembleNet eq. 2: ``(1 - lam) sum_n CE(g, p_n) + N lam CE(g, p_ens)``.

    ``p_ens = mean_n softmax(z_n)``, the paper's simple-average ensembler,
    its log computed stably by a logsumexp over the heads
    (``ensemble_average="logits"``: ``softmax(y_E)``). Components:
    ``ce_independent``, ``ce_ensemble``.
    """
    n = logits.shape[1]
    ce_i = _ce_ground_truth(labels, logits, label_smoothing)
    ce_e = _ce_log_probs(labels, _ensemblenet_log_p_ens(logits, ensemble_average), label_smoothing)
    return {"loss": (1.0 - ensemble_lambda) * ce_i + n * ensemble_lambda * ce_e, "ce_independent": ce_i,
            "ce_ensemble": ce_e}


@register("ensemblenet_codistillation", summary="mu sum_n CE(sg p_ens, p_n) + N CE(g, p_ens), p_ens the "
          "heads' mean probabilities (EnsembleNet eq. 3)",
          hparams=(HParam("ensemble_mu", 3.0, "EnsembleNet eq. 3 mu: weight of the co-distillation term "
                          "(the paper: 2 to 3)", 0.0, None),
                   TEMPERATURE.at(1.0), ENSEMBLE_AVERAGE), min_leaves=2)
def ensemblenet_codistillation(labels, logits, outputs, *, distill_scale, label_smoothing, ensemble_mu,
                               temperature, ensemble_average) -> dict[str, tf.Tensor]:
    """EnsembleNet eq. 3: ``mu s sum_n T^2 CE(sg p_ens^T, softmax(z_n / T)) + N CE(g, p_ens)``.

    ``p_ens^T = mean_n softmax(z_n / T)`` (``T = 1``, the paper's plain
    cross-entropy, by default), gradient stopped on it as in the paper.
    Components: ``distill``, ``ce_ensemble``.
    """
    n = logits.shape[1]
    ce_e = _ce_log_probs(labels, _ensemblenet_log_p_ens(logits, ensemble_average), label_smoothing)
    teacher = tf.exp(_ensemblenet_log_p_ens(logits, ensemble_average, temperature))
    dist = _soft_ce(teacher, logits, temperature)
    return {"loss": ensemble_mu * distill_scale * dist + n * ce_e, "distill": dist, "ce_ensemble": ce_e}


# ------------------------------------------------------------------ API
class UnknownHParam(ValueError):
    """A hyperparameter the loss does not have; ``name`` is the first such name."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


def check_hparams(name: str, hparams: dict[str, object]) -> dict[str, float | str]:
    """Every hyperparameter of loss ``name``: the given ones checked (a value of None takes the default),
    the others at their defaults. The one check of loss hyperparameters (train.py's flags go through it).

    Raises UnknownHParam for a name the loss does not have, ValueError for a value out of its range.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}")
    spec = LOSSES[name]
    given = {k: v for k, v in hparams.items() if v is not None}
    unknown = sorted(set(given) - set(spec.defaults))
    if unknown:
        raise UnknownHParam(f"loss {name!r} has no hyperparameter {', '.join(unknown)}; "
                            f"its hyperparameters: {', '.join(spec.defaults)}", unknown[0])
    return {h.name: h.check(given.get(h.name, h.default), name) for h in spec.hparams}


def get_loss(name: str, family: str, num_leaves: int, *, teacher: Callable | None = None, **hparams) -> LossFn:
    """Builds the registered loss ``name`` for a model of ``family`` with ``num_leaves`` leaves.

    Args:
      name: a key of :data:`LOSSES`.
      family: the model's family (``model.family``), one of
        ``hne_tf.presets.FAMILIES``; a loss that lists families must list it
        (``one`` and ``oemc`` need their own family).
      num_leaves: number of leaves ``N`` of the model.
      teacher: the model's own teacher, ``model.teacher_logits`` (outputs
        -> ``[batch, classes]``); required by the losses that distil from it
        (``LossSpec.uses_teacher``: ONE), ignored by the others.
      **hparams: the loss's hyperparameters (``LOSSES[name].hparams``); a
        value of ``None`` or a missing one takes the loss's default. A name
        the loss does not have, or a value outside its range, raises.

    Returns:
      ``loss_fn(labels, outputs, distill_scale=1.0, no_trunk_grad=False)``
      returning a dict of per-example float32 tensors ``[batch]``: ``"loss"``
      plus components; with ``no_trunk_grad=True`` also :data:`NO_TRUNK_GRAD`
      where the loss has such a part (the trainer asks for it).
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}")
    spec = LOSSES[name]
    # Imported here: the presets register the families, and a family's own file may register a loss.
    from hne_tf.presets import FAMILIES

    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; valid families: {', '.join(FAMILIES)}")
    unknown = sorted(set(spec.families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"loss {name!r} names unregistered model families {unknown}; registered: "
                         f"{', '.join(FAMILIES)}")
    if spec.families and family not in spec.families:
        raise ValueError(f"loss {name!r} supports model families {', '.join(spec.families)} only, "
                         f"got family {family!r}")
    if isinstance(num_leaves, bool) or not isinstance(num_leaves, numbers.Integral) or num_leaves < 1:
        raise ValueError(f"num_leaves must be a positive integer, got {num_leaves!r}")
    n = int(num_leaves)
    if n < spec.min_leaves:
        raise ValueError(f"loss {name!r} needs a model with at least {spec.min_leaves} leaves, got {n}. "
                         f"Train a single network with loss 'independent'")
    values = check_hparams(name, hparams)
    if spec.uses_teacher:
        if teacher is None:
            raise ValueError(f"loss {name!r} distils from the model's own teacher: pass "
                             "teacher=model.teacher_logits (a model whose family has a teacher role)")
        values["teacher"] = teacher

    def loss_fn(labels, outputs, distill_scale=1.0, no_trunk_grad=False) -> dict[str, tf.Tensor]:
        if "logits" not in outputs:
            raise ValueError("outputs must contain 'logits'")
        logits = tf.cast(outputs["logits"], tf.float32)
        if logits.shape.rank != 3 or logits.shape[1] != n:
            raise ValueError(f"logits must be [batch, {n}, classes], got shape {logits.shape}")
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        scale = tf.cast(distill_scale, tf.float32)
        terms = spec.fn(labels, logits, outputs, distill_scale=scale, **values)
        if not no_trunk_grad:
            terms.pop(NO_TRUNK_GRAD, None)
        return terms

    loss_fn.__name__ = f"{name}_loss"
    return loss_fn


__all__ = ["HParam", "LOSSES", "LossSpec", "NO_TRUNK_GRAD", "UnknownHParam", "check_hparams", "describe",
           "get_loss", "hyperparameters",
           "register", "sigmoid_rampup"] + list(LOSSES)

# Losses in files of their own (hne_tf/extra_losses/): each module registers itself.
plugins.import_package("hne_tf.extra_losses")
