"""The report's first screen: per target, the answer (the setup to use, its speedup with its interval, what it
costs in memory, and what to copy: llama-server's flags or vLLM's command, and a serving schedule where levels
were measured), with anything that weakens it as a banner above. The long sentence is in the headline's hover."""

from __future__ import annotations

from ..core import stats
from ..core.redaction import html_text
from ..results import grouping, recommend
from ..results.evaluate import Evaluation
from ..results.recommend import Recommendation


def _banners(rec: Recommendation) -> list[str]:
    return [w for w in (rec.machine(), rec.warning(), rec.budget_text()) if w]


def _card(rec: Recommendation, schedule_lines: list[str]) -> str:
    use, where = rec.use(), rec.where
    banners = "".join(f'<div class="banner">{html_text(b)}</div>' for b in _banners(rec))
    if use is not None:
        ratio = grouping.ranked_ratio(use)  # a conversation workload's: the wait for a turn
        interval = stats.interval_text(ratio) if ratio is not None and ratio.ci95 else "no interval"
        if use.traffic is not None and use.traffic.goodput_ratio is not None:
            interval = f"goodput {interval}; decode {stats.pct(use.speedup)}"
        elif use.turns is not None:
            interval = f"turn latency {interval}; decode {stats.pct(use.turns.overall.decode_speedup)}"
        memory = (
            f"{stats.mib(use.extra_memory_mib)} MiB of memory over the baseline"
            if use.extra_memory_mib is not None
            else "memory not measured"
        )
        head = f"Use {use.draft}: {stats.pct(grouping.gain(use))}"
        facts = (
            f"{use.mean_tps or 0:.1f} tok/s against {rec.baseline.mean_tps or 0:.1f} without speculation ({interval}); {memory}"
            if rec.baseline is not None
            else interval
        )
        copy = recommend.copy_text(use)
        body = f'<p class="facts">{html_text(facts)}</p>' + (
            f'<pre class="copy"><code>{html_text(copy)}</code></pre>' if copy else ""
        )
    else:
        head = "Skip speculative decoding"
        body = f'<p class="facts">{html_text(rec.withheld() or rec.sentence().split(": ", 1)[-1])}</p>'
        fixes = rec.baseline.server_fixes if rec.baseline is not None else None
        body += f'<pre class="copy"><code>{html_text(" ".join(fixes))}</code></pre>' if fixes else ""
    if rec.fixes_text() and (use is not None or rec.withheld()):  # else the sentence above says it already
        body += f'<p class="note">{html_text(rec.fixes_text())}</p>'
    schedule = (
        '<details open><summary>Serving schedule</summary><pre class="copy"><code>'
        + "\n".join(html_text(line) for line in schedule_lines)
        + "</code></pre></details>"
        if schedule_lines
        else ""
    )
    return (
        f'<div class="answer">{banners}<h2 title="{html_text(rec.sentence())}">{html_text(where)}: '
        f"{html_text(head)}</h2>{body}{schedule}</div>"
    )


def section(ev: Evaluation) -> str:
    """One card per target, at its lowest level (the levels' answers are in the details below)."""
    lowest: dict[str, Recommendation] = {}
    for rec in ev.recommendations:
        lowest.setdefault(rec.target, rec)
    schedules = {s.target: s.lines() for s in ev.schedules}
    cards = "".join(_card(rec, schedules.get(target, [])) for target, rec in lowest.items())
    return f'<section id="answer">{cards}</section>'
