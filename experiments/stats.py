"""The statistics of the studies: mean ± std over seeds, and paired differences with a 95% confidence interval.

Seeds are paired across arms (seed s of arm A and seed s of arm B share their data order and
initialisation seed), so a claim "A beats B" is judged on the per-seed differences ``A_s - B_s``:
their mean, sample std and a Student-t 95% interval, ``mean ± t(0.975, n - 1) * std / sqrt(n)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

# Two-sided 95% quantiles of Student's t, t(0.975, df) for df = 1..30 (standard tables).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """Student's t quantile at 0.975 for ``df`` degrees of freedom (the normal's 1.960 beyond 30... nearly)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom (2 seeds), got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    return 1.960 + 2.4 / df  # within 0.002 of the exact quantile for df > 30


def mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` (sample std over seeds) of ``values * scale``; ``-`` if empty."""
    if not len(values):
        return "-"
    v = np.asarray(values, np.float64) * scale
    if len(v) == 1:
        return f"{v[0]:.{digits}f} (1 seed)"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """A mean over seeds (of ``a - b`` over the seeds both arms finished, for a paired difference): mean,
    sample std, 95% interval, and the seeds used."""

    mean: float
    std: float
    low: float
    high: float
    seeds: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.seeds)

    def verdict(self, margin: float = 0.0) -> str:
        """``"a > b"`` when the interval lies above ``margin``, ``"a < b"`` below ``-margin``, else
        ``"inconclusive"`` (also with fewer than 2 seeds)."""
        if self.n < 2 or math.isnan(self.low):
            return "inconclusive"
        if self.low > margin:
            return "a > b"
        if self.high < -margin:
            return "a < b"
        return "inconclusive"

    def text(self, scale: float = 100.0, digits: int = 2) -> str:
        if self.n == 0:
            return "-"
        if self.n == 1:
            return f"{scale * self.mean:+.{digits}f} (1 seed)"
        return (f"{scale * self.mean:+.{digits}f} [{scale * self.low:+.{digits}f}, {scale * self.high:+.{digits}f}] "
                f"(n={self.n})")


def paired_difference(a: dict[int, float], b: dict[int, float]) -> PairedDifference:
    """The paired difference of two arms' values, each ``{seed: value}``, over their common seeds."""
    return mean_interval({s: a[s] - b[s] for s in sorted(set(a) & set(b))})


def mean_interval(values: dict[int, float]) -> PairedDifference:
    """The mean of ``{seed: value}`` with its sample std and 95% t interval (:func:`paired_difference`
    is this of the per-seed differences; a goal on one arm's mean uses it directly)."""
    seeds = tuple(sorted(values))
    d = np.array([values[s] for s in seeds], np.float64)
    if len(d) == 0:
        return PairedDifference(math.nan, math.nan, math.nan, math.nan, seeds)
    if len(d) == 1:
        return PairedDifference(float(d[0]), math.nan, math.nan, math.nan, seeds)
    std = float(d.std(ddof=1))
    half = t975(len(d) - 1) * std / math.sqrt(len(d))
    return PairedDifference(float(d.mean()), std, float(d.mean() - half), float(d.mean() + half), seeds)
