"""vLLM's counters (``Counters``, cumulative, from its /metrics) and what its engine did during a run, as saved
(``EngineStats``)."""

from __future__ import annotations

from dataclasses import dataclass, fields


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

    def minus(self, before: "Counters") -> "Counters | None":
        """What happened between ``before`` and these; None where a counter went down (the server restarted, or its
        page is not a counter's) or more tokens were accepted than drafted: no run made those counts."""
        out = self._with(before, -1.0)
        numbers = [getattr(out, f.name) for f in fields(out) if f.name not in ("accepted_per_pos", "speculating")]
        if any(v < 0 for v in (*numbers, *out.accepted_per_pos)) or out.accepted_tokens > out.draft_tokens:
            return None
        return out

    def plus(self, other: "Counters") -> "Counters":
        """Two runs' counts (blocks of one run), added."""
        return self._with(other, 1.0)

    def _with(self, other: "Counters", sign: float) -> "Counters":
        numbers = {
            f.name: getattr(self, f.name) + sign * getattr(other, f.name)
            for f in fields(self)
            if f.name not in ("accepted_per_pos", "speculating")
        }
        mine, theirs = self.accepted_per_pos, other.accepted_per_pos
        width = max(len(mine), len(theirs))
        per_pos = tuple(
            (mine[i] if i < len(mine) else 0.0) + sign * (theirs[i] if i < len(theirs) else 0.0) for i in range(width)
        )
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
        return cls(
            int(delta.steps),
            round(batch, 2) if batch else None,
            int(delta.preemptions),
            int(delta.prefix_cache_hits),
            round(delta.queue_s / delta.queued, 4) if delta.queued else None,
        )

    def warnings(self, concurrency: int) -> list[str]:
        """What in these figures makes a speedup mean less, and what to do about it."""
        out = []
        if self.preemptions:
            out.append(
                f"vLLM preempted {self.preemptions} request(s): its KV cache was full and their work was "
                "redone; give it more (--gpu-memory-utilization, or VLLM_CPU_KVCACHE_SPACE on a CPU), or "
                "lower ctx_size"
            )
        if self.prefix_cache_hit_tokens:
            out.append(
                f"{self.prefix_cache_hit_tokens} prompt tokens came from vLLM's prefix cache: those requests "
                "reused an earlier one's prefill; drop --enable-prefix-caching from extra_args"
            )
        if concurrency > 1 and self.mean_batch is not None and self.mean_batch < 0.75 * concurrency:
            out.append(
                f"vLLM ran {self.mean_batch:.1f} sequences per step on average at {concurrency} streams: "
                "the level was not batched as asked (requests queued, or finished at different times)"
            )
        return out
