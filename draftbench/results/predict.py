"""Predictions of setups not measured: the cost model as the model search uses it. A setup with a draft model is
predicted from the measured runs of the same draft (same target, level and setup but its draft length): the nearest
measured length's paired speedup, scaled by the draft's cost model between the two lengths (:func:`draft_loop`:
acceptance by position, drafting cost and v(k) in the loop, all measured), its interval widened by the model's
tolerance. The rule that says a measurement missed its prediction is here too, so the search (which falls back to
measuring) and the report (which says which predictions held) apply the same one. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable

from ..core import stats
from ..setup.levels import Level
from ..setup.speculation import Speculation
from .costmodel import Loop
from .explain import draft_loop
from .schema import RunResult

TOLERANCE = 0.08  # the model's error between two lengths of one draft, beyond the measured one's own interval
# (benchmarks/cost_model.py: worst miss 3% predicting other lengths from one; 8% leaves room for longer jumps)


@dataclass(frozen=True)
class Prediction:
    """A setup's predicted speedup over its baseline, with its 95% interval and the run it was scaled from."""

    speedup: float
    ci95: tuple[float, float]
    source: str  # the measured setup it was scaled from
    n: int  # the paired requests of that measurement
    unchecked: bool = False  # widened once more: none of the draft's predictions checked against a measurement yet

    def text(self) -> str:
        return (
            f"predicted {stats.pct(self.speedup)} (95% {stats.pct(self.ci95[0])} .. {stats.pct(self.ci95[1])}, "
            f"from {self.source}"
            + (f"'s {self.n} paired requests" if self.n else "")
            + ("; no prediction of this draft checked yet, so the model's tolerance counted twice)" if self.unchecked else ")")
        )

    def as_unchecked(self) -> "Prediction":
        """This prediction for a draft none of whose predictions has held against a measurement yet: its interval
        widened by the model's tolerance once more."""
        wide = stats.widened(stats.Ratio(self.speedup, self.ci95, self.n, True), math.log(1 + TOLERANCE))
        assert wide.ci95 is not None
        return replace(self, ci95=wide.ci95, unchecked=True)

    def misses(self, measured: stats.Ratio | None) -> bool:
        """Is ``measured`` beyond this prediction: the point outside the measured interval widened by the model's
        tolerance? (A measurement without an interval cannot say.)"""
        if measured is None or measured.ci95 is None:
            return False
        low, high = measured.ci95
        return not low / (1 + TOLERANCE) <= self.speedup <= high * (1 + TOLERANCE)

    def fields(self) -> dict[str, object]:
        """As a run's fields: what the search predicted when it decided (kept, never computed again)."""
        return {"predicted_speedup": self.speedup, "predicted_ci95": list(self.ci95), "predicted_from": self.source}


def predictable(spec: Speculation) -> bool:
    """Setups the model predicts: a draft model with a draft length (n-gram types and heads are measured)."""
    return bool(spec.draft_path) and spec.draft_max is not None and not spec.uses_head


def family_key(target: str, level: Level, spec: Speculation) -> tuple:
    """What the setups one measurement can predict share: target, level and the setup but its draft length."""
    return (target, level, spec.with_axes({"draft_max": None}))


def _loop(target: str, level: Level, spec: Speculation, runs: list[RunResult]) -> tuple[Loop, list[RunResult]] | None:
    """The draft's cost model from its measured runs with parts and a paired interval, and those runs."""
    if not predictable(spec):
        return None
    key = family_key(target, level, spec)
    measured = [
        r
        for r in runs
        if r.speculation is not None
        and r.speculation.draft_max
        and r.parts is not None
        and r.error is None
        and family_key(r.target, r.level, r.speculation) == key
        and (ratio := r.speedup_ratio()) is not None
        and ratio.ci95 is not None
    ]
    base = next((r for r in runs if r.draft is None and r.target == target and r.level == level and r.done), None)
    loop = draft_loop(measured, base) if measured and base is not None else None
    return (loop, measured) if loop is not None else None


def relative(spec: Speculation, other: RunResult, runs: Iterable[RunResult]) -> float | None:
    """The model's ratio of ``spec``'s speedup to ``other``'s, a measured setup of the same draft (its error is the
    model's alone: both share ``other``'s measurement); None where the two are not of one family or unmodelled."""
    found = _loop(other.target, other.level, spec, list(runs))
    if (
        found is None
        or other.speculation is None
        or not other.speculation.draft_max
        or spec.draft_max is None
        or family_key(other.target, other.level, other.speculation) != family_key(other.target, other.level, spec)
    ):
        return None
    there = found[0].speedup(other.speculation.draft_max)
    return found[0].speedup(spec.draft_max) / there if there > 0 else None


def predict(target: str, level: Level, spec: Speculation, runs: Iterable[RunResult]) -> Prediction | None:
    """``spec``'s speedup from the measured runs of its draft (see the module note); None where none has
    cost-model parts and a paired interval, or the setup is not :func:`predictable`."""
    found = _loop(target, level, spec, list(runs))
    if found is None:
        return None
    loop, measured = found
    assert spec.draft_max is not None
    near = min(
        measured,
        key=lambda r: (
            abs(math.log((r.speculation.draft_max or 1) / spec.draft_max)),  # type: ignore[union-attr]  # predictable setups have a draft length (predict.predictable)
            -(r.n_requests or 0),
        ),
    )
    there, here = loop.speedup(near.speculation.draft_max or 1), loop.speedup(spec.draft_max)  # type: ignore[union-attr]  # predictable setups have a draft length (predict.predictable)
    ratio = near.speedup_ratio()
    if there <= 0 or ratio is None or ratio.ci95 is None:
        return None
    f = here / there
    scaled = stats.widened(
        stats.Ratio(ratio.value * f, (ratio.ci95[0] * f, ratio.ci95[1] * f), ratio.n, ratio.paired), math.log(1 + TOLERANCE)
    )
    assert scaled.ci95 is not None
    return Prediction(scaled.value, scaled.ci95, str(near.draft), ratio.n)


def saved(run: RunResult) -> Prediction | None:
    """The prediction a run carries (the model search's, when it decided), or None."""
    if run.predicted_speedup is None or not run.predicted_ci95 or len(run.predicted_ci95) != 2:
        return None
    return Prediction(run.predicted_speedup, (run.predicted_ci95[0], run.predicted_ci95[1]), run.predicted_from or "?", 0)
