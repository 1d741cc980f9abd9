"""Adaptive search inside a sweep: which setup of a target to measure next, and whether a setup
stops after a block (the rule itself is in :mod:`search`)."""

from __future__ import annotations

import math
from typing import Callable, Iterator, Mapping

from ..core import gguf_header
from ..results import costmodel, drift
from ..results.explain import verify_costs
from ..results.schema import RunResult
from ..setup.config import SweepSettings
from . import stopping
from .plan import Cell
from .scheduler import Policy


def rates(run: RunResult, shift: drift.Drift | None = None) -> list[float | None]:
    """Decode tok/s per request in schedule order, corrected for the baseline's drift ``shift`` (the reference the
    sweep's speedups use, :mod:`results.drift`); None where a request failed."""
    return [None if q.error else q.decode_tps for q in drift.corrected(run, shift).requests]


def finished_candidate(run: RunResult) -> bool:
    """Measured in full, not stopped, and speculation ran: fit to be the reference of later looks."""
    return run.draft is not None and run.done and not run.pruned and run.speculation_active is not False


A_PRIOR = 0.7  # per-token acceptance assumed before any draft is measured: it only orders the setups


def predicted_speedup(
    cell: Cell, runs: Mapping[tuple, RunResult], size: Callable[[str], int] = gguf_header.file_size
) -> float | None:
    """A setup's speedup predicted by the cost model, only to decide what to measure first:

    - a measured sibling (same target, draft and types, another draft length): its measured speedup times the
      model's ratio between the two lengths;
    - else the model itself, with the per-token acceptance of the measured draft closest in file size (or
      A_PRIOR before any), the drafting cost from the draft's own measured speed or else from the ratio of
      file sizes (decoding is memory-bound), and the target's measured v(k).

    None without v(k) (no cost model), without a draft length, or for model-free setups."""
    spec = cell.setup.speculation
    base = runs.get(cell.baseline_key)
    costs = verify_costs(base)
    if spec.draft_max is None or not costs or not spec.draft_path or base is None:
        return None
    mine = [
        r
        for r in runs.values()
        if r.target == cell.target.label
        and r.level == cell.level
        and r.speculation is not None
        and r.speculation.draft_path
        and r.parts is not None
        and r.speedup
    ]
    siblings = [
        r
        for r in mine
        if r.speculation
        and r.speculation.draft_max is not None
        and r.speculation.with_axes({"draft_max": None}) == spec.with_axes({"draft_max": None})
    ]
    if siblings:
        best = max(siblings, key=lambda r: r.n_requests or 0)
        # next line's type: ignore: runs with parts and a setup only, filtered above
        a, c = best.parts.acceptance_per_token, best.parts.draft_cost_ratio  # type: ignore[union-attr]
        # next line's type: ignore: runs with parts and a setup only, filtered above
        there = costmodel.speedup(a, best.speculation.draft_max or 1, c, costs)  # type: ignore[union-attr]
        return (best.speedup or 0) * costmodel.speedup(a, spec.draft_max, c, costs) / there if there > 0 else None
    alone = next((r.draft_alone_tps for r in runs.values() if r.draft_path == spec.draft_path and r.draft_alone_tps), None)
    if alone and base.mean_tps:
        c = base.mean_tps / alone
    elif size(spec.draft_path) and size(cell.target.path):
        c = size(spec.draft_path) / size(cell.target.path)
    else:
        return None

    def distance(r: RunResult) -> float:
        return abs(math.log((size(r.draft_path or "") or 1) / (size(spec.draft_path or "") or 1)))

    # next line's type: ignore: runs with parts and a setup only, filtered above
    a = min(mine, key=distance).parts.acceptance_per_token if mine else A_PRIOR  # type: ignore[union-attr]
    return costmodel.speedup(a, spec.draft_max, c, costs)


