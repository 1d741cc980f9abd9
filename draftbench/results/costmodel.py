"""Why a setup is as fast as it is: the cost model of speculative decoding, from measured parts.

Each target pass drafts ``g`` tokens (``g`` draft steps, each costing ``c`` target steps) and
verifies them in one batch of ``g + 1`` tokens, costing ``v(g + 1)`` target steps (``v(1) = 1``).
With per-token acceptance ``a`` (each drafted token accepted with probability ``a`` while all
before it were), a pass yields ``(1 - a^(g+1)) / (1 - a)`` tokens, the bonus token included
(Leviathan et al. 2023), so the speedup over plain decoding is that over ``g c + v(g + 1)``.

The acceptance estimator: the run's mean accepted tokens per pass ``A`` and mean drafted tokens
per pass ``g`` (both from llama.cpp's counts) fix ``a`` as the root in [0, 1] of
``a (1 - a^g) / (1 - a) = A``, the expected accepted count of a g-token draft, found by bisection.

Acceptance by position: real acceptance falls along the draft, which is what decides the best draft length.
``rates[i]`` is the unconditional probability that position ``i + 1`` of a draft is accepted (all before it
were); a pass then yields ``1 + sum(rates[:g])`` tokens, and beyond the positions measured each further
position keeps the last conditional rate ``rates[-1] / rates[-2]``. The constant-rate model is ``rates = (a,)``.
The rates come from the server's accepted counts by position (:func:`rates_from_positions`) or, where the
build does not report positions, from the accepted length of runs at several draft lengths
(:func:`rates_from_lengths`).

Verification cost: v(k) measured in the speculative loop itself (runs of the same setup with synthetic
acceptance, see ``sweep.cost_probes``) where the build allows it, else from prompt batches of k tokens. The
loop's figure also carries the cost of the draft sharing the machine (caches, memory bandwidth), which grows
with the draft's size: the draft's footprint, ``v_loop(k) / v_prompt(k)``, interpolated between the batch
sizes measured (:func:`footprint`).
Pure functions only: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

from ..core import stats

A_MAX = 0.999
LOW_ACCEPTANCE = 0.3
SLOW_DRAFT_SHARE = 0.4
NEAR_OPTIMUM = 0.03  # within 3% of the model's best predicted speedup
MAX_DRAFT_LENGTH = 16


def tokens_per_pass(a: float, g: float) -> float:
    """Expected tokens per target pass, the bonus token included: 1 at a = 0, g + 1 at a = 1."""
    if a >= 1.0:
        return g + 1.0
    return (1.0 - a ** (g + 1.0)) / (1.0 - a)


def accepted_per_pass(a: float, g: float) -> float:
    return tokens_per_pass(a, g) - 1.0


def fit_acceptance(accepted: float, drafted: float) -> float | None:
    """Per-token acceptance from mean accepted and drafted tokens per pass (see the module note)."""
    if drafted <= 0:
        return None
    if accepted >= drafted:
        return A_MAX
    return _solve(accepted, lambda a: accepted_per_pass(a, drafted))


def verify_cost(costs: dict, k: float) -> float:
    """v(k) from measured batch sizes: linear between them, the last segment's slope beyond."""
    points = sorted(costs.items())
    return stats.interpolate(points, k, extend=True) if points else (1.0 if k <= 1 else float(k))


def _solve(target: float, f) -> float:
    """The root in [0, A_MAX] of the increasing ``f(q) = target`` (clamped at the ends)."""
    if target <= 0:
        return 0.0
    if f(A_MAX) <= target:
        return A_MAX
    lo, hi = 0.0, A_MAX
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def rates_from_positions(runs: Sequence[tuple[int, Sequence[int], int]]) -> tuple[float, ...]:
    """Acceptance by position pooled over runs of one draft: each ``(verifications, accepted tokens at each
    position, the run's draft length)``; a position counts the verifications of the runs that drafted it."""
    longest = max((n for _, _, n in runs), default=0)
    rates = []
    for i in range(longest):
        passes = sum(p for p, _, n in runs if n > i)
        accepted = sum(counts[i] for _, counts, n in runs if n > i and i < len(counts))
        rates.append(min(accepted / passes, rates[-1] if rates else 1.0) if passes else 0.0)
    return tuple(rates)


