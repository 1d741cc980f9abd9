"""Draft-length curves: per setup measured at two or more draft lengths (setups that differ only in draft_max),
its measured speedup at each length and the cost model's prediction at every length up to the longest measured,
with the best length each says. Evaluated once (``evaluate``), so the report, the Markdown export and the results
file say the same. Pure: evaluated runs in, curves out."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from . import explain, grouping
from .recommend import speedup_text
from .schema import RunResult

_LENGTH_SEGMENT = re.compile(r"\s*·\s*n_max \d+")
LONGEST_PREDICTED = 16  # the model's best length is looked for up to here (or the longest measured, if longer)


@dataclass(frozen=True)
class LengthPoint:
    draft_max: int
    setup: str  # the run's label
    speedup: float | None
    speedup_ci95: tuple[float, float] | None = None
    text: str = ""  # the speedup with its interval and paired requests, as the recommendation says it


@dataclass(frozen=True)
class LengthCurve:
    """One setup across draft lengths: ``measured`` in order of length; ``predicted`` (n, speedup) for n from 1
    to the longest measured, empty where its runs have no cost-model parts; the best length each says."""

    target: str
    name: str  # the setup's label without its length, and the shard where a fleet measured it
    measured: tuple[LengthPoint, ...]
    predicted: tuple[tuple[int, float], ...] = ()
    predicted_best: int | None = None
    predicted_best_speedup: float | None = None
    methods: str = ""  # how the model got v(k) and acceptance ("v(k): ..., acceptance: ...")

    @property
    def measured_best(self) -> LengthPoint:
        return max(self.measured, key=lambda p: p.speedup or 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Memo = dict  # (the ids of a curve's runs and its baseline) -> (those runs, the curve): a sweep's store keeps one


def curves(runs: list[RunResult], memo: Memo | None = None) -> tuple[LengthCurve, ...]:
    """Every draft-length curve of ``runs`` (evaluated) at their lowest level (one stream, the sweep's temperature,
    no depth: what the report charts), in the order their setups first appear. ``memo``: curves made earlier from
    the very same run records, taken again (a save evaluates again only the runs that changed)."""
    groups: dict[tuple, list[RunResult]] = {}
    for r in grouping.at_level(runs) if runs else []:
        if grouping.eligible(r) and r.speculation is not None and r.speculation.draft_max is not None:
            groups.setdefault(grouping.length_key(r), []).append(r)
    groups = {k: g for k, g in groups.items() if len({r.speculation.draft_max for r in g if r.speculation}) > 1}
    several_targets = len({key[0] for key in groups}) > 1
    bases = {r.key: r for r in runs if r.draft is None and r.error is None and r.mean_tps}  # grouping.baseline_of's
    out, used = [], {}
    for (target, _, shard, _), group in groups.items():
        base = bases.get(group[0].baseline_key)
        inputs = (*group, base)
        key = (several_targets, *map(id, inputs))
        hit = (memo or {}).get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], inputs)):
            hit = (inputs, _curve(target, shard, group, base, several_targets))
        used[key] = hit
        out.append(hit[1])
    if memo is not None:
        memo.clear()
        memo.update(used)
    return tuple(out)


def _length(r: RunResult) -> int:
    return (r.speculation.draft_max or 0) if r.speculation else 0


def _curve(target: str, shard: int | None, group: list[RunResult], base: RunResult | None, prefix: bool) -> LengthCurve:
    group = sorted(group, key=_length)
    name = (_LENGTH_SEGMENT.sub("", group[0].draft or "") or "setup") + (f" (shard {shard})" if shard is not None else "")
    measured = tuple(
        LengthPoint(
            _length(r),
            r.draft or "",
            r.speedup,
            (r.speedup_ci95[0], r.speedup_ci95[1]) if r.speedup_ci95 else None,
            speedup_text(r),
        )
        for r in group
    )
    model = explain.draft_loop(group, base) if base else None
    parts = next((r.parts for r in group if r.parts), None)
    if model is None or parts is None:
        return LengthCurve(target, f"{target}: {name}" if prefix else name, measured)
    longest = _length(group[-1])
    top = model.best(max(LONGEST_PREDICTED, longest))
    return LengthCurve(
        target,
        f"{target}: {name}" if prefix else name,
        measured,
        tuple((n, model.speedup(n)) for n in range(1, longest + 1)),
        top,
        model.speedup(top),
        f"v(k): {parts.verify_source}, acceptance: {parts.acceptance_source}",
    )
