"""The page of ``sweep.py --compare``: files compared, each (hardware, target)'s best setup, best speedup
against baseline speed with its trend, and the derived "choosing a draft" table. Also Markdown and CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from ..core import stats
from ..core.files import write_text_atomic
from ..core.redaction import csv_cell, html_text, md_cell
from ..results import compare, recommend
from . import page
from .page import PLOTLY_SRI, PLOTLY_URL, embed_json, fmt

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def charts(rows: list[compare.Entry]) -> dict[str, Any]:
    hardware = list(dict.fromkeys(e.hardware for e in rows))
    bars, scatter = [], []
    for i, hw in enumerate(hardware):
        mine = [e for e in rows if e.hardware == hw and e.speedup is not None]
        color = COLORS[i % len(COLORS)]
        bars.append(
            {
                "type": "bar",
                "name": hw,
                "x": [e.target for e in mine],
                "y": [page.pct_value(e.speedup or 1) for e in mine],
                "text": [stats.pct(e.speedup) for e in mine],
                "textposition": "outside",
                "cliponaxis": False,
                "hovertext": [
                    f"{hw} / {e.target}: {e.best.draft if e.best else ''} "
                    f"{recommend.speedup_text(e.best) if e.best else ''}, "
                    f"baseline {e.baseline_tps or 0:.1f} tok/s"
                    for e in mine
                ],
                "hoverinfo": "text",
                "marker": {"color": color},
            }
        )
        pts = [e for e in mine if e.baseline_tps]
        scatter.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": hw,
                "x": [e.baseline_tps for e in pts],
                "y": [page.pct_value(e.speedup or 1) for e in pts],
                "marker": {"color": color, "size": 10},
                "hovertext": [f"{hw} / {e.target}: {e.best.draft if e.best else ''}" for e in pts],
                "hoverinfo": "text+x+y",
            }
        )
    line = compare.trend(rows)
    speeds = [e.baseline_tps for e in rows if e.baseline_tps]
    if line and speeds:
        xs = [min(speeds), max(speeds)]
        scatter.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"trend ({line[0]:+.0f} points per 10x speed)",
                "x": xs,
                "y": [round(line[0] * math.log10(x) + line[1], 1) for x in xs],
                "line": {"color": "#444", "dash": "dot"},
            }
        )
    return {"bars": bars, "scatter": scatter}


def render(rows: list[compare.Entry], files: list[str], bad: list[tuple[str, str]]) -> str:
    table = "".join(
        "<tr>"
        + "".join(
            f"<td>{html_text(c)}</td>"
            for c in (
                e.hardware,
                e.target,
                fmt(e.baseline_tps, ".2f"),
                e.best.draft if e.best else "none",
                recommend.speedup_text(e.best) if e.best else "",
                fmt(e.best.acceptance_rate if e.best else None, ".0%"),
                e.category or "",
                e.disagrees and f"disagrees: {e.disagrees}",
                e.source,
            )
        )
        + "</tr>"
        for e in rows
    )
    derived = "".join(f"<li>{html_text(compare.bucket_line(b))}</li>" for b in compare.choosing_table(rows))
    broken = "".join(f"<li>{html_text(p)}: {html_text(why)}</li>" for p, why in bad)
    return _PAGE.format(
        title="draftbench: compared",
        plotly_url=PLOTLY_URL,
        plotly_sri=PLOTLY_SRI,
        data=embed_json(charts(rows)),
        table=table,
        derived=derived or "<li>No file has a target with a baseline and a drafted run.</li>",
        files="".join(f"<li>{html_text(f)}</li>" for f in files),
        broken=f'<h2>Files left out</h2><ul id="broken">{broken}</ul>' if broken else "",
    )


def write(path: str, rows: list[compare.Entry], files: list[str], bad: list[tuple[str, str]]) -> str:
    write_text_atomic(path, render(rows, files, bad), "--chart")
    return path


def markdown(rows: list[compare.Entry]) -> str:
    out = [
        "### draftbench: compared",
        "",
        "| Hardware | Target | Baseline tok/s | Best setup | Speedup | Acceptance |",
        "|---|---|---:|---|---:|---:|",
    ]
    for e in rows:
        out.append(
            f"| {md_cell(e.hardware)} | {md_cell(e.target)} | {fmt(e.baseline_tps, '.2f')} | "
            f"{md_cell(e.best.draft) if e.best else 'none'}"
            f"{' (disagrees)' if e.disagrees else ''} | {recommend.speedup_text(e.best) if e.best else ''} | "
            f"{fmt(e.best.acceptance_rate if e.best else None, '.0%')} |"
        )
    out += ["", "Choosing a draft (derived from these files):", ""]
    out += [f"- {md_cell(compare.bucket_line(b))}" for b in compare.choosing_table(rows)]
    return "\n".join(out) + "\n"


def to_csv(rows: list[compare.Entry]) -> str:
    buf = io.StringIO()
    data = compare.table_rows(rows)
    writer = csv.DictWriter(buf, fieldnames=list(data[0]) if data else ["hardware"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in data)
    return buf.getvalue()


_PAGE = page.template("compare.html")
