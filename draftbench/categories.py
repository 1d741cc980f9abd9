"""Results per kind of task: each run's requests grouped by their prompt's category, and where the best
setup for a category differs from the best overall. Pure: runs in, figures out."""

from __future__ import annotations

from typing import Any

from . import stats
from .results import RunResult


def summarise(run: RunResult, base: RunResult | None = None) -> dict[str, dict[str, Any]] | None:
    """Per category: requests, decode tok/s mean and 95% interval, acceptance (drafted and accepted tokens
    summed over the category's requests, not a mean of ratios), mean accepted length, and the speedup over
    ``base`` on the same category with its interval. None when no request names a category (older files)."""
    groups: dict[str, list[dict]] = {}
    for q in run.requests:
        if q.get("category") and not q.get("error"):
            groups.setdefault(q["category"], []).append(q)
    if not groups:
        return None
    theirs = summarise(base) if base is not None and base is not run else None
    out: dict[str, dict[str, Any]] = {}
    for cat, qs in groups.items():
        tps = stats.spread([q["decode_tps"] for q in qs if q.get("decode_tps")])
        row: dict[str, Any] = {"n_requests": len(qs), "decode_tps": tps.mean if tps else None,
                               "ci95_tps": list(tps.ci95) if tps and tps.ci95 else None}
        drafted = [q for q in qs if q.get("draft_n") is not None]
        n = sum(q["draft_n"] for q in drafted)
        accepted = sum(q.get("draft_n_accepted") or 0 for q in drafted)
        predicted = sum(q.get("completion_tokens") or 0 for q in drafted)
        row["acceptance_rate"] = accepted / n if n else None
        row["mean_accepted_length"] = predicted / (predicted - accepted) if n and predicted > accepted else None
        other = (theirs or {}).get(cat)
        if other and other.get("decode_tps") and row["decode_tps"]:
            row["speedup"] = row["decode_tps"] / other["decode_tps"]
            mine_s = tps
            base_s = stats.spread([q["decode_tps"] for q in base.requests  # type: ignore[union-attr]
                                   if q.get("category") == cat and not q.get("error") and q.get("decode_tps")])
            interval = stats.ratio_interval(mine_s, base_s) if mine_s and base_s else None
            row["speedup_ci95"] = list(interval) if interval else None
        out[cat] = row
    return out


def names(runs: list[RunResult]) -> list[str]:
    """Categories measured, in order of first appearance."""
    return list(dict.fromkeys(c for r in runs for c in (r.categories or {})))


def _best(runs: list[RunResult], cat: str) -> list[tuple[float, RunResult, dict]]:
    ranked = [((r.categories or {})[cat]["speedup"], r, (r.categories or {})[cat]) for r in runs
              if cat in (r.categories or {}) and (r.categories or {})[cat].get("speedup") is not None]
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
        if row["n_requests"] < 2:  # one request per setup: nothing to say about this category but that
            single.append(cat)
            continue
        ci = row.get("speedup_ci95")
        text = f"{target}, for {cat}: {best.draft} {stats.pct(gain)}"
        text += f" (95% CI {stats.pct(ci[0])} .. {stats.pct(ci[1])}, {row['n_requests']} requests)" if ci else \
            f" ({row['n_requests']} request{'s' if row['n_requests'] != 1 else ''}: no interval)"
        if overall is not None and overall.speedup is not None:
            text += f"; overall: {overall.draft} {stats.pct(overall.speedup)}"
        if len(ranked) > 1:
            second = ranked[1][2].get("speedup_ci95")
            if not ci or not second or second[1] >= ci[0]:
                text += f"; too few requests to separate it from {ranked[1][1].draft} on {cat}"
        out.append(text)
    if single:
        out.append(f"{target}: {', '.join(single)} had one request per setup: too few to pick a setup per task "
                   "(raise requests: the schedule spreads them evenly over the categories)")
    return out


def heatmap(runs: list[RunResult]) -> dict[str, Any] | None:
    """A category x setup heatmap of speedup (%), for runs of one level; None without per-category speedups."""
    shown = [r for r in runs if r.draft is not None and r.error is None and not r.pruned
             and any(v.get("speedup") is not None for v in (r.categories or {}).values())]
    cats = names(shown)
    if not shown or not cats:
        return None
    several = len({r.target for r in shown}) > 1
    rows = [f"{r.target}: {r.draft}" if several else str(r.draft) for r in shown]
    z, text, hover = [], [], []
    for r, row in zip(shown, rows):
        values = [(r.categories or {}).get(c, {}) for c in cats]
        z.append([None if v.get("speedup") is None else round((v["speedup"] - 1) * 100, 1) for v in values])
        text.append(["" if v.get("speedup") is None else stats.pct(v["speedup"]) for v in values])
        hover.append([f"{row}, {c}: " + ("not measured" if v.get("speedup") is None else
                                        f"{stats.pct(v['speedup'])}, {v['n_requests']} requests, acceptance "
                                        + ("n/a" if v.get("acceptance_rate") is None else f"{v['acceptance_rate']:.0%}"))
                      for c, v in zip(cats, values)])
    span = max([abs(v) for row in z for v in row if v is not None] or [1.0]) or 1.0
    return {"type": "heatmap", "x": cats, "y": rows, "z": z, "text": text, "texttemplate": "%{text}",
            "hovertext": hover, "hoverinfo": "text", "zmid": 0, "zmin": -span, "zmax": span, "xgap": 1, "ygap": 1,
            "colorscale": [[0, "#d73027"], [0.5, "#ffffbf"], [1, "#1a9850"]], "colorbar": {"title": {"text": "speedup %"}}}
