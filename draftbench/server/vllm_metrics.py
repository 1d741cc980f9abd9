"""vLLM's Prometheus ``/metrics``: its spec-decode and engine counters, differenced around a run, and what its engine
did meanwhile (steps, the scheduler's batch, preemptions, prefix-cache hits, queue time)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from ..core.records import from_saved


@dataclass(frozen=True)
class Counters:
    """vLLM's counters on /metrics (summed over engines), cumulative: spec decode's (``drafts``, verifications that
    had drafts; drafted and accepted tokens; accepted tokens at each draft position; ``speculating``: the server
    reports them) and the engine's (steps, preempted requests, prompt tokens served from the prefix cache, time
    requests queued for a slot)."""

    drafts: float = 0.0
    draft_tokens: float = 0.0
    accepted_tokens: float = 0.0
    accepted_per_pos: tuple[float, ...] = ()
    speculating: bool = False
    steps: float = 0.0
    preemptions: float = 0.0
    prefix_cache_hits: float = 0.0
    queue_s: float = 0.0
    queued: float = 0.0

    def minus(self, before: "Counters") -> "Counters":
        """What happened between ``before`` and these."""
        return self._with(before, -1.0)

    def plus(self, other: "Counters") -> "Counters":
        """Two runs' counts (blocks of one run), added."""
        return self._with(other, 1.0)

    def _with(self, other: "Counters", sign: float) -> "Counters":
        numbers = {f.name: getattr(self, f.name) + sign * getattr(other, f.name) for f in fields(self)
                   if f.name not in ("accepted_per_pos", "speculating")}
        mine, theirs = self.accepted_per_pos, other.accepted_per_pos
        width = max(len(mine), len(theirs))
        per_pos = tuple((mine[i] if i < len(mine) else 0.0) + sign * (theirs[i] if i < len(theirs) else 0.0)
                        for i in range(width))
        return Counters(**numbers, speculating=self.speculating or other.speculating, accepted_per_pos=per_pos)


@dataclass(frozen=True)
class EngineStats:
    """What vLLM's engine did while a run's requests were measured, from its counters: engine steps, the mean
    number of sequences in a step (the scheduler's batch: each sequence yields tokens_per_pass tokens a step, so
    generated / (steps x tokens_per_pass); prefill steps count as steps too), preempted requests (its KV cache
    was full: their work was redone), prompt tokens served from the prefix cache (none when draftbench starts
    the server), and the mean time a request waited for a slot."""

    steps: int
    mean_batch: float | None
    preemptions: int
    prefix_cache_hit_tokens: int
    mean_queue_s: float | None

    @classmethod
    def of(cls, delta: Counters, generated: int, tokens_per_pass: float | None) -> "EngineStats | None":
        if delta.steps <= 0:
            return None
        batch = generated / (delta.steps * (tokens_per_pass or 1.0)) if generated else None
        return cls(int(delta.steps), round(batch, 2) if batch else None, int(delta.preemptions),
                   int(delta.prefix_cache_hits), round(delta.queue_s / delta.queued, 4) if delta.queued else None)

    @classmethod
    def from_dict(cls, data: object) -> "EngineStats | None":
        return from_saved(cls, data)

    def warnings(self, concurrency: int) -> list[str]:
        """What in these figures makes a speedup mean less, and what to do about it."""
        out = []
        if self.preemptions:
            out.append(f"vLLM preempted {self.preemptions} request(s): its KV cache was full and their work was "
                       "redone; give it more (--gpu-memory-utilization, or VLLM_CPU_KVCACHE_SPACE on a CPU), or "
                       "lower ctx_size")
        if self.prefix_cache_hit_tokens:
            out.append(f"{self.prefix_cache_hit_tokens} prompt tokens came from vLLM's prefix cache: those requests "
                       "reused an earlier one's prefill; drop --enable-prefix-caching from extra_args")
        if concurrency > 1 and self.mean_batch is not None and self.mean_batch < 0.75 * concurrency:
            out.append(f"vLLM ran {self.mean_batch:.1f} sequences per step on average at {concurrency} streams: "
                       "the level was not batched as asked (requests queued, or finished at different times)")
        return out


PREFIX = "vllm:"
_COUNTERS = {  # a /metrics sample's name, after "vllm:" -> the Counters field it adds to
    "spec_decode_num_drafts_total": "drafts", "spec_decode_num_draft_tokens_total": "draft_tokens",
    "spec_decode_num_accepted_tokens_total": "accepted_tokens", "iteration_tokens_total_count": "steps",
    "num_preemptions_total": "preemptions", "prefix_cache_hits_total": "prefix_cache_hits",
    "request_queue_time_seconds_sum": "queue_s", "request_queue_time_seconds_count": "queued"}
PER_POSITION = "spec_decode_num_accepted_tokens_per_pos_total"
_METRIC_RE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)\s*$")
_POSITION_RE = re.compile(r'position="(\d+)"')


def parse_metrics(text: str) -> Counters | None:
    """vLLM's counters on a Prometheus /metrics page (None: none of them, not a vLLM server)."""
    totals: dict[str, float] = {}
    per_pos: dict[int, float] = {}
    for line in text.splitlines():
        m = _METRIC_RE.match(line.strip())
        if not m or not m.group(1).startswith(PREFIX):
            continue
        name, value = m.group(1)[len(PREFIX):], float(m.group(3))
        pos = _POSITION_RE.search(m.group(2) or "") if name == PER_POSITION else None
        if pos:
            per_pos[int(pos.group(1))] = per_pos.get(int(pos.group(1)), 0.0) + value
        elif name in _COUNTERS:
            totals[_COUNTERS[name]] = totals.get(_COUNTERS[name], 0.0) + value
    if not totals:
        return None
    return Counters(**totals, speculating="draft_tokens" in totals,
                    accepted_per_pos=tuple(per_pos.get(i, 0.0) for i in range(max(per_pos, default=-1) + 1)))
