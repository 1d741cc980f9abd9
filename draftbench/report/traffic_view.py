"""The report's request-rate view: goodput against the request rate per setup (the latency targets in the chart's
title), TTFT and time-per-token percentiles against the rate, where each answer holds, the table with every
figure's bootstrap interval, and acceptance per server slot. It computes no figure of its own
(results/traffic.py does)."""

from __future__ import annotations

from typing import Any

from ..core import stats
from ..core.redaction import html_text
from ..records.traffic import Percentiles
from ..results.schema import RunResult
from ..results.traffic import slo_text
from ..setup.levels import rate_words
from . import page

NOTE = (
    "Requests arrive at each rate whether or not earlier ones have finished (Poisson arrivals, or constant gaps, "
    "drawn from the sweep's seed: the baseline and every setup get the same arrival times and prompts). Goodput is "
    "the requests that met every latency target per second of the run; a setup's goodput is compared with the "
    "baseline's at the same rate request by request. Intervals: bootstrap by request, 1,000 resamples."
)


def _runs(runs: list[RunResult]) -> list[RunResult]:
    return sorted(
        (r for r in runs if r.traffic is not None and r.error is None), key=lambda r: (r.target, r.draft or "", r.level.sort_key)
    )


def _lines(runs: list[RunResult]) -> dict[tuple[str, str | None], list[RunResult]]:
    out: dict[tuple[str, str | None], list[RunResult]] = {}
    for r in _runs(runs):
        out.setdefault((r.target, r.draft), []).append(r)
    return out


def charts(runs: list[RunResult]) -> dict[str, list[dict[str, Any]]]:
    """'goodput' (req/s within the targets, with intervals) and 'ttft' (p95 seconds) against the rate, a line per
    setup (the baseline dashed); empty lists for a sweep without rates."""
    goodput, ttft = [], []
    lines = _lines(runs)
    several = len({target for target, _ in lines}) > 1
    for i, ((target, draft), line) in enumerate(lines.items()):
        name = f"{target} + " * several + (draft or "baseline (no draft)")
        style = (
            {"line": {"color": page.PALETTE[i % len(page.PALETTE)]}} if draft else {"line": {"color": page.GREY, "dash": "dash"}}
        )
        x = [rate_words(r.request_rate or 0.0) for r in line]
        scores = [r.traffic for r in line if r.traffic is not None]
        goodput.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": x,
                "y": [s.goodput_rps for s in scores],
                "error_y": page.error_y(
                    [
                        [s.goodput_ci95[1] - (s.goodput_rps or 0), (s.goodput_rps or 0) - s.goodput_ci95[0]]
                        if s.goodput_ci95
                        else None
                        for s in scores
                    ]
                ),
                "hovertext": [f"{name} @ {w}: {_goodput(s)}" for w, s in zip(x, scores)],
                "hoverinfo": "text",
                **style,
            }
        )
        ttft.append(
            {"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": [s.ttft_s.p95 for s in scores], **style}
        )
    return {"goodput": goodput, "ttft": ttft}


def _goodput(s: Any) -> str:
    ci = f" (95% CI {s.goodput_ci95[0]:.2f} .. {s.goodput_ci95[1]:.2f})" if s.goodput_ci95 else ""
    return f"{page.fmt(s.goodput_rps, '.2f', '?')} req/s within the targets{ci}"


def _p(p: Percentiles) -> str:
    return " / ".join(page.fmt(v, ".3f", "?") for v in (p.p50, p.p95, p.p99))


def section(runs: list[RunResult], slo: dict[str, float], rate_lines: list[str]) -> str:
    """The view ('' for a sweep without request rates)."""
    mine = _runs(runs)
    if not mine:
        return ""
    rows = []
    for r in mine:
        s = r.traffic
        assert s is not None
        ratio = s.ratio()
        cells = [
            r.target,
            r.draft or "baseline",
            rate_words(s.rate),
            str(s.n_requests),
            page.fmt(s.sent_rate, ".2f") + (f" ({s.late_requests} late)" if s.late_requests else ""),
            _goodput(s),
            stats.ratio_text(ratio) if ratio else "",
            page.fmt(s.throughput_rps, ".2f"),
            page.fmt(s.met_share, ".0%"),
            "" if s.slo_met is None else ("yes" if s.slo_met else "no"),
            _p(s.ttft_s),
            _p(s.tpot_s),
            _p(s.e2e_s),
        ]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    slots = [
        f"{r.draft} @ {rate_words(r.request_rate or 0)}: "
        + "; ".join(
            f"slot {s.slot} {page.fmt(s.acceptance_rate, '.0%', 'n/a')} of {s.drafted} drafted ({s.requests} requests)"
            for s in r.slots
        )
        for r in mine
        if r.slots and len(r.slots) > 1
    ]
    return (
        f"<h2>Request rates: goodput within {html_text(slo_text(slo))}</h2>\n"
        f'<p class="note">{NOTE}</p>\n'
        + (f'<ul id="by-rate">{"".join(f"<li>{html_text(x)}</li>" for x in rate_lines)}</ul>\n' if rate_lines else "")
        + '<div id="rate-goodput" class="chart"></div>\n<div id="rate-ttft" class="chart"></div>\n'
        + '<table id="rates"><tr><th>Target</th><th>Setup</th><th>Rate</th><th>n</th><th>Sent req/s</th><th>Goodput</th>'
        "<th>Goodput vs baseline</th><th>Throughput req/s</th><th>Met targets</th><th>Targets met at the percentile</th>"
        "<th>TTFT p50 / p95 / p99 (s)</th><th>TPOT p50 / p95 / p99 (s)</th><th>End to end p50 / p95 / p99 (s)</th></tr>"
        + "".join(rows)
        + "</table>\n"
        + (
            f'<h3>Acceptance per server slot</h3><ul id="slots">{"".join(f"<li>{html_text(x)}</li>" for x in slots)}</ul>'
            if slots
            else ""
        )
    )
