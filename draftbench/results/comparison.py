"""One comparison of two runs: a setup against its baseline or against another setup, on the requests both
measured (matched by prompt and position in the schedule). The statistic itself is :func:`stats.compare`;
this module only reads runs. Pure: runs in, a :class:`stats.Ratio` out."""

from __future__ import annotations

from typing import Any

from ..core.stats import Keyed, Ratio, compare, paired_ratio
from ..records.requests import RequestResult
from .schema import RunResult


def keyed(run: RunResult | list[RequestResult], category: str | None = None) -> Keyed:
    """(prompt id, decode tok/s) per request of a run (or a list of requests) in schedule order, None where it
    failed; only ``category``'s requests when given (their positions stay those of the whole schedule)."""
    requests = run if isinstance(run, list) else run.requests
    return [
        (f"{i}:{q.prompt_id}", None if q.error else q.decode_tps)
        for i, q in enumerate(requests)
        if category is None or q.category == category
    ]


def versus(run: RunResult, ref: RunResult, category: str | None = None) -> Ratio | None:
    """``run``'s decode speed over ``ref``'s: paired on their requests; for files that kept no requests (the
    original tool's), the ratio of the two mean tok/s, unpaired and without an interval."""
    if run.requests and ref.requests:
        return compare(keyed(run, category), keyed(ref, category))
    if category is None and run.mean_tps and ref.mean_tps:
        return Ratio(run.mean_tps / ref.mean_tps, None, min(run.n_requests or 0, ref.n_requests or 0), False)
    return None


def speedup_fields(ratio: Ratio | None) -> dict[str, Any]:
    """The speedup fields of a run (or of one of its categories) from one comparison with its baseline."""
    if ratio is None:
        return {}
    return {
        "speedup": ratio.value,
        "speedup_n": ratio.n,
        "speedup_design": ratio.design,
        "speedup_ci95": list(ratio.ci95) if ratio.ci95 else None,
    }


def speedups(run: RunResult, base: RunResult) -> Keyed:
    """Per request: (prompt, its speedup over ``base`` on the same prompt), for comparing two speedups."""
    theirs = dict(keyed(base))
    return [(k, (v / there) if v and (there := theirs.get(k)) else None) for k, v in keyed(run)]


def versus_speedup(a: tuple[RunResult, RunResult], b: tuple[RunResult, RunResult]) -> Ratio | None:
    """Setup a's speedup over its baseline against setup b's over its own (e.g. the same target in two files):
    paired on the prompts both measured, else None (the caller compares intervals, unpaired)."""
    ratio = paired_ratio(speedups(*a), speedups(*b))
    return ratio if ratio is not None and ratio.n >= 2 else None