class Search(Policy):
    """The adaptive search's side of a sweep: block sizes, the order of setups, the look after a block.

    Two phases per target and level. **Screening**: every setup gets its first block (cost-model order), with
    no look, and pauses (saved as ``in_progress``). **Race**: the screened setups continue, best first-block
    speedup first; each one's first look happens when it is picked, against the best setup finished by then,
    so most stop without starting a server again, and the one that runs in full is chosen by data, not by a
    prediction. A setup part-way through its later blocks (an interrupted sweep) goes on before any other,
    so a look is never repeated against a new reference."""

    pause_note = "every setup gets a first block before the best go on"  # why a setup pauses after its first block
    adaptive = True  # setups may stop early (scheduler.Policy)

    def __init__(self, settings: SweepSettings, size: Callable[[str], int] = gguf_header.file_size):
        super().__init__(settings)
        self.size = size  # model file sizes, for the prior of the screening order
        self.left: list[Cell] = []  # the current target and level's setups not picked (or paused)
        self.block = settings.block
        self.resolution = settings.resolution

    def describe(self) -> str:
        n = stopping.looks(self.total, self.block)
        if n == 0:
            return (
                f"Adaptive search: cannot stop early with {self.total} requests per setup in blocks of "
                f"{self.block}: raise requests (or lower block) to measure less"
            )
        first, rest = stopping.alpha_at(1, self.total, self.block), stopping.alpha_at(2, self.total, self.block)
        spent = f"{first:.3g}" + (f" at the first, {rest:.3g} at each later one" if n > 1 else "")
        return (
            f"Adaptive search: every setup gets a first block of {self.block} requests, then the best go on; a "
            f"setup can stop after every block of its {self.total} requests ({n} look{'s' if n != 1 else ''}; "
            "one-sided error per "
            f"look {spent}: at most {stopping.ALPHA:.0%} in all); ties within {self.resolution:.0%}"
        )

    def sizes(self, done: int) -> list[int]:
        """The blocks still to measure for a setup that has ``done`` requests."""
        return stopping.block_sizes(self.total - done, self.block) if done < self.total else []

    def order(self, cells: list[Cell], runs: Mapping[tuple, RunResult]) -> Iterator[Cell]:
        """Per target and level: the baseline first, setups finished earlier (to be skipped), then the
        screening and the race (see the class). Lazy: each choice sees the runs measured so far."""
        for group in dict.fromkeys((c.target.label, c.level) for c in cells):
            mine = [c for c in cells if (c.target.label, c.level) == group]
            yield from (c for c in mine if c.setup.is_baseline)
            closed = [c for c in mine if not c.setup.is_baseline and c.key in runs and runs[c.key].done]
            yield from closed  # measured in full or stopped earlier: skipped
            left = [c for c in mine if not c.setup.is_baseline and c not in closed]
            self.left = left
            while left:
                pick = self._next(left, runs)
                left.remove(pick)
                yield pick
                run = runs.get(pick.key)
                if run is not None and run.in_progress:
                    left.append(pick)  # paused after its first block: it comes back in its turn

    def pauses(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> bool:
        """After a block that ends where a look is due (:meth:`look_pending`): pause, unless the setup would be
        picked next anyway (here after its first block: nothing left to screen, and the best first block of the
        setups still open)."""
        run = runs.get(cell.key)
        return run is not None and self.look_pending(run) and self._next(self.left + [cell], runs) is not cell

    def look_pending(self, run: RunResult) -> bool:
        """A setup paused where its look is due (here after screening): the look happens when the race picks it."""
        return run.in_progress and 0 < len(run.requests) <= self.block

    def _next(self, left: list[Cell], runs: Mapping[tuple, RunResult]) -> Cell:
        fresh = [c for c in left if not screened(runs.get(c.key))]
        if not fresh:
            ref = runs.get(left[0].baseline_key)
            base, shift = (rates(ref), drift.of(ref)) if ref is not None else ([], None)

            def standing(cell: Cell) -> tuple[int, float]:
                run = runs[cell.key]
                return (len(run.requests), stopping.geo_speedup(rates(run, shift), base) or 0.0)

            return max(left, key=standing)
        target, level = fresh[0].target.label, fresh[0].level
        base = runs.get(fresh[0].baseline_key)
        leader_speed = 1.0
        if base is not None and base.done:
            finished = {
                r.draft: rates(r, drift.of(base))
                for r in runs.values()
                if r.target == target and r.level == level and finished_candidate(r)
            }
            leader = stopping.leader(finished, rates(base))
            if leader != "baseline":
                leader_speed = stopping.geo_speedup(finished[leader], rates(base)) or 1.0
        predicted = {c.index: predicted_speedup(c, runs, self.size) for c in fresh}

        def rank(item: tuple[int, Cell]) -> tuple[int, float, int]:
            position, cell = item
            p = predicted[cell.index]
            if p is None:
                return (1, 0.0, position)
            return (0 if p > leader_speed else 2, -p, position)

        return min(enumerate(fresh), key=rank)[1]

    def look(self, run: RunResult, runs: Mapping[tuple, RunResult]) -> stopping.Decision | None:
        """The decision after a block of ``run`` (its target's baseline must be done)."""
        base = runs[run.baseline_key]
        others = self.references(base, len(run.requests), runs, but=run.draft)
        label = stopping.leader(others, rates(base))
        reference = rates(base) if label == "baseline" else others[label]
        return stopping.decide(rates(run, drift.of(base)), reference, label, self.alpha(len(run.requests)), self.resolution)

    def references(
        self, base: RunResult, n: int, runs: Mapping[tuple, RunResult], but: str | None = None
    ) -> dict[str, list[float | None]]:
        """The setups of ``base``'s target and level (all but ``but``) fit to be compared with after ``n`` requests
        (:meth:`reference_fit`), each as its requests' rates corrected for the baseline's drift (every setup's
        requests as if measured when the baseline was)."""
        shift = drift.of(base)
        return {
            str(r.draft): rates(r, shift)
            for r in runs.values()
            if r.target == base.target and r.level == base.level and r.draft != but and self.reference_fit(r, n)
        }

    def reference_fit(self, other: RunResult, n: int) -> bool:
        """Can ``other`` be the reference of a look after ``n`` requests? Here: measured in full."""
        return finished_candidate(other)

    def alpha(self, measured: int) -> float:
        """The one-sided miss probability of the look after ``measured`` requests: one look per block."""
        return stopping.alpha_at(-(-measured // self.block), self.total, self.block)


def screened(run: RunResult | None) -> bool:
    """Has requests to go on from: a setup that failed or was skipped (earlier) starts over with its screening."""
    return run is not None and bool(run.requests) and run.error is None
