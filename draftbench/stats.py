"""Summary statistics: mean, spread and a t-distribution 95% confidence interval."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t_quantile_975(df: int) -> float:
    """Two-sided 95% critical value of Student's t (table to 30, then 1.96 + 2.4/df, within 0.002)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df


@dataclass(frozen=True)
class Spread:
    n: int
    mean: float
    median: float
    stdev: float
    min: float
    max: float
    ci95: tuple[float, float] | None

    @property
    def rel_stdev(self) -> float:
        return self.stdev / self.mean if self.mean else 0.0


def spread(values: list[float]) -> Spread | None:
    if not values:
        return None
    mean = statistics.fmean(values)
    stdev = statistics.stdev(values) if len(values) > 1 else 0.0
    ci = None
    if len(values) > 1:
        half = t_quantile_975(len(values) - 1) * stdev / math.sqrt(len(values))
        ci = (mean - half, mean + half)
    return Spread(len(values), mean, statistics.median(values), stdev, min(values), max(values), ci)


def ratio_interval(num: Spread, den: Spread) -> tuple[float, float] | None:
    """Approximate 95% interval of num.mean / den.mean (delta method on independent samples)."""
    if num.ci95 is None or den.ci95 is None or den.mean <= 0 or num.mean <= 0:
        return None
    r = num.mean / den.mean
    se_num = (num.ci95[1] - num.mean) / t_quantile_975(num.n - 1)
    se_den = (den.ci95[1] - den.mean) / t_quantile_975(den.n - 1)
    rel = math.sqrt((se_num / num.mean) ** 2 + (se_den / den.mean) ** 2)
    t = t_quantile_975(min(num.n, den.n) - 1)
    return (r * (1 - t * rel), r * (1 + t * rel))
