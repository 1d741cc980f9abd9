"""The cost model wired to runs: what a draft's runs (at one or several draft lengths) and its target's baseline
tell :mod:`costmodel` (v(k), acceptance by position, drafting cost), and each run's parts. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from ..records.requests import DraftCounts
from . import costmodel, grouping
from .grouping import same_draft
from .schema import RunResult


def verify_costs(base: RunResult | None) -> dict[int, float] | None:
    if base is None or not base.verify_costs:
        return None
    return {int(k): float(v) for k, v in base.verify_costs.items()}


def loop_model(group: list[RunResult], base: RunResult) -> tuple[tuple[float, ...] | None, dict, str, str]:
    """What a draft's runs (:func:`same_draft`) tell the cost model: acceptance by position (None: unknown),
    v(k) and where each came from. v(k) in the loop comes from the runs' synthetic-acceptance twins, never
    from the runs themselves."""
    step_ms = 1000.0 / base.mean_tps if base.mean_tps else None
    loop = {
        1.0 + r.verify_in_loop.drafted_per_pass: r.verify_in_loop.verify_ms_per_pass / step_ms
        for r in group
        if r.verify_in_loop and step_ms
    }
    costs = costmodel.footprint(verify_costs(base), loop)
    counted = [
        (r.position_counts.passes, list(r.position_counts.accepted), r.speculation.draft_max or len(r.position_counts.accepted))
        for r in group
        if r.position_counts and r.speculation
    ]
    lengths = {r.speculation.draft_max: DraftCounts.of(r.requests) for r in group if r.speculation.draft_max}
    points = [(n, c.accepted / c.passes) for n, c in lengths.items() if c.passes]
    if counted:
        rates, source = costmodel.rates_from_positions(counted), "by position (server counts)"
    elif len(points) > 1:
        rates, source = costmodel.rates_from_lengths(points), "by position (fit across draft lengths)"
    else:
        rates, source = None, "constant rate"
    return rates, costs, "in the loop" if loop else "prompt batches", source


def draft_loop(group: list[RunResult], base: RunResult) -> costmodel.Loop | None:
    """The cost model of one draft (its runs at several lengths, :func:`same_draft`) for any length: what the
    report's draft-length chart and the benchmark predict with. None where its runs have no parts."""
    explained = [r for r in group if r.parts is not None and r.speculation and r.speculation.draft_max]
    if not explained:
        return None
    rates, costs, _, _ = loop_model(group, base)
    n = len(explained)
    longest = max(explained, key=lambda r: r.speculation.draft_max or 0)  # type: ignore[union-attr]  # explained runs have parts and a draft length, filtered above
    return costmodel.Loop(
        rates or (sum(r.parts.acceptance_per_token for r in explained) / n,),
        sum(r.parts.draft_cost_ratio for r in explained) / n,
        costs,
        min(1.0, sum(r.parts.drafted_per_pass / r.speculation.draft_max for r in explained) / n),
        costmodel.cut_by_confidence(longest.speculation.draft_max, longest.parts.drafted_per_pass),
    )  # type: ignore[union-attr, arg-type]  # explained runs have parts and a draft length, filtered above


def explain_run(run: RunResult, base: RunResult | None, runs: Iterable[RunResult] = ()) -> costmodel.Parts | None:
    """The cost model's parts of ``run``, from its counts, its drafting time (in-process where the server
    reported it, else from the draft's own speed) and v(k) and acceptance by position from the runs of its
    draft (:func:`loop_model`); None where a part was not measured (files of the original tool)."""
    spec = run.speculation
    if spec is None or run.error is not None or run.mean_tps is None or base is None or not base.mean_tps:
        return None
    rates, costs, verify_source, acceptance_source = loop_model(same_draft(run, runs), base)
    if not costs:
        return None
    in_process = run.draft_ms_per_pass / (1000.0 / base.mean_tps) if run.draft_ms_per_pass is not None else None
    if spec.uses_head:  # MTP, EAGLE-3, DFlash, DSpark: no draft-alone run exists, drafting is timed in-process or not at all
        c, source = None, "in-process"
    elif spec.draft_path:
        c, source = (base.mean_tps / run.draft_alone_tps if run.draft_alone_tps else None), "draft alone"
    else:  # n-gram lookups: next to nothing next to a model's step
        c, source = 0.0, "n-gram"
    n = DraftCounts.of(run.requests)
    return costmodel.explain(
        n.produced, n.drafted, n.accepted, c, costs, spec.draft_max, in_process, source, rates, verify_source, acceptance_source
    )


GRID = 41  # points per axis of the why-chart's model grid
DEFAULT_DRAFT_LENGTH = 3


@dataclass(frozen=True)
class WhyGrid:
    """The why-chart's figures: for one target at its most measured draft length, the cost model's speedup over a
    grid of acceptance per token (rows) and draft cost (columns), and the runs shown on it (one per draft, the
    lowest p-min where several were measured)."""

    target: str
    draft_length: int
    draft_costs: tuple[float, ...]
    acceptances: tuple[float, ...]
    speedups: tuple[tuple[float, ...], ...]  # speedups[i][j]: at acceptances[i] and draft_costs[j]
    runs: tuple[RunResult, ...]


def _length(r: RunResult) -> int:
    return (r.speculation.draft_max if r.speculation else None) or DEFAULT_DRAFT_LENGTH


def _p_min(r: RunResult) -> float:
    return (r.speculation.draft_p_min if r.speculation else None) or 0


def explained(runs: list[RunResult]) -> list[RunResult]:
    """The runs the cost model explains: with parts and a speedup, eligible to be recommended."""
    return [r for r in runs if r.parts is not None and r.speedup is not None and grouping.eligible(r)]


def why_grid(runs: list[RunResult]) -> WhyGrid | None:
    """The grid of the first target whose runs are ``explained``, or None where its baseline has no v(k)."""
    shown = explained(runs)
    if not shown:
        return None
    target = shown[0].target
    costs = verify_costs(grouping.baselines(runs).get(target))
    if not costs:
        return None
    mine = [r for r in shown if r.target == target]
    g = Counter(_length(r) for r in mine).most_common(1)[0][0]
    points: dict[str, RunResult] = {}
    for r in mine:
        key = r.draft_path or r.draft or ""
        if _length(r) == g and (key not in points or _p_min(r) < _p_min(points[key])):
            points[key] = r
    picked = tuple(points.values())
    c_max = max([0.5] + [1.3 * r.parts.draft_cost_ratio for r in picked if r.parts])
    cs = tuple(c_max * i / (GRID - 1) for i in range(GRID))
    accs = tuple(0.99 * i / (GRID - 1) for i in range(GRID))
    z = tuple(tuple(costmodel.speedup(a, g, c, costs) for c in cs) for a in accs)
    return WhyGrid(target, g, cs, accs, z, picked)
