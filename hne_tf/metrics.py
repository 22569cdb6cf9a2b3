"""Evaluation of a tree ensemble: every prefix, every leaf, diversity.

Accumulates over batches in numpy so the test set never has to fit in memory.
For each prefix size ``k`` the ensemble prediction is the softmax of the mean
of the first ``k`` leaves' logits (eq. 1 of the AAAI paper), computed by
:func:`hne_tf.ensemble.prefix_ensembles`.
"""

from __future__ import annotations

import numpy as np

from hne_tf.ensemble import prefix_ensembles


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class EnsembleEvaluator:
    """Streaming accuracy, NLL and ECE per prefix; accuracy per leaf; logit std.

    Args:
      num_leaves: N.
      num_bins: ECE bins (15, as is usual for calibration studies).
    """

    def __init__(self, num_leaves: int, num_bins: int = 15):
        self.n = int(num_leaves)
        self.bins = int(num_bins)
        self.count = 0
        self.correct = np.zeros(self.n)          # per prefix k = 1..N
        self.nll = np.zeros(self.n)
        self.leaf_correct = np.zeros(self.n)     # per leaf
        self.bin_count = np.zeros((self.n, self.bins))
        self.bin_conf = np.zeros((self.n, self.bins))
        self.bin_acc = np.zeros((self.n, self.bins))
        self.std_sum = np.zeros(self.n)          # per prefix: std across its leaves

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        """logits: ``[batch, N, classes]``; labels: ``[batch]`` ints."""
        logits = np.asarray(logits, dtype=np.float64)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        b = logits.shape[0]
        if logits.shape[1] != self.n:
            raise ValueError(f"expected {self.n} leaves, got logits of shape {logits.shape}")
        self.count += b
        rows = np.arange(b)
        self.leaf_correct += (logits.argmax(-1) == labels[:, None]).sum(0)
        prefix_mean = prefix_ensembles(logits)  # [batch, N, classes]: entry k-1 is the ensemble of k leaves
        sizes = np.arange(1, self.n + 1)[None, :, None]
        # Std of the logits across a prefix's leaves, averaged over classes
        # and samples (the papers' diversity measure).
        prefix_var = np.maximum(np.cumsum(logits ** 2, axis=1) / sizes - prefix_mean ** 2, 0.0)
        self.std_sum += np.sqrt(prefix_var).mean(axis=-1).sum(axis=0)
        for k in range(self.n):
            logp = log_softmax(prefix_mean[:, k])
            pred = logp.argmax(-1)
            hit = pred == labels
            self.correct[k] += hit.sum()
            self.nll[k] -= logp[rows, labels].sum()
            conf = np.exp(logp.max(-1))
            idx = np.minimum((conf * self.bins).astype(int), self.bins - 1)
            np.add.at(self.bin_count[k], idx, 1)
            np.add.at(self.bin_conf[k], idx, conf)
            np.add.at(self.bin_acc[k], idx, hit)

    def result(self, macs: list | None = None) -> dict[str, object]:
        """Dict with ``prefixes`` (k, accuracy, nll, ece, logit_std[, macs]),
        ``leaf_accuracy``, ``logit_std`` (all leaves) and ``num_examples``."""
        if self.count == 0:
            raise ValueError("no examples were evaluated")
        ece = (np.abs(self.bin_acc - self.bin_conf).sum(-1)) / self.count
        prefixes = []
        for k in range(self.n):
            row = {"k": k + 1, "accuracy": self.correct[k] / self.count, "nll": self.nll[k] / self.count,
                   "ece": float(ece[k]), "logit_std": self.std_sum[k] / self.count}
            if macs is not None:
                row["macs"] = int(macs[k])
            prefixes.append({key: float(v) if isinstance(v, np.floating) else v for key, v in row.items()})
        return {
            "num_examples": int(self.count),
            "prefixes": prefixes,
            "leaf_accuracy": [float(v) for v in self.leaf_correct / self.count],
            "logit_std": float(self.std_sum[-1] / self.count),
        }
