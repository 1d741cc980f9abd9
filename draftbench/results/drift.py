"""Baseline drift: a target's baseline measured again during the sweep (``RunResult.baseline_checks``), and each
setup's requests corrected for how fast the machine was when they were sent.

Every measurement of a baseline (the first and each check) is compared with the first on the prompts both
measured (paired): its ratio is the machine's speed then, relative to the first. Measurements taken while other
processes used ``load.BUSY_SHARE`` or more of the CPUs are left out wherever a quiet one exists (a busy first
measurement included: the sweep then measures the whole baseline again, see :mod:`sweep.drift_checks`). The speed
of the machine at time t is interpolated linearly between the measurements kept (constant before the first and
after the last) when some check's 95% interval excludes the first (a real drift); otherwise it is one level, the
geometric mean of every measurement kept (the first counts 1), weighted by their requests: the reference pools
them all. A setup's request
sent at time t has its tok/s divided by that factor before it is paired with the first measurement, so its speedup
is over the baseline as the quiet machine measured it then. A corrected speedup's interval is widened by the
factor's own uncertainty (log half-widths in quadrature). Pure: runs in, values out."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, replace

from ..core import load, stats
from .comparison import keyed
from .schema import BaselineCheck, RunResult


@dataclass(frozen=True)
class Point:
    """One measurement of the baseline: when (median send time), its speed over the first, whether it was busy."""

    at_unix_s: float
    ratio: stats.Ratio
    busy: bool
    label: str


@dataclass(frozen=True)
class Drift:
    """A baseline's speed over the sweep: every measurement's point, in time order (the first at ratio 1)."""

    points: tuple[Point, ...]

    @property
    def kept(self) -> tuple[Point, ...]:
        """The measurements the reference comes from: the quiet ones, or all when none was quiet."""
        return tuple(p for p in self.points if not p.busy) or self.points

    @property
    def first_excluded(self) -> bool:
        return self.points[0] not in self.kept

    @property
    def moving(self) -> bool:
        """A real drift: a kept check's interval excludes the first measurement's speed (when the first is kept),
        or two kept checks' intervals do not overlap (when it is not)."""
        checks = [p.ratio for p in self.kept if p is not self.points[0]]
        if not self.first_excluded:
            return any(not r.includes(1.0) for r in checks)
        return any(stats.apart(a.ci95, b.ci95) for a in checks for b in checks)

    @property
    def significant(self) -> bool:
        """Does the correction change anything beyond noise? (A busy first measurement left out always does.)"""
        return self.first_excluded or self.moving

    @property
    def worst(self) -> stats.Ratio:
        """The kept measurement farthest from the first."""
        return max((p.ratio for p in self.kept), key=lambda r: abs(math.log(r.value)))

    def _level(self) -> float:
        """The kept measurements' mean log speed over the first's, each weighted by its requests."""
        return math.exp(sum(p.ratio.n * math.log(p.ratio.value) for p in self.kept) / sum(p.ratio.n for p in self.kept))

    def factor(self, at_unix_s: float | None) -> float:
        """The machine's speed at that time over the first measurement: interpolated between the kept
        measurements when the baseline moved, else their pooled level (1 with nothing but the first)."""
        if len(self.points) < 2:
            return 1.0
        if not self.moving or at_unix_s is None:
            return self._level()
        return stats.interpolate([(p.at_unix_s, p.ratio.value) for p in self.kept], at_unix_s)

    def log_half(self, at_unix_s: float) -> float:
        """The uncertainty of :meth:`factor` there: of the pooled level, or the wider of the two measurements
        around that time."""
        if not self.moving:
            return math.sqrt(sum((p.ratio.n * p.ratio.log_half) ** 2 for p in self.kept)) / sum(p.ratio.n for p in self.kept)
        before = [p.ratio.log_half for p in self.kept if p.at_unix_s <= at_unix_s][-1:]
        after = [p.ratio.log_half for p in self.kept if p.at_unix_s > at_unix_s][:1]
        return max(before + after, default=0.0)

    def exceeds(self, resolution: float) -> bool:
        """Did the baseline drift by more than ``resolution``, beyond noise, or was a busy first measurement
        replaced? (What the console, the recommendation and the report say.)"""
        return self.first_excluded or (self.moving and abs(self.worst.value - 1.0) > resolution)

    def sentence(self) -> str:
        left_out = [p.label for p in self.points if p.busy and p not in self.kept]
        parts = (
            [
                f"{' and '.join(left_out)} of the baseline left out (other processes used {load.BUSY_SHARE:.0%} or "
                "more of the CPUs)"
            ]
            if left_out
            else []
        )
        if self.moving:
            parts.append(f"baseline moved {stats.ratio_text(self.worst)} over the sweep")
        n = len(self.kept)
        quiet = "none was quiet" if all(p.busy for p in self.points) else f"{n} quiet measurement{'s' if n != 1 else ''}"
        return "; ".join(parts + [f"speedups corrected against the baseline's {quiet}: rerun on a quieter machine to confirm"])


def check_ratio(check: BaselineCheck, base: RunResult) -> stats.Ratio | None:
    """A check's speed over the baseline's first measurement: paired on the prompts both measured."""
    return stats.compare(keyed(check.requests), keyed(base))


