"""The distribution check: does a setup leave the target's output distribution unchanged at temperature > 0?

Its samples (:mod:`measure.distribution`) and its baseline's, drawn on the same prefixes with the same seeds, are
compared position by position: for each prefix and token position, Pearson's chi-square test of homogeneity of the
two samples' tokens there (tokens expected fewer than 5 times pooled), the p-values adjusted together by Holm's
method. A setup is flagged (and never recommended) when the smallest adjusted p-value is below ``ALPHA``. The
total variation distance per position (averaged) says how far apart the two are, whatever the test says. Pure."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..core import homogeneity
from ..records.distribution import DistributionSamples

ALPHA = 0.01  # family-wise: a correct setup is flagged by chance about once in a hundred checks


@dataclass(frozen=True)
class DistributionCheck:
    """A setup's samples against its baseline's."""

    temperature: float
    n_prefixes: int
    n_samples: int  # continuations per prefix and server
    n_tests: int  # prefix x position tests
    p_value: float  # the smallest Holm-adjusted p-value
    tvd: float  # mean total variation distance over prefixes and positions
    flagged: bool

    def text(self) -> str:
        verdict = "CHANGES the output distribution" if self.flagged else "output distribution unchanged within the test"
        return (
            f"{verdict} at temperature {self.temperature:g} (p = {self.p_value:.3g}, Holm-adjusted over "
            f"{self.n_tests} tests; TVD {self.tvd:.3f}; {self.n_prefixes} prefixes x {self.n_samples} samples)"
        )


def check(mine: DistributionSamples, base: DistributionSamples) -> DistributionCheck | None:
    """``mine`` against ``base`` on the prefixes both sampled; None when they share none."""
    theirs = dict(zip(base.prompt_ids, base.samples))
    pairs = [(list(s), list(theirs[p])) for p, s in zip(mine.prompt_ids, mine.samples) if p in theirs and s]
    if not pairs:
        return None
    p_values, distances = [], []
    for a, b in pairs:
        split_a, split_b = [s.split() for s in a], [s.split() for s in b]
        for pos in range(max(len(s) for s in split_a + split_b)):
            at_a = [s[pos] if pos < len(s) else "<end>" for s in split_a]
            at_b = [s[pos] if pos < len(s) else "<end>" for s in split_b]
            p_values.append(homogeneity.chi_square(at_a, at_b)[2])
            distances.append(homogeneity.total_variation(at_a, at_b))
    adjusted = min(homogeneity.holm(p_values), default=1.0)
    return DistributionCheck(
        mine.temperature,
        len(pairs),
        min(len(a) for a, _ in pairs),
        len(p_values),
        adjusted,
        statistics.fmean(distances) if distances else 0.0,
        adjusted < ALPHA,
    )
