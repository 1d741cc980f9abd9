"""The report's view of an adaptive search: every setup's speedup with its interval, the setups the
search stopped early greyed and hatched, and a sentence counting them and what they saved."""

from __future__ import annotations

from typing import Any

from ..core.redaction import html_text
from ..core import stats
from ..results import recommend, savings
from ..results.schema import RunResult
from . import page

STOPPED = "#bdbdbd"


def searched(runs: list[RunResult]) -> bool:
    return any(r.pruned for r in runs)


def _hover(r: RunResult) -> str:
    text = f"{r.draft}: {recommend.speedup_text(r)}<br>{r.n_requests or 0} requests"
    if r.pruned:
        text += f"<br>stopped early: {r.pruned_reason}"
    return text


def chart(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Two bar traces per target (measured in full, stopped early), setups sorted by speedup."""
    traces = []
    targets = list(dict.fromkeys(r.target for r in runs))
    for t in targets:
        mine = sorted((r for r in runs if r.target == t and r.draft is not None and r.error is None
                       and r.speedup is not None), key=lambda r: r.speedup or 0.0, reverse=True)
        for pruned, name, color in ((False, "measured in full", page.GREEN), (True, "stopped early", STOPPED)):
            part = [r for r in mine if r.pruned == pruned]
            if not part:
                continue
            trace: dict[str, Any] = {
                "type": "bar", "name": name + (f" ({t})" if len(targets) > 1 else ""),
                "x": [f"{r.draft}" + (f" [{t}]" if len(targets) > 1 else "") for r in part],
                "y": [page.pct_value(r.speedup or 1.0) for r in part],
                "text": [stats.pct(r.speedup) for r in part], "textposition": "outside", "cliponaxis": False,
                "hovertext": [_hover(r) for r in part], "hoverinfo": "text",
                "marker": {"color": color, "line": {"color": "#555", "width": 1}}}
            if pruned:
                trace["marker"]["pattern"] = {"shape": "/", "fgcolor": "#777", "size": 6}
            errs = [page.speedup_errors(r) for r in part]
            if any(errs):
                trace["error_y"] = {**page.error_y(errs), "color": "#444"}
            traces.append(trace)
    return traces


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
        f"<td>{html_text(r.pruned_reason or '')}</td></tr>" for r in runs if r.pruned)
    return ('<h2>Adaptive search</h2>\n'
            f'<p id="search-summary">{html_text(sentence(runs, saved))} Grey hatched bars were stopped early: their '
            'numbers cover fewer requests, and a tie is never a win (in the heatmap their values are in parentheses). Error bars: 95% intervals of the speedup.</p>\n'
            '<div id="setups" class="chart"></div>\n'
            '<table id="stopped"><tr><th>Target</th><th>Setup</th><th>Requests</th><th>Why it stopped</th></tr>'
            f'{rows}</table>')
