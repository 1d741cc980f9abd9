"""The distribution check's samples as saved (``DistributionSamples``)."""

from __future__ import annotations

from dataclasses import dataclass

TOKENS = 3  # tokens per continuation: each position is tested on its own


@dataclass(frozen=True)
class DistributionSamples:
    """What one server sampled: per prefix (prompt id), each continuation's tokens joined by spaces."""

    temperature: float
    prompt_ids: tuple[str, ...]
    samples: tuple[list[str], ...]  # samples[k][s]: continuation s of prefix k, e.g. "1126 1754 1818"

    @property
    def tokens_drawn(self) -> int:
        return sum(len(s) for s in self.samples) * TOKENS
