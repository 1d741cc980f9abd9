"""What the adaptive search saved: tokens and generation time of the measured requests against every setup
measured in full. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import RunResult


@dataclass(frozen=True)
class SearchSavings:
    """What the adaptive search saved: measured requests only (warm-ups and probes are the same either way)."""

    setups: int
    slower: int
    tied: int
    tokens: int
    full_tokens: int
    generation_s: float
    full_generation_s: float

    @property
    def stopped(self) -> int:
        return self.slower + self.tied

    @property
    def fewer(self) -> float:
        return 1.0 - self.tokens / self.full_tokens if self.full_tokens else 0.0

    def sentence(self) -> str:
        return (f"{self.stopped} of {self.setups} setups stopped early ({self.slower} slower, {self.tied} tied); "
                f"{self.fewer:.0%} fewer tokens than the full sweep ({self.tokens:,} generated, about "
                f"{self.full_tokens:,} for every setup in full; generation {self.generation_s:.0f} s, about "
                f"{self.full_generation_s:.0f} s in full)")


def search_savings(runs: list[RunResult], budget: int) -> SearchSavings | None:
    """Tokens and generation time of the measured requests, and the same for every run at ``budget``
    requests (a stopped run's own per-request averages scaled up). None when nothing stopped early."""
    if not any(r.pruned for r in runs):
        return None
    tokens = full = 0
    seconds = full_s = 0.0
    setups = 0
    for r in runs:
        ok = [q for q in r.requests if not q.error]
        if not ok:
            continue
        setups += r.draft is not None
        t = sum(q.completion_tokens or 0 for q in ok)
        g = sum(q.total_s or 0.0 for q in ok)
        scale = max(1.0, budget / len(ok)) if r.pruned else 1.0
        tokens, seconds = tokens + t, seconds + g
        full, full_s = full + round(t * scale), full_s + g * scale
    return SearchSavings(setups, sum(r.pruned_as == "slower" for r in runs), sum(r.pruned_as == "tied" for r in runs),
                         tokens, full, seconds, full_s)
