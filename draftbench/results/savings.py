"""What a search saved (adaptive or model): tokens and generation time of the measured requests against every
setup measured in full. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from . import predict
from .schema import RunResult


@dataclass(frozen=True)
class SearchSavings:
    """What a search saved: measured requests only (warm-ups and probes are the same either way)."""

    setups: int
    slower: int
    tied: int
    tokens: int
    full_tokens: int
    generation_s: float
    full_generation_s: float
    predicted: int = 0  # never measured: the model search's prediction could not beat the measured leader
    verified: int = 0  # measured after a prediction: their prediction held
    missed: int = 0  # measured after a prediction: it missed (that draft's other lengths were measured)

    @property
    def stopped(self) -> int:
        return self.slower + self.tied

    @property
    def fewer(self) -> float:
        return 1.0 - self.tokens / self.full_tokens if self.full_tokens else 0.0

    def sentence(self) -> str:
        model = (
            (
                f"{self.setups - self.predicted} of {self.setups} setups measured ({self.predicted} only predicted; "
                f"{self.verified} predictions verified, {self.missed} missed); "
            )
            if self.predicted or self.verified or self.missed
            else ""
        )
        return (
            model + f"{self.stopped} of {self.setups - self.predicted}{' measured' if model else ''} setups stopped "
            f"early ({self.slower} slower, {self.tied} tied); "
            f"{self.fewer:.0%} fewer tokens than the full sweep ({self.tokens:,} generated, about "
            f"{self.full_tokens:,} for every setup in full; generation {self.generation_s:.0f} s, about "
            f"{self.full_generation_s:.0f} s in full)"
        )


def search_savings(runs: list[RunResult], budget: int) -> SearchSavings | None:
    """Tokens and generation time of the measured requests, and the same for every run at ``budget``
    requests (a stopped run's own per-request averages scaled up). None when nothing stopped early."""
    if not any(r.pruned for r in runs):
        return None
    tokens = full = 0
    seconds = full_s = 0.0
    setups = 0
    unmeasured = [r for r in runs if r.pruned_as == "predicted" and not r.requests]
    for r in unmeasured:  # every request as long and as slow as the measured requests of its target, on average
        same = [q for m in runs if m.target == r.target for q in m.requests if not q.error]
        if same:
            full += round(budget * sum(q.completion_tokens or 0 for q in same) / len(same))
            full_s += budget * sum(q.total_s or 0.0 for q in same) / len(same)
    checks = [(p, r.speedup_ratio()) for r in runs if r.requests and (p := predict.saved(r)) is not None]
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
    return SearchSavings(
        setups + len(unmeasured),
        sum(r.pruned_as == "slower" for r in runs),
        sum(r.pruned_as == "tied" for r in runs),
        tokens,
        full,
        seconds,
        full_s,
        len(unmeasured),
        sum(not p.misses(m) for p, m in checks),
        sum(p.misses(m) for p, m in checks),
    )
