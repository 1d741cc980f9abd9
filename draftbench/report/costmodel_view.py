"""The report's explanation of each speedup: the why-chart (acceptance against draft cost, with the cost
model's iso-speedup curves) and the table of measured parts. Runs without parts (files of the original
tool, setups whose parts were not measured) are left out, never guessed."""

from __future__ import annotations

import re
from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..results.explain import WhyGrid, explained
from ..results.schema import RunResult
from . import page


def chart(grid: WhyGrid | None) -> dict[str, Any] | None:
    """Traces and title for the why-chart (``explain.why_grid``, the evaluation's): the cost model's iso-speedup
    curves, and one labelled point per draft."""
    if grid is None:
        return None
    z = [[page.pct_value(v) for v in row] for row in grid.speedups]
    contour = {
        "type": "contour",
        "x": list(grid.draft_costs),
        "y": list(grid.acceptances),
        "z": z,
        "showscale": False,
        "hoverinfo": "skip",
        "colorscale": page.SCALE,
        "zmid": 0,
        "contours": {
            "coloring": "lines",
            "showlabels": True,
            "start": -80,
            "end": 300,
            "size": 10,
            "labelfont": {"size": 10, "color": "#555"},
        },
        "line": {"color": "#999", "width": 1},
        "name": f"model at n_max {grid.draft_length}",
    }
    picked = [r for r in grid.runs if r.parts is not None]
    speeds = [page.pct_value(r.speedup) for r in picked]
    span = max([abs(v) for v in speeds] + [1.0])
    scatter = {
        "type": "scatter",
        "mode": "markers+text",
        "x": [r.parts.draft_cost_ratio for r in picked],
        "y": [r.parts.acceptance_per_token for r in picked],
        "text": [r.draft for r in picked],
        "textposition": "top center",
        "name": "measured",
        "marker": {
            "size": 14,
            "color": speeds,
            "colorscale": page.SCALE,
            "cmin": -span,
            "cmax": span,
            "line": {"color": "#333", "width": 1},
            "colorbar": {"title": {"text": "measured speedup %"}},
        },
        "hovertext": [
            f"{r.draft}: measured {stats.pct(r.speedup)}, predicted {stats.pct(r.parts.predicted_speedup)}<br>{r.parts.verdict}"
            for r in picked
        ],
        "hoverinfo": "text",
    }
    return {
        "traces": [contour, scatter],
        "title": f"{grid.target}, draft length {grid.draft_length}: iso-speedup curves (%) of the cost model",
    }


def _cell(value: object) -> str:
    return f"<td>{html_text(value)}</td>"


def _verdict_cell(verdict: str) -> str:
    """The verdict's first words ("acceptance too low"); the whole of it in the hover."""
    short = re.split(r" \(|: ", verdict, maxsplit=1)[0]
    return f'<td title="{html_text(verdict)}">{html_text(short)}</td>'


def table(runs: list[RunResult]) -> str:
    """An HTML table of every explained run: measured against predicted, the parts, the verdict."""
    shown = explained(runs)
    if not shown:
        return ""
    head = (
        "<tr><th>Target</th><th>Setup</th><th>Measured</th><th>Predicted</th><th>Error</th>"
        "<th>a</th><th>Drafted per pass</th><th>Draft cost c</th><th>c from</th><th>Verify cost v</th>"
        "<th>v from</th><th>Drafting share</th><th>Acceptance model</th>"
        "<th>Best n_max (model)</th><th>Verdict</th></tr>"
    )
    rows = []
    for r in shown:
        p = r.parts
        error = stats.percent(p.predicted_speedup / r.speedup)
        rows.append(
            "<tr>"
            + "".join(
                _cell(v)
                for v in (
                    r.target,
                    r.draft,
                    stats.pct(r.speedup),
                    stats.pct(p.predicted_speedup),
                    f"{error:+.0f}%",
                    f"{p.acceptance_per_token:.2f}",
                    f"{p.drafted_per_pass:.2f}",
                    f"{p.draft_cost_ratio:.3f}",
                    p.draft_cost_source,
                    f"{p.verify_cost:.2f}",
                    p.verify_source,
                    f"{p.drafting_share:.0%}",
                    p.acceptance_source,
                    p.predicted_best_draft_max or "-",
                )
            )
            + _verdict_cell(p.verdict)
            + "</tr>"
        )
    return '<table id="parts">' + head + "\n".join(rows) + "</table>" + fallback_note(shown)


def fallback_note(shown: list[RunResult]) -> str:
    """Where a run's parts used a fallback, what the model then leaves out."""
    notes = []
    if any(r.parts.verify_source != "in the loop" for r in shown):
        notes.append(
            "v from prompt batches (older files, or a build without --spec-synth-rates): a batch of k "
            "prompt tokens, not a verification in the speculative loop; it leaves out the draft's footprint "
            "on the target (caches and memory bandwidth shared with the draft), so predictions for larger "
            "drafts read low"
        )
    if any(r.parts.acceptance_source == "constant rate" for r in shown):
        notes.append(
            "acceptance as one rate for every draft position (the server reported no counts by position "
            "and the draft was measured at one length): the best draft length is less certain"
        )
    return "".join(f'<p class="note" id="parts-fallback">Fallback: {html_text(n)}.</p>' for n in notes)
