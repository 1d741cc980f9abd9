"""vLLM's Prometheus ``/metrics``: its spec-decode and engine counters, differenced around a run, and what its engine
did meanwhile (steps, the scheduler's batch, preemptions, prefix-cache hits, queue time)."""

from __future__ import annotations

import math
import re

from ..records.engine import Counters

PREFIX = "vllm:"
_COUNTERS = {  # a /metrics sample's name, after "vllm:" -> the Counters field it adds to
    "spec_decode_num_drafts_total": "drafts",
    "spec_decode_num_draft_tokens_total": "draft_tokens",
    "spec_decode_num_accepted_tokens_total": "accepted_tokens",
    "iteration_tokens_total_count": "steps",
    "num_preemptions_total": "preemptions",
    "prefix_cache_hits_total": "prefix_cache_hits",
    "request_queue_time_seconds_sum": "queue_s",
    "request_queue_time_seconds_count": "queued",
}
PER_POSITION = "spec_decode_num_accepted_tokens_per_pos_total"
_METRIC_RE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)\s*$")
_POSITION_RE = re.compile(r'position="(\d+)"')


MAX_POSITIONS = 1_024  # draft positions read from labels (the longest draft a setup may have)


def _count(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_metrics(text: str) -> Counters | None:
    """vLLM's counters on a Prometheus /metrics page (None: none of them, not a vLLM server)."""
    totals: dict[str, float] = {}
    per_pos: dict[int, float] = {}
    for line in text.splitlines():
        m = _METRIC_RE.match(line.strip())
        if not m or not m.group(1).startswith(PREFIX):
            continue
        name, value = m.group(1)[len(PREFIX) :], _count(m.group(3))
        if value is None:  # '1.2.3', NaN, a negative count: not a counter's value, left out
            continue
        pos = _POSITION_RE.search(m.group(2) or "") if name == PER_POSITION else None
        if pos and int(pos.group(1)) >= MAX_POSITIONS:  # no draft is this long: a label no vLLM writes
            continue
        if pos:
            per_pos[int(pos.group(1))] = per_pos.get(int(pos.group(1)), 0.0) + value
        elif name in _COUNTERS:
            totals[_COUNTERS[name]] = totals.get(_COUNTERS[name], 0.0) + value
    if not totals:
        return None
    return Counters(
        **totals,
        speculating="draft_tokens" in totals,
        accepted_per_pos=tuple(per_pos.get(i, 0.0) for i in range(max(per_pos, default=-1) + 1)),
    )
