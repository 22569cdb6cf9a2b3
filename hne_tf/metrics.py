"""Evaluation of a tree ensemble: every prefix, every leaf, diversity.

Accumulates over batches in numpy so the test set never has to fit in memory.
For each prefix size ``k`` the ensemble prediction follows the model's
ensemble rule (``model.ensemble_rule``, :mod:`hne_tf.ensemble`): the softmax
of the mean of the first ``k`` leaves' logits (eq. 1 of the AAAI paper; every
family but EnsembleNet), or the mean of their probabilities (EnsembleNet's
eq. 2). ``accuracy``, ``nll`` and ``ece`` of a prefix are those of that rule;
``ensemble_rule`` in the result names it. A family with its own teacher
(ONE's gated teacher, the paper's "ONE-E", ONE Table 5) is scored beside them.

Diversity is reported three ways per prefix. ``logit_std`` (the std of the
logits across the leaves, the papers' measure) depends on the logits' scale;
two scale-free measures sit beside it:

* ``disagreement``: the fraction of leaf pairs (among the first ``k``) whose
  top-1 predictions differ, averaged over examples;
* ``ambiguity``: the mean over the first ``k`` leaves of ``KL(q || p_i)``, with
  ``q`` the softmax of the mean logits (whatever the rule) and ``p_i`` a
  leaf's. Because ``q`` is the normalised geometric mean of the ``p_i``, it is
  exactly the gap between the leaves' mean NLL and that ensemble's NLL: the
  part of its gain that comes from the leaves differing.

Each prefix also carries ``accuracy_mean_probs`` and ``nll_mean_probs``: the
ensemble as the mean of the leaves' probabilities (EnsembleNet's eq. 2),
whatever the model's rule, so both rules can be compared on any family.
"""

from __future__ import annotations

import numpy as np

from hne_tf.ensemble import MEAN_LOGITS, MEAN_PROBS, check_rule, log_softmax, prefix_ensembles


class _Scores:
    """Streaming accuracy, NLL and ECE of one predictor (``num_bins`` confidence bins)."""

    def __init__(self, num_bins: int) -> None:
        self.bins = num_bins
        self.count = 0
        self.correct = 0.0
        self.nll = 0.0
        self.bin_count = np.zeros(num_bins)
        self.bin_conf = np.zeros(num_bins)
        self.bin_acc = np.zeros(num_bins)

    def update(self, logp: np.ndarray, labels: np.ndarray) -> None:
        hit = logp.argmax(-1) == labels
        self.count += len(labels)
        self.correct += hit.sum()
        self.nll -= logp[np.arange(len(labels)), labels].sum()
        conf = np.exp(logp.max(-1))
        idx = np.minimum((conf * self.bins).astype(int), self.bins - 1)
        np.add.at(self.bin_count, idx, 1)
        np.add.at(self.bin_conf, idx, conf)
        np.add.at(self.bin_acc, idx, hit)

    def result(self) -> dict[str, float]:
        return {"accuracy": float(self.correct / self.count), "nll": float(self.nll / self.count),
                "ece": float(np.abs(self.bin_acc - self.bin_conf).sum() / self.count)}


