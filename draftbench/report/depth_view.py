"""The report's context-depth view: each setup's speedup against the depth of context before the prompt (its
crossover marked), TTFT against depth, the table by depth and, with several concurrency levels, the best setup for
each depth and concurrency. Shown only when a sweep measured several depths; it computes no figure of its own."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..core.redaction import html_text
from ..results import recommend
from ..results.depth import Crossover
from ..results.recommend import Recommendation
from ..results.schema import RunResult
from ..setup.levels import Level, varying
from . import page

NOTE = (
    "Each request at depth D carries D tokens of its own context before its prompt (code-like text for code "
    "prompts, prose for the rest; a marker of its own first, so no two requests share a prefix), sent with "
    "cache_prompt off; the server's counts prove each was prefilled in full, none from a cache. Speedups compare "
    "decode tok/s with the baseline at the same depth on the same prompts and contexts (paired): prefill is "
    "not in them, as speculation does not change it; it is the user's wait before the first token, shown as "
    "TTFT per depth. A setup pays at a depth when its interval lies wholly above no gain; its crossover is where "
    "the interval's lower bound reaches no gain, interpolated on log context between the depths measured."
)


def depths(runs: list[RunResult]) -> list[int]:
    return sorted({r.depth or 0 for r in runs if r.error is None and r.mean_tps})


def _lines(runs: list[RunResult]) -> dict[tuple[str, str | None, Level], list[RunResult]]:
    out: dict[tuple[str, str | None, Level], list[RunResult]] = {}
    for r in sorted((r for r in runs if r.error is None and r.mean_tps), key=lambda r: r.depth or 0):
        out.setdefault((r.target, r.draft, replace(r.level, depth=None)), []).append(r)
    return out


def _name(key: tuple[str, str | None, Level], shown: tuple[str, ...], several_targets: bool) -> str:
    target, draft, level = key
    said = level.text(tuple(n for n in shown if n != "depth"))
    name = (draft or "baseline (no draft)") + (f" @ {said}" if said else "")
    return f"{target} + {name}" if several_targets else name


def charts(runs: list[RunResult], crossovers: tuple[Crossover, ...]) -> dict[str, list[dict[str, Any]]]:
    """'speedup' (% against the baseline at the same depth, with its interval; crossovers as markers on the zero
    line) and 'ttft' (median seconds) against depth; empty lists when fewer than two depths were measured."""
    if len(depths(runs)) < 2:
        return {"speedup": [], "ttft": []}
    lines = _lines(runs)
    shown = varying([k[2] for k in lines])
    several = len({k[0] for k in lines}) > 1
    speedup, ttft = [], []
    colors = {key: page.PALETTE[i % len(page.PALETTE)] for i, key in enumerate(k for k in lines if k[1] is not None)}
    for key, line in lines.items():
        name = _name(key, shown, several)
        x = [r.depth or 0 for r in line]
        color = (
            {"line": {"color": colors[key]}, "marker": {"color": colors[key]}}
            if key in colors
            else {"line": {"color": page.GREY, "dash": "dash"}}
        )  # the baseline: the same colour in both charts
        ttft.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": x,
                **color,
                "y": [None if r.median_ttft_s is None else round(r.median_ttft_s, 3) for r in line],
                "hovertext": [
                    f"{name} @ depth {d:,}: TTFT median {page.fmt(r.median_ttft_s, '.2f', '?')} s, "
                    f"p95 {page.fmt(r.p95_ttft_s, '.2f', '?')} s"
                    for d, r in zip(x, line)
                ],
                "hoverinfo": "text",
            }
        )
        if key[1] is not None:
            speedup.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "x": x,
                    "y": [page.pct_value(r.speedup) for r in line],
                    "error_y": page.error_y([page.speedup_errors(r) for r in line]),
                    "hovertext": [
                        f"{name} @ depth {d:,}: {recommend.speedup_text(r)}, acceptance "
                        f"{page.fmt(r.acceptance_rate, '.0%', 'n/a')}"
                        for d, r in zip(x, line)
                    ],
                    "hoverinfo": "text",
                    **color,
                }
            )
    marks = [c for c in crossovers if c.depth_tokens is not None]
    if marks:
        speedup.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "crossover",
                "x": [round(c.depth_tokens or 0) for c in marks],
                "y": [0 for _ in marks],
                "marker": {
                    "symbol": "x",
                    "size": 13,
                    "line": {"width": 1, "color": "#333"},
                    "color": [colors.get((c.target, c.setup, c.level), page.RED) for c in marks],
                },
                "hovertext": [f"{c.setup}: {c.text()}" for c in marks],
                "hoverinfo": "text",
            }
        )
    return {"speedup": speedup, "ttft": ttft}


def table(runs: list[RunResult]) -> str:
    """Every measured run by depth: decode tok/s, speedup with its interval, acceptance, TTFT."""
    rows = []
    several = len({r.level.concurrency for r in runs}) > 1 or len({r.temperature for r in runs}) > 1
    for r in sorted(
        (r for r in runs if r.error is None and r.mean_tps),
        key=lambda r: (r.target, r.depth or 0, replace(r.level, depth=None).sort_key, r.draft is not None, -(r.speedup or 0)),
    ):
        cells = [
            r.target,
            f"{r.depth or 0:,}",
            *([replace(r.level, depth=None).text() or "1 stream"] if several else []),
            r.draft or "baseline",
            page.fmt(r.mean_tps, ".2f"),
            recommend.speedup_text(r) if r.draft else "",
            page.fmt(r.acceptance_rate, ".0%"),
            page.fmt(r.median_ttft_s, ".2f"),
            page.fmt(r.p95_ttft_s, ".2f"),
        ]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    return (
        '<table id="by-depth"><tr><th>Target</th><th>Depth</th>'
        + ("<th>Level</th>" if several else "")
        + "<th>Setup</th><th>Decode tok/s</th><th>Speedup (95% CI)</th><th>Acceptance</th>"
        "<th>TTFT median s</th><th>TTFT p95 s</th></tr>" + "".join(rows) + "</table>"
    )


def best_table(recs: tuple[Recommendation, ...]) -> str:
    """Depth (rows) x concurrency (columns): the setup each recommends, per target and temperature; '' unless the
    sweep measured several depths and several concurrencies."""
    levels = [r.level for r in recs]
    if not {"depth", "concurrency"} <= set(varying(levels)):
        return ""
    out = []
    groups = dict.fromkeys((r.target, r.level.temperature) for r in recs)
    for target, temperature in groups:
        mine = {
            (r.level.depth or 0, r.level.concurrency): r.short()
            for r in recs
            if r.target == target and r.level.temperature == temperature
        }
        rows_d, cols = sorted({d for d, _ in mine}), sorted({c for _, c in mine})
        title = target + (f" @ temperature {temperature:g}" if temperature is not None else "")
        head = "".join(f"<th>{c} stream{'s' if c != 1 else ''}</th>" for c in cols)
        body = "".join(
            f"<tr><th>depth {d:,}</th>" + "".join(f"<td>{html_text(mine.get((d, c), ''))}</td>" for c in cols) + "</tr>"
            for d in rows_d
        )
        out.append(
            f'<table class="best-by-depth"><caption>{html_text(title)}: the setup to use</caption>'
            f"<tr><th></th>{head}</tr>{body}</table>"
        )
    return "\n".join(out)


def section(runs: list[RunResult], crossovers: tuple[Crossover, ...], recs: tuple[Recommendation, ...]) -> str:
    if len(depths(runs)) < 2:
        return ""
    items = "".join(
        f"<li>{html_text(c.setup)}{html_text(' @ ' + c.level.text()) if c.level.text() else ''}: {html_text(c.text())}</li>"
        for c in crossovers
    )
    return (
        "<h2>Context depth: does the setup still pay with a long context?</h2>\n"
        f'<p class="note">{html_text(NOTE)}</p>\n'
        + (f'<ul id="crossovers">{items}</ul>\n' if items else "")
        + '<div id="depth-speedup" class="chart"></div>\n<div id="depth-ttft" class="chart"></div>\n'
        + best_table(recs)
        + table(runs)
    )
