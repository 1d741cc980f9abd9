"""Where a setup stops paying as the context grows: its crossover depth. Pure: evaluated runs in, crossovers out.

A setup *pays* at a depth when its paired speedup interval against the baseline at that depth lies wholly above
1 (a tie is not a gain). Its crossover is the first depth, going deeper, where the interval reaches 1 after it
paid at a shallower one: the lower bound of the interval is interpolated linearly in log space between the two
measured depths, on the log of the context a decode starts from (the depth plus the prompt's own tokens, as the
server counted them, so depth 0 has a finite place on the axis). With several concurrency levels the interval is
the per-stream one (paired request by request; the aggregate speedup has none)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

from ..setup.levels import Level
from .grouping import eligible
from .schema import RunResult


@dataclass(frozen=True)
class DepthPoint:
    """One measured depth of a setup: its paired speedup's lower bound and whether it pays there."""

    depth: int
    speedup: float
    low: float  # lower bound of the 95% interval
    context_tokens: float  # the depth plus the prompt's own tokens (median, server-counted)

    @property
    def pays(self) -> bool:
        return self.low > 1.0


@dataclass(frozen=True)
class Crossover:
    """A setup's speedup across the depths measured, and where it stops paying."""

    target: str
    setup: str
    level: Level  # the level's other fields (depth None)
    points: tuple[DepthPoint, ...]  # shallowest first
    depth_tokens: float | None  # the interpolated crossover; None: none between the depths measured

    @property
    def kind(self) -> str:
        """'at' (a crossover between two measured depths), 'beyond' (pays at every depth measured), 'never' (does
        not pay at any), 'from' (does not pay at the shallowest, pays deeper)."""
        if self.depth_tokens is not None:
            return "at"
        if all(p.pays for p in self.points):
            return "beyond"
        return "from" if any(p.pays for p in self.points) else "never"

    def text(self) -> str:
        first, last = self.points[0], self.points[-1]
        if self.kind == "at":
            before = max(p.depth for p in self.points if p.pays and p.depth < (self.depth_tokens or 0))
            after = min(p.depth for p in self.points if not p.pays and p.depth > before)
            return (
                f"stops paying at about depth {self.depth_tokens:,.0f} (pays at {before:,}, not at {after:,}: "
                "interpolated on log context)"
            )
        if self.kind == "beyond":
            return f"pays at every depth measured: the crossover is beyond {last.depth:,}"
        if self.kind == "from":
            start = min(p.depth for p in self.points if p.pays)
            return f"does not pay at depth {first.depth:,}; pays from depth {start:,}"
        return f"does not pay at any depth measured ({first.depth:,} to {last.depth:,})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "setup": self.setup,
            "concurrency": self.level.concurrency,
            "temperature": self.level.temperature,
            "kind": self.kind,
            "depth_tokens": self.depth_tokens,
            "depths": [p.depth for p in self.points],
            "speedups": [p.speedup for p in self.points],
            "speedup_lows": [p.low for p in self.points],
            "text": self.text(),
        }


def crossovers(runs: Iterable[RunResult]) -> list[Crossover]:
    """One per setup measured at two depths or more (of evaluated runs)."""
    lines: dict[tuple[str, str, Level], list[DepthPoint]] = {}
    for r in runs:
        ratio = r.speedup_ratio() if r.draft is not None and eligible(r) else None
        if ratio is None or ratio.ci95 is None:
            continue
        prompts = [q.prompt_tokens for q in r.requests if q.prompt_tokens and not q.error]
        context = statistics.median(prompts) if prompts else (r.depth or 0) + 1
        line = lines.setdefault((r.target, r.draft or "", Level(r.concurrency, r.temperature, None, r.request_rate)), [])
        line.append(DepthPoint(r.depth or 0, ratio.value, ratio.ci95[0], max(1.0, context)))
    out = []
    for (target, setup, level), points in lines.items():
        points.sort(key=lambda p: p.depth)
        if len(points) >= 2:
            out.append(Crossover(target, setup, level, tuple(points), _crossing(points)))
    return out


def _crossing(points: list[DepthPoint]) -> float | None:
    """The depth where the lower bound first falls to 1 after paying (None where it does not)."""
    for a, b in zip(points, points[1:]):
        if a.pays and not b.pays:
            ya, yb = math.log(a.low), math.log(max(b.low, 1e-9))
            xa, xb = math.log(a.context_tokens), math.log(max(b.context_tokens, a.context_tokens * (1 + 1e-9)))
            x = xa + (xb - xa) * ya / (ya - yb)
            prompt = statistics.median([a.context_tokens - a.depth, b.context_tokens - b.depth])
            return min(max(math.exp(x) - prompt, a.depth), b.depth)
    return None
