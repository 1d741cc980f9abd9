"""Results per kind of task: each run's requests grouped by their prompt's category, and where the best
setup for a category differs from the best overall. Pure: runs in, figures out."""

from __future__ import annotations

from dataclasses import replace

from ..core import stats
from ..records.requests import DraftCounts, RequestResult
from . import comparison
from .schema import CategoryResult, RunResult


def summarise(
    run: RunResult, base: RunResult | None = None, corrected: RunResult | None = None
) -> dict[str, CategoryResult] | None:
    """Per category: requests, decode tok/s mean and 95% interval, acceptance (drafted and accepted tokens
    summed over the category's requests, not a mean of ratios), mean accepted length, and the speedup over
    ``base`` on the same category with its interval (paired, :func:`comparison.versus`). None when no request
    names a category (older files). Speedups come from ``corrected`` where given (its requests corrected for
    baseline drift, :mod:`drift`); tok/s are always as measured."""
    groups: dict[str, list[RequestResult]] = {}
    for q in run.requests:
        if q.category and not q.error:
            groups.setdefault(q.category, []).append(q)
    if not groups:
        return None
    out: dict[str, CategoryResult] = {}
    for cat, qs in groups.items():
        tps = stats.spread([q.decode_tps for q in qs if q.decode_tps])
        counts = DraftCounts.of(qs)
        row = CategoryResult(
            len(qs),
            tps.mean if tps else None,
            list(tps.ci95) if tps and tps.ci95 else None,
            counts.acceptance_rate,
            counts.mean_accepted_length,
        )
        if base is not None and base is not run:
            row = replace(row, **comparison.speedup_fields(comparison.versus(corrected or run, base, cat)))
        out[cat] = row
    return out


def names(runs: list[RunResult]) -> list[str]:
    """Categories measured, in order of first appearance."""
    return list(dict.fromkeys(c for r in runs for c in (r.categories or {})))


def separated(a: RunResult, b: RunResult, cat: str) -> bool:
    """Is ``a`` faster than ``b`` on ``cat`` beyond noise? Paired on the category's requests where both have
    them, else by their intervals against the baseline (unpaired)."""
    ratio = comparison.versus(a, b, cat)
    if ratio is not None and ratio.paired and ratio.ci95 is not None:
        return ratio.ci95[0] > 1.0
    mine, theirs = ((r.categories or {}).get(cat) for r in (a, b))
    return bool(mine and theirs and mine.speedup_ci95 and theirs.speedup_ci95 and theirs.speedup_ci95[1] < mine.speedup_ci95[0])


def _best(runs: list[RunResult], cat: str) -> list[tuple[float, RunResult, CategoryResult]]:
    rows = [(r, (r.categories or {}).get(cat)) for r in runs]
    ranked = [(row.speedup, r, row) for r, row in rows if row is not None and row.speedup is not None]
    return sorted(ranked, key=lambda x: x[0], reverse=True)


def lines(target: str, eligible: list[RunResult], overall: RunResult | None) -> list[str]:
    """A line per category whose best setup differs from ``overall`` (the target's recommendation), with its
    interval; a category whose two leaders' intervals overlap says it cannot separate them."""
    out, single = [], []
    for cat in names(eligible):
        ranked = _best(eligible, cat)
        if not ranked:
            continue
        gain, best, row = ranked[0]
        if overall is not None and best.draft == overall.draft:
            continue
        if row.n_requests < 2:  # one request per setup: nothing to say about this category but that
            single.append(cat)
            continue
        text = f"{target}, for {cat}: {best.draft} {stats.ratio_text(row.ratio())}"
        if overall is not None and overall.speedup is not None:
            text += f"; overall: {overall.draft} {stats.pct(overall.speedup)}"
        if row.speedup_ci95 and row.speedup_ci95[0] <= 1.0:  # a tie with no speculation is no win here either
            text += f"; not separated from no speculation on {cat}"
        if len(ranked) > 1 and not separated(best, ranked[1][1], cat):
            text += f"; too few requests to separate it from {ranked[1][1].draft} on {cat}"
        out.append(text)
    if single:
        out.append(
            f"{target}: {', '.join(single)} had one request per setup: too few to pick a setup per task "
            "(raise requests: the schedule spreads them evenly over the categories)"
        )
    return out
