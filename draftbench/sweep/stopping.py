"""Adaptive search: when to stop measuring a speculation setup. Pure: numbers in, a decision out.

Every setup of a target is measured on the same prompts in the same order as its baseline, so two
setups compare request by request: ``d_i = log(a_i / b_i)`` for the i-th request of setups a and b
(decode tok/s). The prompt's own difficulty cancels in the ratio.

The rule, after each block of requests of a setup:

* Its **reference** is the best setup measured so far on this target (the highest geometric-mean
  speedup over the baseline among setups measured in full), or the baseline itself when nothing beats it.
* On the requests both have, the setup's ratio to the reference gets a t-interval of the mean of
  ``d_i``, each side missing with probability ``alpha_j`` at look j (see below).
* **Slower**: the whole interval lies below 1: the setup is clearly slower than the reference.
* **Tied**: the whole interval lies within 1 / (1 + resolution) .. 1 + resolution of the reference:
  any difference is smaller than the resolution, and it is reported as a tie, never as a win.
* Otherwise it keeps going, up to the exhaustive sweep's number of requests.

Error control (Bonferroni over looks, with alpha = 5%). A setup can stop after every block but the
last: ``looks`` times. The first look gets alpha / 2 (most losers are clear after one block, so that is
where a narrow interval saves most); the other looks share the other half evenly (a single look gets
all of alpha). The true best setup is wrongly stopped only when one of its intervals misses on the
upper side: as 'slower', when the truth is above 1; as 'tied', when the truth is above
1 + resolution. It meets one reference per look, and the one-sided miss chances of its looks add up to
at most alpha: the chance of stopping the true best is at most 5%, however many setups there are,
since the other setups' tests cannot stop it. Assumptions: the per-request log ratios are
independent and roughly normal; the reference's numbers are treated as fixed (it was chosen as the
best so far, which flatters it slightly: a little harsh on challengers). ``benchmarks/adaptive_errors.py``
measures the realised rate by simulation.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..core import stats
from ..core.stats import log_interval
from ..results.predict import Prediction

ALPHA = 0.05
RESOLUTION = 0.05
MIN_SD = 0.005  # log units: a floor for the spread, so identical numbers do not make a zero-width interval

Rates = Sequence[float | None]  # decode tok/s per request, in schedule order; None where a request failed


def block_sizes(total: int, block: int) -> list[int]:
    """The budget of ``total`` requests cut into blocks of ``block`` (the last may be shorter)."""
    return [min(block, total - start) for start in range(0, total, block)]


def looks(total: int, block: int) -> int:
    """How many times a setup can stop early: after every block but the last."""
    return max(0, len(block_sizes(total, block)) - 1)


def alpha_at(look: int, total: int, block: int, alpha: float = ALPHA) -> float:
    """One-sided miss probability of each interval at ``look`` (1-based): alpha / 2 at the first look,
    the other half split evenly over the rest; all of alpha when there is a single look."""
    return spent(look, looks(total, block), alpha)


def spent(look: int, n: int, alpha: float = ALPHA) -> float:
    """The one-sided miss probability of look ``look`` (1-based) of ``n``: alpha / 2 at the first, the other half
    split evenly over the rest; all of alpha for a single look."""
    if n <= 1:
        return alpha
    return alpha / 2 if look <= 1 else alpha / 2 / (n - 1)


def doubling(first: int, total: int) -> list[int]:
    """Requests measured at each look of a doubling schedule: ``first``, twice that, four times ... below ``total``
    (fewer looks than one per block, so each spends more of alpha and its interval is narrower)."""
    out, n = [], first
    while 0 < n < total:
        out.append(n)
        n *= 2
    return out


def geo_speedup(a: Rates, base: Rates) -> float | None:
    """Geometric mean of the per-request ratios of ``a`` over the baseline."""
    d = stats.log_ratios(zip(a, base))
    return math.exp(statistics.fmean(d)) if d else None


def times(ratio: float) -> str:
    """A ratio for people: '0.83x'; '<0.01x' and '>100x' beyond what a measurement can mean."""
    if ratio < 0.01:
        return "<0.01x"
    if ratio > 100:
        return ">100x"
    return f"{ratio:.2f}x"


@dataclass(frozen=True)
class Decision:
    """What the data say after a look: keep measuring (``stop`` None), or stop as 'slower' or 'tied'."""

    stop: str | None
    reference: str  # the label of the setup compared with ("baseline" for the target alone)
    ratio: float  # setup / reference: geometric mean of the per-request ratios
    interval: tuple[float, float]
    n: int  # paired requests
    confidence: float  # two-sided confidence of ``interval``

    @property
    def pruned(self) -> bool:
        return self.stop is not None

    def reason(self) -> str:
        lo, hi = (times(v) for v in self.interval)
        where = f"{times(self.ratio)} of {self.reference} ({self.confidence:.1%} interval {lo} .. {hi}, {self.n} paired requests)"
        if self.stop == "slower":
            return f"clearly slower than {self.reference}: {where}"
        if self.stop == "tied":
            return f"tied with {self.reference}: {where}"
        return where


@dataclass(frozen=True)
class Stop:
    """A setup stopped before its last request, as its run keeps it: how (``kind``: "slower", "tied" or
    "predicted"), against which setup, why, its ratio's interval, and the prediction it was stopped on (the model
    search's)."""

    kind: str
    reference: str  # "baseline" for the target alone
    reason: str
    interval: tuple[float, float]
    prediction: Prediction | None = None

    @classmethod
    def of(cls, decision: Decision) -> "Stop":
        return cls(str(decision.stop), decision.reference, decision.reason(), decision.interval)

    def fields(self) -> dict[str, object]:
        """As a run's fields: saved like any run, marked pruned, with why."""
        return {
            "in_progress": False,
            "pruned": True,
            "pruned_as": self.kind,
            "pruned_vs": self.reference,
            "pruned_reason": self.reason,
            "pruned_interval": list(self.interval),
            **(self.prediction.fields() if self.prediction else {}),
        }


def decide(
    setup: Rates, reference: Rates, reference_label: str, alpha_look: float, resolution: float = RESOLUTION
) -> Decision | None:
    """The decision after a look, or None with fewer than two paired requests."""
    d = stats.log_ratios(zip(setup, reference))
    if len(d) < 2:
        return None
    mean, lo, hi = log_interval(d, 1.0 - 2.0 * alpha_look, MIN_SD)
    zone = math.log1p(resolution)
    stop = "slower" if hi < 0 else "tied" if -zone < lo and hi < zone else None
    return Decision(stop, reference_label, math.exp(mean), (math.exp(lo), math.exp(hi)), len(d), 1.0 - 2.0 * alpha_look)


def leader(finished: Mapping[str, Rates], baseline: Rates, baseline_label: str = "baseline") -> str:
    """The reference for the next look: the finished setup with the best geometric-mean speedup over
    the baseline, or the baseline when none beats it."""
    best, best_speedup = baseline_label, 1.0
    for label, rates in finished.items():
        s = geo_speedup(rates, baseline)
        if s is not None and s > best_speedup:
            best, best_speedup = label, s
    return best