def of(base: RunResult | None) -> Drift | None:
    """The drift of a baseline run that was checked (None for one never checked, or measured before version 6)."""
    times = [q.sent_unix_s for q in base.requests if q.sent_unix_s] if base is not None else []
    if base is None or not base.baseline_checks or not times:
        return None
    first = Point(
        statistics.median(times), stats.Ratio(1.0, None, len(base.requests), True), first_busy(base), "the first measurement"
    )
    anchor = _anchor(base)
    via = check_ratio(anchor, base) if anchor is not None else None
    checks = []
    for n, check in enumerate(base.baseline_checks, 1):
        when = [q.sent_unix_s for q in check.requests if q.sent_unix_s]
        ratio = check_ratio(check, base)
        # through the quiet re-measure: the busy first's noise on a block's prompts stays out
        if via is not None and anchor is not None and check is not anchor:
            own = stats.compare(keyed(check.requests), keyed(anchor.requests))
            ratio = _scaled(own, via.value) if own is not None else ratio
        if when and ratio is not None and ratio.paired:
            checks.append(Point(statistics.median(when), ratio, load.busy(check.other_cpu_share), f"check {n}"))
    return Drift((first, *sorted(checks, key=lambda p: p.at_unix_s))) if checks else None


def first_busy(base: RunResult) -> bool:
    """Was the baseline's first measurement taken on a busy machine (while it ran, or as its server started: the
    same rule as the run's warning)?"""
    return load.busy(base.other_cpu_share) or load.busy(base.other_cpu_share_before)


def _anchor(base: RunResult) -> BaselineCheck | None:
    """Where the first measurement was busy: the first quiet re-measure of every prompt, which the other checks are
    compared with (then scaled by its own ratio to the first); None where the first is quiet or none exists."""
    if not first_busy(base):
        return None
    return next((c for c in full_checks(base) if not load.busy(c.other_cpu_share)), None)


def full_checks(base: RunResult) -> list[BaselineCheck]:
    """The checks that measured the baseline again in full: every prompt of its first measurement."""
    return [c for c in base.baseline_checks or [] if len(c.requests) >= len(base.requests)]


def _scaled(r: stats.Ratio, by: float) -> stats.Ratio:
    return stats.Ratio(r.value * by, (r.ci95[0] * by, r.ci95[1] * by) if r.ci95 else None, r.n, r.paired)


def corrected(run: RunResult, drift: Drift | None) -> RunResult:
    """``run`` with each request's tok/s divided by the baseline's speed factor when it was sent (unchanged when
    there is nothing to correct by)."""
    if drift is None or len(drift.points) < 2:
        return run
    return replace(
        run,
        requests=[
            q if not q.decode_tps else replace(q, decode_tps=q.decode_tps / drift.factor(q.sent_unix_s)) for q in run.requests
        ],
    )


def factor_of(run: RunResult, drift: Drift) -> tuple[float, float]:
    """The geometric mean of the factors a run's requests were corrected by, and the widest uncertainty of one."""
    times = [q.sent_unix_s for q in run.requests if q.decode_tps]
    if not times:
        return 1.0, 0.0
    mean = math.exp(statistics.fmean(math.log(drift.factor(t)) for t in times))
    return mean, max(drift.log_half(t or 0.0) for t in times)


@dataclass(frozen=True)
class CheckPoint:
    """A baseline's measurement (its first, or a check): when, in minutes after its first request, its mean tok/s,
    its speed against the first measurement request by request (None for the first, the reference, and for a check
    that shares no request with it) and the share of the CPUs other processes used meanwhile."""

    where: str
    label: str  # "first", or "check N, after <setup>"
    minutes_in: float | None
    mean_tps: float | None
    ratio: stats.Ratio | None
    other_cpu_share: float | None

    def to_dict(self) -> dict[str, object]:
        """As a file keeps it: the ratio as a run's speedup is kept (its value, interval, pairs and design)."""
        r = self.ratio
        return {
            **asdict(self),
            "ratio": None
            if r is None
            else {"value": r.value, "ci95": list(r.ci95) if r.ci95 else None, "n": r.n, "design": r.design},
        }


def check_points(runs: list[RunResult]) -> tuple[CheckPoint, ...]:
    """Every checked baseline's measurements in order: the report's table of the machine during the sweep."""

    def minutes(qs: list, start: float | None) -> float | None:
        times = [q.sent_unix_s for q in qs if q.sent_unix_s]
        return round((statistics.median(times) - start) / 60, 1) if times and start else None

    out: list[CheckPoint] = []
    for base in (r for r in runs if r.draft is None and r.baseline_checks):
        start = min((q.sent_unix_s for q in base.requests if q.sent_unix_s), default=None)
        out.append(CheckPoint(base.where, "first", minutes(base.requests, start), base.mean_tps, None, base.other_cpu_share))
        for n, check in enumerate(base.baseline_checks or [], 1):
            ok = [q.decode_tps for q in check.requests if q.decode_tps and not q.error]
            ratio = check_ratio(check, base)
            out.append(
                CheckPoint(
                    base.where,
                    f"check {n}, after {check.after}",
                    minutes(check.requests, start),
                    statistics.fmean(ok) if ok else None,
                    ratio,
                    check.other_cpu_share,
                )
            )
    return tuple(out)
