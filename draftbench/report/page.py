"""What every draftbench HTML page shares: the head (Plotly from its CDN, pinned by SRI), the style, JSON
embedded safely in a script tag, and the start of the script that draws the charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core import stats

PLOTLY_URL = "https://cdn.plot.ly/plotly-2.35.2.min.js"
PLOTLY_SRI = "sha384-cCVCZkAjYNxaYKbM8lsArLznDF/SvMFr1jcZrvOpSTCa0W40ZAdLzHCEulnUa5i7"


def template(name: str) -> str:
    """A page's str.format template (braces doubled) from ``templates/``: the shared head (title, plotly_url and
    plotly_sri), then the page, whose ``<!-- script start -->`` line becomes the shared start of its script
    (reads the data from <script id="draftbench-data"> into ``data``, explains missing charts offline, sets ``cfg``)."""
    folder = Path(__file__).parent / "templates"
    head, start, body = ((folder / f).read_text(encoding="utf-8") for f in ("head.html", "script_start.html", name))
    return head + body.replace("<!-- script start -->\n", start)


def embed_json(data: Any) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' survive, so no label can close the tag."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


GREEN, RED, GREY = "#1a9850", "#d73027", "#7f7f7f"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")  # a line per setup
SCALE = [[0, RED], [0.5, "#ffffbf"], [1, GREEN]]  # speedup colours: red slower, yellow even, green faster


def fmt(v: Any, spec: str = "", missing: str = "") -> str:
    """A table cell: ``missing`` for a missing value."""
    return missing if v is None else format(v, spec)


def pct_value(ratio: float | None) -> float | None:
    """A speedup ratio as a chart's percent value (1.25 -> 25.0)."""
    return None if ratio is None else round(stats.percent(ratio), 1)


def heatmap(
    x: list, y: list, z: list[list[float | None]], hover: list[list[str]], text: list[list[str]] | None = None
) -> dict[str, Any]:
    """A speedup (%) heatmap: yellow at 0, its colour range symmetric around it."""
    span = max([abs(v) for row in z for v in row if v is not None] or [1.0]) or 1.0
    out = {
        "type": "heatmap",
        "x": x,
        "y": y,
        "z": z,
        "hovertext": hover,
        "hoverinfo": "text",
        "zmid": 0,
        "zmin": -span,
        "zmax": span,
        "xgap": 1,
        "ygap": 1,
        "colorscale": SCALE,
        "colorbar": {"title": {"text": "speedup %"}},
    }
    return {**out, "text": text, "texttemplate": "%{text}"} if text is not None else out


def speedup_errors(r: Any) -> list[float] | None:
    """[above, below] of a run's speedup interval, in percentage points (None without one)."""
    return interval_errors(r.speedup, r.speedup_ci95) if r is not None else None


def interval_errors(value: float | None, ci: Any) -> list[float] | None:
    """[above, below] of a ratio's interval, in percentage points (None without one)."""
    if value is None or not ci:
        return None
    return [round((ci[1] - value) * 100, 1), round((value - ci[0]) * 100, 1)]


def error_y(errs: list[list[float] | None]) -> dict[str, Any]:
    """Plotly's asymmetric error bars from [above, below] pairs (None: no bar)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [e[0] if e else 0 for e in errs],
        "arrayminus": [e[1] if e else 0 for e in errs],
    }
