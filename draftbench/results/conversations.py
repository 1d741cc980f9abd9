"""A conversation workload scored by what a user waits for: each turn's latency (time to first token plus the time
to the last token: the prefill of what is new in the turn, then the decode) and decode speed, against the baseline
on the same conversation and turn (paired), by turn index and over the conversations. Turn latency is not
corrected for baseline drift (decode speedups are: see drift.py). Pure: runs in, a :class:`TurnScores` out."""

from __future__ import annotations

import statistics
from typing import Callable

from ..core import stats
from ..core.stats import Keyed, pct
from ..records.requests import RequestResult
from ..records.turns import TurnScores, TurnSpan
from .schema import RunResult

ALL = 10**9  # no conversation has more turns
SPANS = (("1", 1, 1), ("2-4", 2, 4), ("5+", 5, ALL))


def is_conversation(run: RunResult) -> bool:
    return any(q.turn is not None for q in run.requests)


def turns(requests: list[RequestResult], low: int = 1, high: int = ALL) -> dict[str, RequestResult]:
    """The turns from ``low`` to ``high`` by conversation and turn: a conversation measured twice in a run is told
    apart by how often it came before."""
    seen: dict[str, int] = {}
    out = {}
    for q in requests:
        n = seen[q.prompt_id] = seen.get(q.prompt_id, -1) + 1
        if q.turn is not None and low <= q.turn <= high:
            out[f"{n}:{q.prompt_id}"] = q
    return out


def _keyed(turns: dict[str, RequestResult], value: Callable[[RequestResult], float | None]) -> Keyed:
    return [(k, None if q.error else value(q)) for k, q in turns.items()]


def _wait_rate(q: RequestResult) -> float | None:
    """One over the turn's latency: higher is better, as a speed is (so a ratio of two is the wait's speedup)."""
    return 1.0 / q.total_s if q.total_s else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _span(name: str, low: int, high: int, run: RunResult, base: RunResult | None) -> TurnSpan | None:
    mine = turns(run.requests, low, high)
    ok = [q for q in mine.values() if q.ok]
    if not ok:
        return None
    theirs = turns(base.requests, low, high) if base is not None else {}
    latency = stats.paired_ratio(_keyed(mine, _wait_rate), _keyed(theirs, _wait_rate)) if base else None
    decode = stats.paired_ratio(_keyed(mine, lambda q: q.decode_tps), _keyed(theirs, lambda q: q.decode_tps)) if base else None
    both = [(q, theirs[k]) for k, q in mine.items() if q.ok and k in theirs and theirs[k].ok]
    extra = [q.ttft_s - t.ttft_s for q, t in both if q.ttft_s is not None and t.ttft_s is not None]
    counted = [q for q in ok if q.cached_tokens is not None and q.prompt_tokens]
    prompt = sum(q.prompt_tokens or 0 for q in counted)
    return TurnSpan(
        name,
        len(ok),
        latency_s=_median([q.total_s for q in ok]),
        baseline_latency_s=_median([t.total_s for _, t in both]) if base else None,
        latency_speedup=latency.value if latency else None,
        latency_ci95=list(latency.ci95) if latency and latency.ci95 else None,
        decode_speedup=decode.value if decode else None,
        decode_ci95=list(decode.ci95) if decode and decode.ci95 else None,
        pairs=latency.n if latency else None,
        extra_ttft_s=_median(list(extra)) if base else None,
        cached_share=sum(q.cached_tokens or 0 for q in counted) / prompt if prompt else None,
    )


def versus(a: RunResult, b: RunResult) -> stats.Ratio | None:
    """Setup ``a``'s turn latency against setup ``b``'s (b's wait over a's), paired by conversation and turn."""
    return stats.paired_ratio(_keyed(turns(a.requests), _wait_rate), _keyed(turns(b.requests), _wait_rate))


def scores(run: RunResult, base: RunResult | None) -> TurnScores | None:
    """``run``'s turns (against ``base``, its baseline, for a setup; alone for the baseline); None for a run of
    one-shot requests."""
    if not is_conversation(run):
        return None
    spans = [s for name, low, high in SPANS if (s := _span(name, low, high, run, base)) is not None]
    overall = _span("all", 1, ALL, run, base)
    if overall is None:
        return None
    uncached = sum(1 for q in run.requests if q.ok and (q.turn or 0) > 1 and q.cached_tokens == 0)
    return TurnScores([*spans, overall], uncached, verdict(overall))


def verdict(span: TurnSpan) -> str | None:
    """Where decode and turn latency disagree, in words; None where they agree (or are not known)."""
    decode, wait = span.decode_speedup, span.latency_speedup
    if decode is None or wait is None or (decode > 1.0) == (wait > 1.0):
        return None
    if decode > 1.0:
        why = (
            f"the setup adds {span.extra_ttft_s * 1000:.0f} ms of prefill to each turn's first token, more than its "
            "decode saves (a draft model prefills every turn's new tokens as well)"
            if span.extra_ttft_s and span.extra_ttft_s > 0
            else "its decode gain is lost before or after decoding"
        )
        return f"faster decode ({pct(decode)}), slower turns ({pct(wait)}): {why}"
    return f"slower decode ({pct(decode)}), shorter turns ({pct(wait)}): its prefill of each turn is faster"


def workload_line(runs: list[RunResult]) -> str | None:
    """What the sweep measured, said once: its conversations and how they were sent (None: one-shot requests)."""
    base = next((r for r in runs if r.draft is None and r.turns is not None), None)
    if base is None:
        return None
    chats = list(dict.fromkeys(q.conversation for q in base.requests if q.conversation))
    recorded = len({q.conversation for q in base.requests if q.history == "recorded"})
    own = len({q.conversation for q in base.requests if q.history == "own"})
    later = next((s for s in base.turns.spans if s.turns == "2-4"), None) if base.turns else None
    reused = (
        f"; the baseline took {later.cached_share:.0%} of turns 2-4's prompt tokens from its cache"
        if later and later.cached_share is not None
        else ""
    )
    return (
        f"Workload: {len(chats)} conversations replayed turn by turn with the prompt cache on ({len(base.requests)} turns; "
        f"earlier answers sent: recorded in {recorded}, the model's own in {own}): setups ranked by turn latency, the "
        f"wait for each turn{reused}"
    )


def turns_text(run: RunResult) -> str:
    """'turn latency +12% (95% CI ...), decode +40%' for a replayed conversation workload ('' otherwise), with
    where the two disagree."""
    wait = run.turns.overall.latency_ratio() if run.turns is not None else None
    if wait is None or run.turns is None:
        return ""
    text = f"turn latency {stats.ratio_text(wait)}, decode {pct(run.turns.overall.decode_speedup)}"
    return text + (f" ({run.turns.verdict})" if run.turns.verdict else "")
