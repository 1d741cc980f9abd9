"""Summary statistics: mean, spread, t-distribution confidence intervals (95%, or any level via
:func:`t_quantile`), and the one comparison of two setups' speeds (:func:`compare`).

How two setups compare (a setup against its baseline, or against another setup). Every setup of a target
runs the same prompt schedule, so the i-th request of one and the i-th request of the other measured the
same prompt: they form a **pair** (matched by position in the schedule and prompt id). The speedup is the
**geometric mean of the per-pair ratios** of decode tok/s, ``exp(mean(log(a_i / b_i)))``, and its 95%
interval is the t-interval of that mean of logs, exponentiated; n = pairs. A prompt's own difficulty
cancels in its ratio, so a constant speedup over prompts of very different speeds has a narrow interval.
The point always lies inside its interval. The schedule cycles through the prompt set's categories in
their proportions, so every category weighs in the overall figure by its share of the workload.

Only where no pairs exist (files of the original tool, which kept no requests; setups measured on other
prompt sets) is the ratio the ratio of the mean speeds, with a delta-method interval for independent
samples, and it is labelled **unpaired**."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence


def t_quantile_975(df: int) -> float:
    """Two-sided 95% critical value of Student's t (:func:`t_quantile`)."""
    return t_quantile(0.975, df)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (0 < p < 1), by bisection on :func:`t_cdf`; 1e-9 accurate."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError("t_quantile needs 0 < p < 1 and df > 0")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-9 * max(1.0, hi):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2.0


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` percentile (0..100), linear between order statistics (numpy's default); None when empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def interval_text(r: "Ratio", label: str = "95% CI ") -> str:
    """A ratio's interval with its n and design: '95% CI +39% .. +168%, 4 paired requests'."""
    if r.paired:
        what = f"{r.n} paired request{'s' if r.n != 1 else ''}"
    else:
        what = f"unpaired, n {r.n}" if r.n else "unpaired: no per-request data"
    if r.ci95 is None:
        return f"no interval, {what}"
    return f"{label}{pct(r.ci95[0])} .. {pct(r.ci95[1])}, {what}"


def ratio_text(r: "Ratio") -> str:
    """A ratio with its interval, n and design: '+89% (95% CI +39% .. +168%, 4 paired requests)'."""
    return f"{pct(r.value)} ({interval_text(r)})"


def percent(ratio: float) -> float:
    """A ratio as the percent it adds: 1.42 -> 42.0, 0.88 -> -12.0 (every percentage of a speedup)."""
    return (ratio - 1.0) * 100


def mib(value: float) -> str:
    """A signed memory difference in whole MiB: '+210', '-35', and '+0' for anything that rounds to nothing
    (never '-0')."""
    return f"{value:+,.0f}" if round(value) != 0 else "+0"


def pct(ratio: float | None) -> str:
    """A speedup ratio as a signed percentage: 1.42 -> '+42%', 0.88 -> '-12%'."""
    if ratio is None:
        return "n/a"
    value = percent(ratio)
    return f"{value:+.0f}%" if abs(value) >= 0.5 else "+0%"


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


Keyed = Sequence[tuple[str, "float | None"]]  # (position and prompt id, decode tok/s or None where it failed)


@dataclass(frozen=True)
class Ratio:
    """How much faster one setup is than a reference: ``value`` with its 95% interval (None with fewer than
    two observations), ``n`` pairs (paired) or the smaller sample (unpaired)."""

    value: float
    ci95: tuple[float, float] | None
    n: int
    paired: bool

    @property
    def design(self) -> str:
        return "paired" if self.paired else "unpaired"

    def includes(self, ratio: float) -> bool:
        """Is ``ratio`` inside the interval? (True without one: nothing is excluded.)"""
        return self.ci95 is None or self.ci95[0] <= ratio <= self.ci95[1]

    @property
    def log_half(self) -> float:
        """Half the interval's width on the log scale (0 without an interval; infinite for one that reaches 0, as a
        bootstrap's can when a resample holds no success)."""
        if not self.ci95:
            return 0.0
        return (math.log(self.ci95[1]) - math.log(self.ci95[0])) / 2 if self.ci95[0] > 0 else math.inf


def apart(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    """Do two intervals not overlap (neither missing)?"""
    return bool(a and b and (a[1] < b[0] or b[1] < a[0]))


def log_interval(d: Sequence[float], confidence: float = 0.95, min_sd: float = 0.0) -> tuple[float, float, float]:
    """Mean of the log ratios ``d`` and its two-sided t-interval (needs two or more; the spread floored at
    ``min_sd``): the interval of every paired comparison, the adaptive search's looks included."""
    if len(d) < 2:
        raise ValueError("an interval needs two or more log ratios")
    mean = statistics.fmean(d)
    sd = max(statistics.stdev(d), min_sd)
    half = t_quantile(0.5 + confidence / 2.0, len(d) - 1) * sd / math.sqrt(len(d))
    return mean, mean - half, mean + half


def pairs(a: Keyed, b: Keyed) -> list[tuple[float, float]]:
    """(a_i, b_i) for every key (a prompt at a position of the schedule) both measured successfully."""
    theirs = dict(b)
    return [(x, y) for k, x in a if x and x > 0 and (y := theirs.get(k)) is not None and y > 0]


def log_ratios(pairs: Iterable[tuple[float | None, float | None]]) -> list[float]:
    """``log(a_i / b_i)`` of the pairs both measured successfully: what every paired comparison is made of."""
    return [math.log(x / y) for x, y in pairs if x and y and x > 0 and y > 0]


def paired_ratio(a: Keyed, b: Keyed) -> Ratio | None:
    """Geometric mean of the per-pair ratios a_i / b_i with its 95% interval; None without a pair."""
    d = log_ratios(pairs(a, b))
    if not d:
        return None
    if len(d) == 1:
        return Ratio(math.exp(d[0]), None, 1, True)
    mean, lo, hi = log_interval(d)
    return Ratio(math.exp(mean), (math.exp(lo), math.exp(hi)), len(d), True)


def unpaired_ratio(a: Sequence[float], b: Sequence[float]) -> Ratio | None:
    """Ratio of the mean speeds with its delta-method interval (independent samples); None when empty."""
    num, den = spread([x for x in a if x]), spread([y for y in b if y])
    if num is None or den is None or den.mean <= 0 or num.mean <= 0:
        return None
    interval = ratio_interval(num, den)
    return Ratio(num.mean / den.mean, interval, min(num.n, den.n), False)


def compare(a: Keyed, b: Keyed) -> Ratio | None:
    """Setup ``a`` over reference ``b``: paired when two or more pairs exist, else unpaired (see the module)."""
    paired = paired_ratio(a, b)
    if paired is not None and paired.n >= 2:
        return paired
    return unpaired_ratio([x for _, x in a if x], [y for _, y in b if y]) or paired


def widened(r: Ratio, log_half: float) -> Ratio:
    """``r`` with a further uncertainty of ``log_half`` (a half-width on the log scale, e.g. of a correction
    factor the ratio was divided by) added in quadrature to its own: the interval of a corrected ratio."""
    if r.ci95 is None or log_half <= 0:
        return r
    centre, half = math.log(r.value), r.log_half
    wide = math.hypot(half, log_half)
    return Ratio(r.value, (math.exp(centre - wide), math.exp(centre + wide)), r.n, r.paired)


def interpolate(points: Sequence[tuple[float, float]], x: float, extend: bool = False) -> float:
    """Piecewise-linear through ``points`` (x ascending), constant before the first and after the last (with
    ``extend``: the last segment's slope after it)."""
    if x <= points[0][0]:
        return points[0][1]
    ends = list(zip(points, points[1:]))
    for (x0, y0), (x1, y1) in ends:
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    (x0, y0), (x1, y1) = ends[-1] if extend and ends else (points[-1], points[-1])
    return y1 + ((y1 - y0) / (x1 - x0) * (x - x1) if x1 > x0 else 0.0)
