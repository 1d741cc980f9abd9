"""The report's conversation view, for a replayed conversation workload: each setup's turn latency by turn index
(the wait a user has: time to first token plus the time to the last), its speedups of turn latency and of decode
against the baseline on the same turns, the first-token time it adds and what the server reused from its cache.
It computes no figure of its own (results/conversations.py does)."""

from __future__ import annotations

from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..results.schema import RunResult
from . import page

NOTE = (
    "Each conversation runs turn by turn in one slot, each turn sending the conversation so far with the prompt "
    "cache on, as a chat client does; a conversation's first turn is sent with the cache off, so it never profits "
    "from an earlier conversation. Turn latency is the time from sending a turn to its last token: the prefill of "
    "what is new in the turn, then the decode. Speedups are against the baseline on the same conversation and "
    "turn (paired); 'TTFT added' is the median of the setup's time to first token minus the baseline's on the "
    "same turn: the prefill a setup adds (a draft model prefills each turn's new tokens too)."
)


def _runs(runs: list[RunResult]) -> list[RunResult]:
    return [r for r in runs if r.turns is not None and r.error is None]


def chart(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Median turn latency (s) by turn index, one line per setup (the baseline dashed)."""
    out = []
    for i, r in enumerate(_runs(runs)):
        assert r.turns is not None
        spans = r.turns.spans[:-1]
        name = r.draft or "baseline (no draft)"
        color = (
            {"line": {"color": page.PALETTE[i % len(page.PALETTE)]}}
            if r.draft
            else {"line": {"color": page.GREY, "dash": "dash"}}
        )
        out.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": [f"turn {s.turns}" for s in spans],
                "y": [None if s.latency_s is None else round(s.latency_s, 3) for s in spans],
                "hovertext": [
                    f"{name}, turn {s.turns}: median wait {page.fmt(s.latency_s, '.2f', '?')} s over {s.n_turns} turns"
                    + (f"; turn latency {stats.pct(s.latency_speedup)} vs baseline" if s.latency_speedup else "")
                    for s in spans
                ],
                "hoverinfo": "text",
                **color,
            }
        )
    return out


def _ratio(value: float | None, ci: list[float] | None, n: int | None) -> str:
    if value is None:
        return ""
    return stats.ratio_text(stats.Ratio(value, (ci[0], ci[1]) if ci else None, n or 0, True))


def section(runs: list[RunResult], workload: str | None) -> str:
    """The view ('' for a sweep of one-shot requests)."""
    mine = _runs(runs)
    if not mine:
        return ""
    rows = []
    for r in mine:
        assert r.turns is not None
        for s in r.turns.spans:
            cells = [
                r.target,
                r.draft or "baseline",
                s.turns,
                str(s.n_turns),
                page.fmt(s.latency_s, ".2f"),
                _ratio(s.latency_speedup, s.latency_ci95, s.pairs),
                _ratio(s.decode_speedup, s.decode_ci95, s.pairs),
                "" if s.extra_ttft_s is None else f"{s.extra_ttft_s * 1000:+.0f}",
                page.fmt(s.cached_share, ".0%"),
            ]
            rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    verdicts = "".join(f"<li>{html_text(f'{r.draft}: {r.turns.verdict}')}</li>" for r in mine if r.turns and r.turns.verdict)
    return (
        "<h2>Conversations: the wait for each turn</h2>\n"
        + (f'<p id="workload">{html_text(workload)}</p>\n' if workload else "")
        + f'<p class="note">{NOTE}</p>\n'
        + (f'<ul id="turn-verdicts">{verdicts}</ul>\n' if verdicts else "")
        + '<div id="turns" class="chart"></div>\n'
        + '<table id="turns-table"><tr><th>Target</th><th>Setup</th><th>Turns</th><th>n</th><th>Median wait (s)</th>'
        "<th>Turn latency vs baseline</th><th>Decode vs baseline</th><th>TTFT added (ms)</th><th>Prompt from cache</th></tr>"
        + "".join(rows)
        + "</table>"
    )
