"""The report's view of a search (adaptive or model): every setup's speedup with its interval, the setups the
search stopped early greyed and hatched, those only predicted (the model search) dotted with their predicted
interval, the predictions checked against measurements, and a sentence counting them and what they saved."""

from __future__ import annotations

from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..results import predict, recommend, savings
from ..results.schema import RunResult
from . import page

STOPPED = "#bdbdbd"
PREDICTED = "#9ecae1"


def searched(runs: list[RunResult]) -> bool:
    return any(r.pruned for r in runs)


def _hover(r: RunResult) -> str:
    if r.pruned_as == "predicted":
        return f"{r.draft}: NOT MEASURED<br>{r.pruned_reason}"
    text = f"{r.draft}: {recommend.speedup_text(r)}<br>{r.n_requests or 0} requests"
    had = predict.saved(r)
    if had is not None:
        text += f"<br>{had.text()}: {'missed' if had.misses(r.speedup_ratio()) else 'held'}"
    if r.pruned:
        text += f"<br>stopped early: {r.pruned_reason}"
    return text


def chart(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Two bar traces per target (measured in full, stopped early), setups sorted by speedup."""
    traces = []
    targets = list(dict.fromkeys(r.target for r in runs))
    for t in targets:
        mine = sorted(
            (r for r in runs if r.target == t and r.draft is not None and r.error is None and _shown(r) is not None),
            key=lambda r: _shown(r) or 0.0,
            reverse=True,
        )
        for kind, name, color in (
            ("full", "measured in full", page.GREEN),
            ("stopped", "stopped early", STOPPED),
            ("predicted", "predicted, not measured", PREDICTED),
        ):
            part = [r for r in mine if _kind(r) == kind]
            if not part:
                continue
            trace: dict[str, Any] = {
                "type": "bar",
                "name": name + (f" ({t})" if len(targets) > 1 else ""),
                "x": [f"{r.draft}" + (f" [{t}]" if len(targets) > 1 else "") for r in part],
                "y": [page.pct_value(_shown(r) or 1.0) for r in part],
                "text": [("predicted " if kind == "predicted" else "") + stats.pct(_shown(r)) for r in part],
                "textposition": "outside",
                "cliponaxis": False,
                "hovertext": [_hover(r) for r in part],
                "hoverinfo": "text",
                "marker": {"color": color, "line": {"color": "#555", "width": 1}},
            }
            if kind != "full":
                trace["marker"]["pattern"] = {"shape": "/" if kind == "stopped" else ".", "fgcolor": "#777", "size": 6}
            errs = [
                page.speedup_errors(r) if kind != "predicted" else page.interval_errors(r.predicted_speedup, r.predicted_ci95)
                for r in part
            ]
            if any(errs):
                trace["error_y"] = {**page.error_y(errs), "color": "#444"}
            traces.append(trace)
    return traces


def _kind(r: RunResult) -> str:
    return "predicted" if r.pruned_as == "predicted" else "stopped" if r.pruned else "full"


def _shown(r: RunResult) -> float | None:
    """The bar's value: the measured speedup, or the prediction of a setup never measured."""
    return r.predicted_speedup if r.pruned_as == "predicted" else r.speedup


def checks(runs: list[RunResult]) -> str:
    """The predictions the model search checked: each measured setup that had one, held or missed."""
    rows = []
    for r in runs:
        had = predict.saved(r)
        if had is None or not r.requests:
            continue
        cells = [
            r.target,
            r.draft or "",
            had.text(),
            recommend.speedup_text(r),
            "MISSED: the draft's other lengths were measured" if had.misses(r.speedup_ratio()) else "held",
        ]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    return (
        '<table id="predictions"><tr><th>Target</th><th>Setup</th><th>Prediction</th><th>Measured</th>'
        "<th>Check</th></tr>" + "".join(rows) + "</table>"
    )


def sentence(runs: list[RunResult], saved: savings.SearchSavings | None) -> str:
    if saved is None:
        stopped = sum(r.pruned for r in runs)
        return f"{stopped} of {sum(r.draft is not None for r in runs)} setups stopped early."
    return saved.sentence()[0].upper() + saved.sentence()[1:] + "."


def section(runs: list[RunResult], saved: savings.SearchSavings | None) -> str:
    """The report's 'Adaptive search' section (empty when nothing stopped early)."""
    if not searched(runs):
        return ""
    rows = "".join(
        f"<tr><td>{html_text(r.target)}</td><td>{html_text(r.draft)}</td><td>{r.n_requests or 0}</td>"
        f"<td>{html_text(r.pruned_reason or '')}</td></tr>"
        for r in runs
        if r.pruned
    )
    model = any(r.pruned_as == "predicted" or r.predicted_speedup is not None for r in runs)
    return (
        f"<h2>{'Model search: predicted, then verified' if model else 'Adaptive search'}</h2>\n"
        f'<p id="search-summary">{html_text(sentence(runs, saved))} Grey hatched bars were stopped early: their '
        "numbers cover fewer requests, and a tie is never a win (in the heatmap their values are in parentheses). "
        + (
            "Blue dotted bars were never measured: their value and interval are the cost model's prediction, "
            "which could not beat the measured leader; only measured setups are recommended. "
            if model
            else ""
        )
        + "Error bars: 95% intervals of the speedup.</p>\n"
        '<div id="setups" class="chart"></div>\n'
        '<table id="stopped"><tr><th>Target</th><th>Setup</th><th>Requests</th><th>Why it stopped</th></tr>'
        f"{rows}</table>" + checks(runs)
    )