def rates_from_lengths(points: Sequence[tuple[int, float]]) -> tuple[float, ...]:
    """Acceptance by position from ``(draft length, accepted tokens per pass)`` of runs at several lengths:
    between two lengths the conditional rate is taken as constant, the one that adds the accepted tokens the
    longer draft gained."""
    rates: list[float] = []
    done, reach = 0.0, 1.0  # accepted per pass so far; chance that every position so far was accepted
    for n, accepted in sorted(points):
        width = n - len(rates)
        if width <= 0:
            continue
        q = _solve(accepted - done, lambda x: reach * sum(x**j for j in range(1, width + 1)))  # noqa: B023 (solved here)
        rates += [reach * q**j for j in range(1, width + 1)]
        done, reach = sum(rates), rates[-1]
    return tuple(rates)


def accepted_by_rates(rates: Sequence[float], g: float) -> float:
    """Expected accepted tokens of a g-token draft (fractional g: the share of the last position)."""
    if not rates:
        return 0.0
    q = rates[-1] / rates[-2] if len(rates) > 1 and rates[-2] > 0 else rates[0]
    total, i, r = 0.0, 0, 0.0
    while i < g:
        r = rates[i] if i < len(rates) else r * q
        total += r * min(1.0, g - i)
        i += 1
    return total


def footprint(prompt: dict[int, float] | None, loop: dict[float, float]) -> dict[float, float]:
    """v(k) for one draft: the prompt-batch shape times the draft's footprint measured in the loop (the loop's
    v over the prompt batch's at each batch size measured, interpolated between them, constant beyond);
    the loop's points alone where prompt batches were not measured; the prompt batches where the loop was not."""
    if not loop:
        return dict(prompt or {})
    if not prompt:
        return {1.0: 1.0, **loop}
    ratio = sorted((k, v / verify_cost(prompt, k)) for k, v in loop.items())
    return {k: verify_cost(prompt, k) * stats.interpolate(ratio, k) for k in sorted({*map(float, prompt), *loop})}


@dataclass(frozen=True)
class Loop:
    """The model of one draft on one target: acceptance by position, drafting per drafted token ``c`` and v(k)
    (both in target steps), and how many tokens a pass drafts at draft length n: ``fill`` times n (drafts cut short
    only near the end of a reply), or, where a confidence cut (p-min) ends drafts early, ``go_on`` + ``go_on``^2 +
    ... + ``go_on``^n, ``go_on`` being the draft's chance to go on past each position it drafted (fitted by
    :func:`cut_by_confidence`)."""

    rates: tuple[float, ...]
    c: float
    costs: dict[float, float]
    fill: float = 1.0
    go_on: float | None = None

    def drafted(self, n: float) -> float:
        """Drafted tokens per pass at draft length ``n``."""
        return n * self.fill if self.go_on is None else drafted_when_cut(self.go_on, int(n))

    def speedup(self, n: float) -> float:
        g = self.drafted(n)
        return (1.0 + accepted_by_rates(self.rates, g)) / (g * self.c + verify_cost(self.costs, g + 1))

    def best(self, longest: int = MAX_DRAFT_LENGTH) -> int:
        return max(range(1, longest + 1), key=self.speedup)


CUT_SHARE = 0.75  # drafts shorter than this share of the length on average are cut by the draft's confidence (p-min)
# (demo family: 0.87-0.95 of the length without p-min or at p-min 0.5, where only replies ending cut them; 0.2-0.6 at 0.9)


def cut_by_confidence(draft_max: int, drafted_per_pass: float) -> float | None:
    """Where drafts of ``draft_max`` average ``drafted_per_pass`` tokens, below :data:`CUT_SHARE` of the length: the
    chance of going on past each drafted position that gives it when a draft stops at the first position its
    confidence is below the cut (geometric); None where drafts fill the length but for replies ending."""
    if not draft_max or drafted_per_pass >= CUT_SHARE * draft_max:
        return None
    return _solve(drafted_per_pass, lambda q: drafted_when_cut(q, draft_max))


def drafted_when_cut(go_on: float, n: int) -> float:
    """Drafted tokens per pass at length ``n`` when each drafted position goes on with chance ``go_on``."""
    return sum(go_on**j for j in range(1, n + 1))


def pass_cost(g: float, c: float, costs: dict[int, float]) -> float:
    """A pass in target steps: g draft steps plus verifying g + 1 tokens."""
    return g * c + verify_cost(costs, g + 1)


def speedup(a: float, g: float, c: float, costs: dict[int, float]) -> float:
    return tokens_per_pass(a, g) / pass_cost(g, c, costs)


def best_length(a: float, c: float, costs: dict[int, float], longest: int = MAX_DRAFT_LENGTH) -> int:
    """The draft length that maximises the model's speedup."""
    return max(range(1, longest + 1), key=lambda g: speedup(a, g, c, costs))


