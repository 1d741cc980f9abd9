"""The report's levels view: speedup and aggregate throughput against the number of requests in flight, one line
per setup (and temperature), and the table behind them, with each run's temperature where the sweep varied it.
Shown only when a sweep measured several levels; the charts only when it measured several concurrencies."""

from __future__ import annotations

from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..results import grouping, recommend
from ..results.schema import RunResult
from ..setup.levels import Level, varying
from . import page

Line = tuple[str, str | None, float | None, int | None]  # target, setup, temperature, depth


def measured_levels(runs: list[RunResult]) -> list[Level]:
    return grouping.levels([r for r in runs if r.error is None and r.mean_tps])


def _lines(runs: list[RunResult]) -> dict[Line, list[RunResult]]:
    out: dict[Line, list[RunResult]] = {}
    for r in runs:
        if r.error is None and r.aggregate_tps:
            out.setdefault((r.target, r.draft, r.temperature, r.depth), []).append(r)
    for line in out.values():
        line.sort(key=lambda r: r.concurrency)
    return out


def _name(key: Line, several_targets: bool) -> str:
    target, draft, temperature, depth = key
    label = (
        (draft or "baseline (no draft)")
        + (f" @ temperature {temperature:g}" if temperature is not None else "")
        + (f" @ depth {depth}" if depth is not None else "")
    )
    return f"{target} + {label}" if several_targets else label


def charts(runs: list[RunResult]) -> dict[str, list[dict[str, Any]]]:
    """'speedup' (aggregate throughput over the baseline's at the same level, in %) and 'aggregate'
    (tok/s) against the number of streams; empty lists when fewer than two concurrencies were measured."""
    if len({lv.streams for lv in measured_levels(runs)}) < 2:
        return {"speedup": [], "aggregate": []}
    lines = _lines(runs)
    several = len({key[0] for key in lines}) > 1
    speedup, aggregate = [], []
    for key, line in lines.items():
        name = _name(key, several)
        hover = [
            f"{name} @ {r.concurrency} streams: {r.aggregate_tps:.1f} tok/s aggregate, {r.mean_tps or 0:.1f} "
            f"per stream" + (f", {stats.pct(r.aggregate_speedup)} vs baseline" if r.draft else "")
            for r in line
        ]
        trace = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": [r.concurrency for r in line],
            "hovertext": hover,
            "hoverinfo": "text",
        }
        aggregate.append(
            {
                **trace,
                "y": [round(r.aggregate_tps or 0, 2) for r in line],
                **({"line": {"color": page.GREY, "dash": "dash"}} if key[1] is None else {}),
            }
        )
        if key[1] is not None:
            speedup.append(
                {**trace, "y": [None if r.aggregate_speedup is None else page.pct_value(r.aggregate_speedup) for r in line]}
            )
    return {"speedup": speedup, "aggregate": aggregate}


def table(runs: list[RunResult]) -> str:
    """Every measured run by level: aggregate and per-stream tok/s, speedups, acceptance, TTFT."""
    rows = []
    temps, depths = any(r.temperature is not None for r in runs), any(r.depth is not None for r in runs)
    engine = any(r.engine is not None for r in runs)  # vLLM: how many sequences its scheduler ran per step
    for r in sorted(
        (r for r in runs if r.error is None and r.mean_tps),
        key=lambda r: (r.target, r.draft is not None, r.draft or "", r.level.sort_key),
    ):
        cells = [
            r.target,
            r.draft or "baseline",
            str(r.concurrency),
            *([f"{r.temperature:g}"] if temps else []),
            *([str(r.depth or 0)] if depths else []),
            page.fmt(r.aggregate_tps, ".1f"),
            page.fmt(r.mean_tps, ".1f"),
            stats.pct(r.aggregate_speedup) if r.draft else "",
            recommend.speedup_text(r) if r.draft else "",
            page.fmt(r.acceptance_rate, ".0%"),
            page.fmt(r.median_ttft_s, ".3f"),
            page.fmt(r.p95_ttft_s, ".3f"),
            *([page.fmt(r.engine.mean_batch if r.engine else None, ".1f")] if engine else []),
        ]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    return (
        '<table id="levels"><tr><th>Target</th><th>Setup</th><th>Streams</th>'
        + ("<th>Temperature</th>" if temps else "")
        + ("<th>Depth</th>" if depths else "")
        + "<th>Aggregate tok/s</th>"
        "<th>Per-stream tok/s</th><th>Aggregate speedup</th><th>Per-stream speedup</th><th>Acceptance</th>"
        "<th>TTFT median s</th><th>TTFT p95 s</th>"
        + (
            '<th title="vLLM: generated tokens over engine steps and tokens per pass">Sequences per engine step</th>'
            if engine
            else ""
        )
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def section(runs: list[RunResult], level_lines: tuple[str, ...]) -> str:
    """Where concurrency or temperature vary; the runs' table is the depth view's where depth varies too."""
    shown = varying(measured_levels(runs))
    if not set(shown) - {"depth"}:
        return ""
    lines = "".join(f"<li>{html_text(line)}</li>" for line in level_lines)
    return (
        "<h2>Levels: does the setup still pay with several requests at once, or when sampling?</h2>\n"
        '<p class="note">Each level runs N requests at a time in a closed loop (a new one as soon as one ends) on '
        "a server with as many slots, at its sampling temperature (same prompts and seed at every level). "
        "Aggregate tok/s: completion tokens of all requests over the time from the first send to the last end. "
        "Speedups are against the baseline at the same level.</p>\n"
        + (f'<ul id="by-level">{lines}</ul>\n' if lines else "")
        + (
            '<div id="level-speedup" class="chart"></div>\n<div id="level-aggregate" class="chart"></div>\n'
            if len({lv.streams for lv in measured_levels(runs)}) > 1
            else ""
        )
        + (
            table(runs)
            if "depth" not in shown
            else '<p class="note">The runs of every level are in the table by depth above.</p>'
        )
    )
