"""What each setup costs in memory: speedup against extra memory over the baseline (its Pareto front: the setups
no other beats on both), and the table of each run's buffers (weights, KV cache, compute), their total, the
server's peak resident memory, and the dry run's estimate with its error."""

from __future__ import annotations

from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..results import grouping
from ..results.schema import RunResult
from . import page


def front(runs: list[RunResult]) -> list[RunResult]:
    """The setups that neither no speculation (0 MiB, no gain) nor another setup of their target beats on both
    speedup and extra memory, cheapest first."""
    mine = [r for r in runs if r.extra_memory_mib is not None and (grouping.gain(r) or 0.0) > 1.0 and grouping.eligible(r)]
    out = [
        r
        for r in mine
        if not any(
            o is not r
            and o.target == r.target
            and (o.extra_memory_mib or 0) <= (r.extra_memory_mib or 0)
            and (grouping.gain(o) or 0) >= (grouping.gain(r) or 0)
            and ((o.extra_memory_mib, grouping.gain(o)) != (r.extra_memory_mib, grouping.gain(r)))
            for o in mine
        )
    ]
    return sorted(out, key=lambda r: (r.target, r.extra_memory_mib or 0))


def chart(runs: list[RunResult]) -> list[dict[str, Any]]:
    """A point per setup (speedup % against extra MiB), and the front as a line per target."""
    mine = [r for r in runs if r.extra_memory_mib is not None and r.speedup is not None]
    if not mine:
        return []
    points = {
        "type": "scatter",
        "mode": "markers+text",
        "name": "setups",
        "textposition": "top center",
        "x": [r.extra_memory_mib for r in mine],
        "y": [page.pct_value(grouping.gain(r)) for r in mine],
        "text": [r.draft for r in mine],
        "hovertext": [
            f"{r.target} + {r.draft}: {stats.pct(grouping.gain(r))}, {stats.mib(r.extra_memory_mib)} MiB" for r in mine
        ],
        "hoverinfo": "text",
    }
    lines = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"Pareto front: {target}",
            "line": {"dash": "dot"},
            "x": [0.0, *(r.extra_memory_mib for r in best)],  # from no speculation: no memory, no gain
            "y": [0.0, *(page.pct_value(grouping.gain(r)) for r in best)],
        }
        for target in dict.fromkeys(r.target for r in mine)
        if (best := [r for r in front(mine) if r.target == target])
    ]
    return [points, *lines]


def table(runs: list[RunResult]) -> str:
    """Every run with a measured memory: its parts, total, peak, estimate and the estimate's error."""
    rows = []
    for r in (r for r in runs if r.memory is not None and (r.memory.total_mib or r.memory.peak_rss_mib)):
        m = r.memory
        error = (m.estimate_mib - m.total_mib) / m.total_mib if m.estimate_mib and m.total_mib else None
        cells = [
            r.target,
            r.draft or "baseline",
            page.fmt(m.part("weights") if m.buffers else None, ",.1f"),
            page.fmt(m.part("kv") if m.buffers else None, ",.1f"),
            page.fmt(m.part("compute") if m.buffers else None, ",.1f"),
            page.fmt(m.total_mib, ",.1f"),
            page.fmt(m.peak_rss_mib, ",.0f"),
            page.fmt(r.extra_memory_mib, "+,.1f"),
            page.fmt(m.estimate_mib, ",.1f"),
            stats.pct(1 + error) if error is not None else "",
        ]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    return (
        "<h2>Memory: what each setup costs</h2>\n<p class=\"note\">From the server's own log: each model's weights, "
        "KV cache and compute buffers (MiB, all devices), their total, the server's peak resident memory, the "
        "total over the baseline's, and the dry run's estimate from the GGUF headers with its error.</p>\n"
        '<table id="memory-table"><tr><th>Target</th><th>Setup</th>'
        "<th>Weights</th><th>KV cache</th><th>Compute</th><th>Total</th><th>Peak RSS</th><th>Extra vs baseline</th>"
        "<th>Estimate</th><th>Estimate error</th></tr>" + "".join(rows) + "</table>"
    )