class EnsembleEvaluator:
    """Streaming accuracy, NLL and ECE per prefix; accuracy per leaf; logit std;
    and, for a family with its own teacher, the teacher's accuracy, NLL and ECE.

    Args:
      num_leaves: N.
      num_bins: ECE bins (15, as is usual for calibration studies).
      rule: the model's ensemble rule (``model.ensemble_rule``), which the
        prefixes' accuracy, NLL and ECE follow.
    """

    def __init__(self, num_leaves: int, num_bins: int = 15, rule: str = MEAN_LOGITS) -> None:
        self.rule = check_rule(rule)
        self.n = int(num_leaves)
        self.bins = int(num_bins)
        self.count = 0
        self.prefix_scores = [_Scores(self.bins) for _ in range(self.n)]  # per prefix k = 1..N, under the rule
        self.teacher: _Scores | None = None      # created by the first teacher batch
        self.leaf_correct = np.zeros(self.n)     # per leaf
        self.std_sum = np.zeros(self.n)          # per prefix: std across its leaves
        self.pair_differ = np.zeros((self.n, self.n))  # [i, j]: examples where leaves i and j disagree
        self.ambiguity_sum = np.zeros(self.n)    # per prefix: sum over examples of mean_i KL(q || p_i)
        self.prob_scores = [_Scores(self.bins) for _ in range(self.n)]  # per prefix, mean of probabilities

    def update(self, logits: np.ndarray, labels: np.ndarray, teacher_logits: np.ndarray | None = None) -> None:
        """logits: ``[batch, N, classes]``; labels: ``[batch]`` ints; teacher_logits: ``[batch, classes]``,
        the family's own teacher (ONE's gated teacher, ``model.teacher_logits``), or None."""
        logits = np.asarray(logits, dtype=np.float64)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        b = logits.shape[0]
        if logits.ndim != 3 or logits.shape[1] != self.n or len(labels) != b:
            raise ValueError(f"expected {self.n} leaves (logits [batch, {self.n}, classes]) and one label per "
                             f"example, got logits of shape {logits.shape} and {len(labels)} labels")
        if (teacher_logits is None) != (self.teacher is None) and self.count:
            raise ValueError("teacher_logits must be given for every batch or for none")
        if teacher_logits is not None:
            teacher_logits = np.asarray(teacher_logits, dtype=np.float64)
            if teacher_logits.shape != (b, logits.shape[2]):
                raise ValueError(f"expected teacher logits of shape {(b, logits.shape[2])}, "
                                 f"got {teacher_logits.shape}")
            if self.teacher is None:
                self.teacher = _Scores(self.bins)
            self.teacher.update(log_softmax(teacher_logits), labels)
        self.count += b
        self.leaf_correct += (logits.argmax(-1) == labels[:, None]).sum(0)
        prefix_mean = prefix_ensembles(logits)  # [batch, N, classes]: entry k-1 is the ensemble of k leaves
        sizes = np.arange(1, self.n + 1)[None, :, None]
        # Std of the logits across a prefix's leaves, averaged over classes
        # and samples (the papers' diversity measure).
        prefix_var = np.maximum(np.cumsum(logits ** 2, axis=1) / sizes - prefix_mean ** 2, 0.0)
        self.std_sum += np.sqrt(prefix_var).mean(axis=-1).sum(axis=0)
        log_q = log_softmax(prefix_mean)                          # [batch, N, classes]: mean-logit ensemble of k
        log_p = log_softmax(logits)                               # each leaf's own distribution
        mean_log_p = np.cumsum(log_p, axis=1) / sizes             # mean over the first k leaves
        self.ambiguity_sum += (np.exp(log_q) * (log_q - mean_log_p)).sum(-1).sum(0)
        top1 = logits.argmax(-1)                                  # [batch, N]
        self.pair_differ += (top1[:, :, None] != top1[:, None, :]).sum(0)
        log_mean_p = log_softmax(prefix_ensembles(logits, MEAN_PROBS))  # the mean-probability ensemble of k
        by_rule = log_q if self.rule == MEAN_LOGITS else log_mean_p
        for k in range(self.n):
            self.prefix_scores[k].update(by_rule[:, k], labels)
            self.prob_scores[k].update(log_mean_p[:, k], labels)

    def result(self, macs: list | None = None, teacher_macs: int | None = None) -> dict[str, object]:
        """Dict with ``prefixes`` (k, accuracy, nll, ece under the rule, logit_std, disagreement, ambiguity,
        accuracy_mean_probs, nll_mean_probs[, macs]), ``ensemble_rule``,
        ``leaf_accuracy``, ``logit_std`` (all leaves) and ``num_examples``;
        plus ``teacher`` (accuracy, nll, ece[, macs]) when teacher logits were given."""
        if self.count == 0:
            raise ValueError("no examples were evaluated")
        prefixes = []
        upper = np.triu(self.pair_differ, 1)
        for k in range(self.n):
            pairs = k * (k + 1) / 2  # pairs among the first k + 1 leaves
            probs = self.prob_scores[k].result()
            row = {"k": k + 1, **self.prefix_scores[k].result(), "logit_std": float(self.std_sum[k] / self.count),
                   "disagreement": float(upper[:k + 1, :k + 1].sum() / (self.count * pairs)) if k else 0.0,
                   "ambiguity": float(self.ambiguity_sum[k] / self.count),
                   "accuracy_mean_probs": probs["accuracy"], "nll_mean_probs": probs["nll"]}
            if macs is not None:
                row["macs"] = int(macs[k])
            prefixes.append(row)
        out = {
            "num_examples": int(self.count),
            "ensemble_rule": self.rule,
            "prefixes": prefixes,
            "leaf_accuracy": [float(v) for v in self.leaf_correct / self.count],
            "logit_std": float(self.std_sum[-1] / self.count),
        }
        if self.teacher is not None:
            out["teacher"] = self.teacher.result()
            if teacher_macs is not None:
                out["teacher"]["macs"] = int(teacher_macs)
        return out