@dataclass(frozen=True)
class Parts:
    """The measured parts of one run and what the model makes of them."""

    target_passes: int
    accepted_length: float  # tokens per target pass, the bonus token included (L)
    drafted_per_pass: float  # g
    acceptance_per_token: float  # a
    draft_cost_ratio: float  # c: drafting per drafted token, in target steps
    verify_cost: float  # v(g + 1): verifying a pass's batch in target steps
    predicted_speedup: float  # L / (g c + v(g + 1))
    drafting_share: float  # of each pass's time
    predicted_best_draft_max: int
    verdict: str
    draft_cost_source: str = "draft alone"  # where c came from: "in-process", "draft alone", "n-gram"
    verify_source: str = "prompt batches"  # where v came from: "in the loop" (synthetic acceptance) or prompt batches
    acceptance_source: str = "constant rate"  # "by position (server counts)", "by position (fit across lengths)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "Parts | None":
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (KeyError, TypeError):
            return None


TOLERANCE = 0.15  # the model's stated accuracy: predicted speedup within 15% of the measured one (benchmarks/cost_model.py)


def checked(parts: Parts, measured_speedup: float | None) -> Parts:
    """``parts`` against the run's measured speedup: when the prediction misses it by more than TOLERANCE, the
    model does not explain this run, and its advice (the verdict, the best draft length) is withdrawn rather
    than given on numbers it got wrong."""
    if not measured_speedup or abs(parts.predicted_speedup / measured_speedup - 1) <= TOLERANCE:
        return parts
    return replace(
        parts,
        predicted_best_draft_max=0,
        verdict=(
            f"the model does not explain this run (predicted {parts.predicted_speedup:.2f}x, measured "
            f"{measured_speedup:.2f}x, beyond its {TOLERANCE:.0%} tolerance): no advice from it"
        ),
    )


def verdict(a: float, g: float, loop: Loop, draft_max: int | None, best: int) -> str:
    """One line on what limits this setup, from the parts."""
    c, costs = loop.c, loop.costs
    share = g * c / pass_cost(g, c, costs)
    used = draft_max or round(g)
    now, top = loop.speedup(used), loop.speedup(best)
    if a < LOW_ACCEPTANCE:
        return f"acceptance too low (a = {a:.2f}): a draft closer to the target"
    if share > SLOW_DRAFT_SHARE and now < 1.1:
        return f"draft too slow for its acceptance (drafting takes {share:.0%} of each pass)"
    if top <= now * (1 + NEAR_OPTIMUM) or best == used:
        return "near the model's optimum"
    if best < used:
        v = verify_cost(costs, used + 1)
        return (
            f"verification of a {used + 1}-token batch costs {v:.1f}x a step: shorter drafts "
            f"(n_max {best} predicted {stats.pct(top)})"
        )
    return f"longer drafts predicted to pay (n_max {best}: {stats.pct(top)})"


def explain(
    predicted_n: int,
    draft_n: int,
    draft_n_accepted: int,
    c: float | None,
    costs: dict,
    draft_max: int | None = None,
    drafting_per_pass: float | None = None,
    source: str = "draft alone",
    rates: tuple[float, ...] | None = None,
    verify_source: str = "prompt batches",
    acceptance_source: str = "constant rate",
) -> Parts | None:
    """The parts of a run from llama.cpp's counts, v(k) and the drafting cost: either measured per pass
    in-process (``drafting_per_pass``, in target steps) or a step cost ratio ``c``. The best draft length is
    searched with acceptance by position (``rates``; else the run's constant rate)."""
    passes = predicted_n - draft_n_accepted
    if passes <= 0 or draft_n <= 0:
        return None
    g = draft_n / passes
    if drafting_per_pass is not None:
        c, source = drafting_per_pass / g, "in-process"
    if c is None:
        return None
    a = fit_acceptance(draft_n_accepted / passes, g)
    if a is None:
        return None
    length = predicted_n / passes
    cost = pass_cost(g, c, costs)
    if not rates:
        rates, acceptance_source = (a,), "constant rate"
    loop = Loop(tuple(rates), c, costs, min(1.0, g / draft_max) if draft_max else 1.0)
    best = loop.best(max(MAX_DRAFT_LENGTH, draft_max or 0))
    return Parts(
        passes,
        length,
        g,
        a,
        c,
        verify_cost(costs, g + 1),
        length / cost,
        g * c / cost,
        best,
        verdict(a, g, loop, draft_max, best),
        source,
        verify_source,
        acceptance_source,
    )
