"""Baseline drift: a target's baseline measured again during the sweep (``RunResult.baseline_checks``), and each
setup's requests corrected for how fast the machine was when they were sent.

A check measures the first prompts of the schedule again, on a fresh server; its paired ratio to the baseline's
first measurement on the same prompts is the machine's speed at that time, relative to then. Between two
measurements the speed is interpolated linearly in time (the first measurement counts 1; after the last check it
stays at the last). A setup's request sent at time t has its tok/s divided by that factor before it is paired with
the baseline, so its speedup is over the baseline as it would have measured at that moment. Nothing is corrected
unless some check's 95% interval excludes 1 (drift within noise changes nothing), and a corrected speedup's
interval is widened by the checks' own uncertainty (log half-widths added in quadrature). Pure: runs in, values
out."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace

from ..core import stats
from .comparison import keyed
from .schema import BaselineCheck, RunResult


@dataclass(frozen=True)
class Drift:
    """A baseline's speed over the sweep: (time, ratio to its first measurement) per check, in time order."""

    start_unix_s: float
    checks: tuple[tuple[float, stats.Ratio], ...]

    @property
    def significant(self) -> bool:
        return any(not r.includes(1.0) for _, r in self.checks)

    @property
    def worst(self) -> stats.Ratio:
        """The check farthest from the first measurement."""
        return max((r for _, r in self.checks), key=lambda r: abs(math.log(r.value)))

    def _points(self) -> list[tuple[float, float]]:
        return [(self.start_unix_s, 1.0), *((t, r.value) for t, r in self.checks)]

    def factor(self, at_unix_s: float | None) -> float:
        """The baseline's speed at that time over its first measurement (1 without a time or a real drift)."""
        return 1.0 if at_unix_s is None or not self.significant else stats.interpolate(self._points(), at_unix_s)

    def log_half(self, at_unix_s: float) -> float:
        """The uncertainty of :meth:`factor` there: the wider log half-width of the two checks around it."""
        halves = [(t, (math.log(r.ci95[1]) - math.log(r.ci95[0])) / 2 if r.ci95 else 0.0) for t, r in self.checks]
        before = [h for t, h in halves if t <= at_unix_s][-1:]
        after = [h for t, h in halves if t > at_unix_s][:1]
        return max(before + after, default=0.0)

    def exceeds(self, resolution: float) -> bool:
        """Did the baseline drift by more than ``resolution``, beyond noise? (What the console, the recommendation
        and the report say.)"""
        return self.significant and abs(self.worst.value - 1.0) > resolution

    def sentence(self) -> str:
        return (f"baseline drifted {stats.ratio_text(self.worst)} during the sweep ({len(self.checks)} check"
                f"{'s' if len(self.checks) != 1 else ''}): speedups corrected; rerun on a quieter machine to confirm")


def check_ratio(check: BaselineCheck, base: RunResult) -> stats.Ratio | None:
    """A check's speed over the baseline's first measurement: paired on the prompts both measured."""
    return stats.compare(keyed(check.requests), keyed(base))


def of(base: RunResult | None) -> Drift | None:
    """The drift of a baseline run that was checked (None for one never checked, or measured before version 6)."""
    times = [q.sent_unix_s for q in base.requests if q.sent_unix_s] if base is not None else []
    if base is None or not base.baseline_checks or not times:
        return None
    checks = []
    for check in base.baseline_checks:
        when = [q.sent_unix_s for q in check.requests if q.sent_unix_s]
        ratio = check_ratio(check, base)
        if when and ratio is not None and ratio.paired:
            checks.append((statistics.median(when), ratio))
    return Drift(statistics.median(times), tuple(sorted(checks, key=lambda c: c[0]))) if checks else None


def corrected(run: RunResult, drift: Drift | None) -> RunResult:
    """``run`` with each request's tok/s divided by the baseline's speed factor when it was sent (unchanged when
    nothing drifted)."""
    if drift is None or not drift.significant:
        return run
    return replace(run, requests=[q if not q.decode_tps else replace(q, decode_tps=q.decode_tps / drift.factor(q.sent_unix_s))
                                  for q in run.requests])


def factor_of(run: RunResult, drift: Drift) -> tuple[float, float]:
    """The geometric mean of the factors a run's requests were corrected by, and the widest uncertainty of one."""
    times = [q.sent_unix_s for q in run.requests if q.sent_unix_s and q.decode_tps]
    if not times:
        return 1.0, 0.0
    mean = math.exp(statistics.fmean(math.log(drift.factor(t)) for t in times))
    return mean, max(drift.log_half(t) for t in times)
