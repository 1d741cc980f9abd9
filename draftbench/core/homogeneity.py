"""Whether two samples of categories (tokens) come from one distribution: Pearson's chi-square test of
homogeneity with its p-value, Holm's adjustment for many such tests at once, and the total variation distance.
Pure functions, standard library only (no SciPy): what the distribution check (:mod:`results.distribution`) uses."""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square with ``df`` degrees of freedom: the regularised upper incomplete gamma
    Q(df/2, x/2), by its series below a + 1 and its continued fraction above (Numerical Recipes, 6.2)."""
    if x <= 0 or df <= 0:
        return 1.0
    a, z = df / 2.0, x / 2.0
    log_front = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:
        term = total = 1.0 / a
        for n in range(1, 1000):
            term *= z / (a + n)
            total += term
            if term < total * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    b, c, d = z + 1 - a, 1e300, 1.0 / (z + 1 - a)
    h = d
    for i in range(1, 1000):
        an, b = -i * (i - a), b + 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


def chi_square(a: Sequence[object], b: Sequence[object], least: float = 5.0) -> tuple[float, int, float]:
    """Pearson's chi-square test that two samples of categories come from one distribution: (statistic, degrees
    of freedom, p-value). Categories expected fewer than ``least`` times in either sample are pooled into one."""
    counts_a, counts_b = Counter(a), Counter(b)
    n_a, n_b = len(a), len(b)
    if not n_a or not n_b:
        return 0.0, 0, 1.0
    share_a = n_a / (n_a + n_b)
    cells: dict[object, list[int]] = {}
    for cat in counts_a.keys() | counts_b.keys():
        both = counts_a[cat] + counts_b[cat]
        key = cat if min(both * share_a, both * (1 - share_a)) >= least else "\0rare"
        cell = cells.setdefault(key, [0, 0])
        cell[0] += counts_a[cat]
        cell[1] += counts_b[cat]
    if len(cells) < 2:
        return 0.0, 0, 1.0
    stat = sum(
        (obs - exp) ** 2 / exp
        for x, y in cells.values()
        for obs, exp in ((x, (x + y) * share_a), (y, (x + y) * (1 - share_a)))
        if exp > 0
    )
    df = len(cells) - 1
    return stat, df, chi2_sf(stat, df)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment for several tests at once (each adjusted p-value in the input's order)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    out, running = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        out[i] = running
    return out


def total_variation(a: Sequence[object], b: Sequence[object]) -> float:
    """Half the L1 distance between the two samples' empirical distributions (0: the same, 1: disjoint)."""
    if not a or not b:
        return 0.0
    ca, cb = Counter(a), Counter(b)
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in ca.keys() | cb.keys())
