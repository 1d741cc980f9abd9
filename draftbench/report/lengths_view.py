"""The report's draft-length view: per setup measured at several draft lengths (``results.lengths``, evaluated
once), the measured speedups and the cost model's prediction at every length beside them, and the best length each
says."""

from __future__ import annotations

from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..results.lengths import LengthCurve
from . import page


def traces(curves: tuple[LengthCurve, ...]) -> list[dict[str, Any]]:
    """Per curve: the measured speedups, and the cost model's prediction at every length beside them (dashed;
    none where the runs have no parts)."""
    traces = []
    for c in curves:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{c.name}: measured",
                "legendgroup": c.name,
                "x": [p.draft_max for p in c.measured],
                "y": [page.pct_value(p.speedup) for p in c.measured],
                "hovertext": [f"{p.setup}: {p.text}" for p in c.measured],
                "hoverinfo": "text",
                "error_y": page.error_y([page.speedup_errors(p) for p in c.measured]),
            }
        )
        if c.predicted:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{c.name}: cost model",
                    "legendgroup": c.name,
                    "x": [n for n, _ in c.predicted],
                    "y": [page.pct_value(s) for _, s in c.predicted],
                    "line": {"dash": "dash"},
                    "hovertemplate": "n_max %{x}: predicted %{y:+.0f}%",
                }
            )
    return traces


def notes(curves: tuple[LengthCurve, ...]) -> list[str]:
    """Per curve: the measured best length, and the cost model's, with the methods behind it."""
    out = []
    for c in curves:
        best = c.measured_best
        text = f"{c.name}: measured best n_max {best.draft_max} ({stats.pct(best.speedup)})"
        if c.predicted_best is not None:
            text += f"; the cost model predicts n_max {c.predicted_best} ({stats.pct(c.predicted_best_speedup)}; {c.methods})"
        out.append(text)
    return out


def section(curves: tuple[LengthCurve, ...]) -> str:
    """The chart's place and a line per curve."""
    items = "".join(f"<li>{html_text(n)}</li>" for n in notes(curves))
    return f'<h2>Speedup vs draft length</h2>\n<div id="draft-length" class="chart"></div>\n<ul id="lengths">{items}</ul>'
