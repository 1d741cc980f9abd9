"""What a replayed conversation workload's turns say of a run (results/conversations.py computes it): by turn
index, the wait a user has for each turn (its latency: time to first token plus the time to the last) and the
decode speed, each against the baseline on the same conversations and turns (paired), and what the server reused
from its prompt cache."""

from __future__ import annotations

from dataclasses import dataclass

from ..core import stats


@dataclass(frozen=True)
class TurnSpan:
    """The turns of one range of turn indices ("1", "2-4", "5+") or of the whole conversations ("all")."""

    turns: str
    n_turns: int  # this run's turns measured in the range
    latency_s: float | None = None  # its median turn latency
    baseline_latency_s: float | None = None  # the baseline's, on the same turns
    latency_speedup: float | None = None  # the baseline's turn latency over this run's, paired (>1: shorter waits)
    latency_ci95: list[float] | None = None
    decode_speedup: float | None = None  # decode tok/s over the baseline's, paired
    decode_ci95: list[float] | None = None
    pairs: int | None = None  # turns both measured: what the intervals stand on
    extra_ttft_s: float | None = None  # median of this run's TTFT minus the baseline's on the same turn: the
    # prefill a setup adds (a draft model prefills each turn's new tokens too)
    cached_share: float | None = None  # of its prompt tokens, the share its server took from the cache

    def latency_ratio(self) -> stats.Ratio | None:
        if self.latency_speedup is None:
            return None
        ci = (self.latency_ci95[0], self.latency_ci95[1]) if self.latency_ci95 else None
        return stats.Ratio(self.latency_speedup, ci, self.pairs or 0, True)

    def decode_ratio(self) -> stats.Ratio | None:
        if self.decode_speedup is None:
            return None
        ci = (self.decode_ci95[0], self.decode_ci95[1]) if self.decode_ci95 else None
        return stats.Ratio(self.decode_speedup, ci, self.pairs or 0, True)


@dataclass(frozen=True)
class TurnScores:
    """A run's turns by turn index, then over the whole conversations (the last span, "all")."""

    spans: list[TurnSpan]
    uncached_turns: int = 0  # later turns that reused nothing from the prompt cache (flagged when measured)
    verdict: str | None = None  # where decode and turn latency disagree: what the user waits for, in words

    @property
    def overall(self) -> TurnSpan:
        return self.spans[-1]
