"""Predict, then verify (``"search": "model"``): the adaptive search with its screening replaced by the cost model.

Per target and level, after the baseline:

1. **Calibrate**: each draft model (each setup family that differs only in draft length: same target, level, draft,
   types, p-min and sampling) gets one measured setup, the length its prior predicts best, a first block of
   ``2 x block`` requests: enough for the cost model's parts (acceptance by position, drafting cost, v(k) in the
   loop) and a paired interval. Setups the model does not predict (n-gram types, heads) are each measured like
   this.
2. **Race**: the paused calibrations and every setup not measured yet race in step: the setup with the fewest
   requests goes next (a setup not measured yet first, the best prediction first: :mod:`results.predict`, the
   nearest measured length's paired speedup scaled by the draft's model, its interval widened by the model's
   tolerance), and a setup pauses at each look (after its calibration block, then on the doubling schedule) until
   every contender still open has reached it; the best of those at the look goes on first. So no setup is measured
   in full before the others were compared with it at equal requests: the leader is chosen by data, not by which
   length was calibrated. A look compares with the best other setup measured that far (finished or not), on the
   requests both have: stopped as slower or tied (the adaptive search's rule), and also as tied once its interval
   says it cannot beat that setup by more than the resolution (one-sided: it may be slower; such a setup is an
   answer within the leader's interval either way, and is named beside it).
3. **Verify**: every measured setup that had a prediction is checked against it after its first block; where the
   measurement misses (the prediction outside its interval widened by the model's tolerance), that draft's other
   lengths are no longer predicted: each is measured (first block, then the race), so a wrong model costs time,
   never the answer. Until one of a draft's predictions held, its predictions stop a setup only with the model's
   tolerance counted twice (so a draft far below the leader is not measured again just to check the model), and
   its best predicted length is measured like any other. The checks read the runs, so a resumed sweep applies
   them again.
4. **Never measured**: an unmeasured setup of a trusted draft cannot hold the best when its prediction's upper bound
   is below the measured leader's speedup (the best setup measured so far, by its point estimate; or below no
   speculation), or, where the leader is another length of the same draft, when the model puts it more than its
   tolerance below the leader (both share the leader's measurement, so only the model's error separates them).
   It is saved as ``pruned_as: "predicted"`` with its prediction and never measured. The recommendation is always a
   measured setup; ties are named as by the adaptive search.

The model's parts are measured at the sweep's first level only; other levels have no parts, nothing is predicted
there, and every setup of those levels is measured as by the adaptive search. Predictions are computed again from
what was measured each time the search decides, so a resumed sweep never trusts a stale one."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

from ..core import gguf_header, stats
from ..results import drift, predict
from ..results.predict import Prediction
from ..results.schema import RunResult
from ..setup.config import SweepSettings
from . import stopping
from .adaptive import Search, predicted_speedup, rates, screened
from .plan import Cell


def family_of(cell: Cell) -> tuple:
    return predict.family_key(cell.target.label, cell.level, cell.setup.speculation)


def checked(runs: Mapping[tuple, RunResult], held: bool) -> set[tuple]:
    """The setup families where a measured setup's prediction held (``held``), or missed (see the module note)."""
    out = set()
    for r in runs.values():
        had = predict.saved(r)
        if had is not None and r.speculation is not None and r.requests and had.misses(r.speedup_ratio()) != held:
            out.add(predict.family_key(r.target, r.level, r.speculation))
    return out


def missed(runs: Mapping[tuple, RunResult]) -> set[tuple]:
    return checked(runs, held=False)


class ModelSearch(Search):
    """See the module note. Shares the adaptive search's blocks, looks and race; replaces its screening."""

    pause_note = "the contenders race in step: none goes past a look before every one still open has reached it"

    def __init__(self, settings: SweepSettings, size: Callable[[str], int] = gguf_header.file_size):
        super().__init__(settings, size)
        self.calibration = min(self.total, 2 * self.block)
        self.predictions: dict[tuple, Prediction] = {}  # cell key -> its prediction when it was picked

    def describe(self) -> str:
        return (
            f"Model search: each draft model calibrated on one length ({self.calibration} requests), every other "
            f"setup predicted by the cost model and measured only where its prediction can still beat the "
            f"measured leader; measured setups race in step and can stop as slower or tied (within "
            f"{self.resolution:.0%}) after "
            f"{', '.join(map(str, stopping.doubling(self.calibration, self.total))) or 'no'} requests; a "
            "prediction that misses its measurement falls back to measuring that draft's other lengths. "
            "Predicted at the sweep's first level; other levels are searched adaptively"
        )

    def sizes(self, done: int) -> list[int]:
        """Looks on a doubling schedule from the calibration block (6, 12, then the rest of 24): every setup but the
        leader is a contender the model already put near the top, so a look spends its share of alpha where the
        interval can be narrow enough to stop it."""
        points = [p for p in (*stopping.doubling(self.calibration, self.total), self.total) if p > done]
        return [b - a for a, b in zip([done, *points], points)]

    def alpha(self, measured: int) -> float:
        looks = stopping.doubling(self.calibration, self.total)
        return stopping.spent(sum(p < measured for p in looks) + 1, len(looks))

    def look_pending(self, run: RunResult) -> bool:
        """Paused where a look is due: after the calibration block, or at a later look of the doubling schedule."""
        return run.in_progress and len(run.requests) in stopping.doubling(self.calibration, self.total)

    def reference_fit(self, other: RunResult, n: int) -> bool:
        """The race goes in step, so a look after ``n`` requests compares with the best other setup measured to
        ``n`` requests or more (on the requests both have), finished or not."""
        return (
            other.draft is not None
            and not other.pruned
            and other.speculation_active is not False
            and screened(other)
            and len(other.requests) >= n
        )

    def _must_measure(self, left: list[Cell], runs: Mapping[tuple, RunResult]) -> list[Cell]:
        """Fresh setups that calibrate a family nobody measured, or that the model cannot predict."""
        families = {family_of(c) for c in left}
        measured = {
            predict.family_key(r.target, r.level, r.speculation)
            for r in runs.values()
            if r.speculation is not None and screened(r)
        }
        wrong = missed(runs)
        out = []
        for fam in families:
            mine = [c for c in left if family_of(c) == fam and not screened(runs.get(c.key))]
            if not mine:
                continue
            if fam in wrong or not predict.predictable(mine[0].setup.speculation):
                out += mine
            elif fam not in measured:
                prior = {c.index: predicted_speedup(c, runs, self.size) or 0.0 for c in mine}
                middle = sorted(mine, key=lambda c: c.setup.speculation.draft_max or 0)[len(mine) // 2]
                out.append(max(mine, key=lambda c: (prior[c.index], c is middle)) if any(prior.values()) else middle)
        return sorted(out, key=lambda c: c.index)

    def _next(self, left: list[Cell], runs: Mapping[tuple, RunResult]) -> Cell:
        fresh = self._must_measure(left, runs)
        if fresh:
            return super()._next(fresh, runs)  # the adaptive search's prior order among them
        ref = runs.get(left[0].baseline_key)
        base, shift = (rates(ref), drift.of(ref)) if ref is not None else ([], None)

        def standing(cell: Cell) -> tuple[int, float]:  # fewest requests first (in step), then the best
            run = runs.get(cell.key)
            if screened(run):
                assert run is not None
                return (-len(run.requests), stopping.geo_speedup(rates(run, shift), base) or 0.0)
            p = self.prediction(cell, runs)
            return (0, p.speedup if p is not None else 0.0)

        return max(left, key=standing)

    def prediction(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> Prediction | None:
        """``cell``'s prediction from what is measured now (None: not predicted), remembered for its record."""
        if family_of(cell) in missed(runs):
            return None
        p = predict.predict(cell.target.label, cell.level, cell.setup.speculation, runs.values())
        if p is not None:
            self.predictions[cell.key] = p
        return p

    def leader(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> tuple[str, float] | None:
        """The measured leader at ``cell``'s target and level and its speedup: the best setup measured so far (its
        calibration block at least, not stopped; the race goes in step, so the leader may not be finished yet), or
        the baseline (1.0) where none beats it (no speculation can be the answer too); None without a baseline."""
        base = runs.get(cell.baseline_key)
        if base is None or not base.done:
            return None
        measured = self.references(base, self.calibration, runs)
        best = stopping.leader(measured, rates(base))
        return ("baseline", 1.0) if best == "baseline" else (best, stopping.geo_speedup(measured[best], rates(base)) or 0.0)

    def predicted_stop(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> stopping.Stop | None:
        """A setup never measured whose prediction cannot beat the measured leader: its fields as a stopped run
        (``pruned_as`` "predicted", with its prediction); None to measure it."""
        if screened(runs.get(cell.key)) or cell.setup.is_baseline:
            return None
        p, lead = self.prediction(cell, runs), self.leader(cell, runs)
        if p is None or lead is None:
            return None
        trusted = family_of(cell) in checked(runs, held=True)  # one of the draft's predictions held
        p = p if trusted else p.as_unchecked()
        sibling = runs.get((cell.target.label, lead[0], cell.level, cell.shard))
        f = predict.relative(cell.setup.speculation, sibling, runs.values()) if sibling is not None else None
        if trusted and f is not None and f * (1 + predict.TOLERANCE) < 1:  # the leader: a length of the same draft
            why = (
                f"{p.text()}; the cost model puts it {stats.pct(f)} against {lead[0]}, another length of the same "
                f"draft measured at {stats.pct(lead[1])} (beyond the model's {predict.TOLERANCE:.0%} tolerance)"
            )
        elif p.ci95[1] < lead[1]:
            why = f"{p.text()}: at most {stats.pct(p.ci95[1])}, below " + (
                "no speculation" if lead[0] == "baseline" else f"{lead[0]}'s measured {stats.pct(lead[1])}"
            )
        else:
            return None
        return stopping.Stop("predicted", lead[0], why, p.ci95, p)

    def look(self, run: RunResult, runs: Mapping[tuple, RunResult]) -> stopping.Decision | None:
        """The adaptive search's look, and one more stop: a challenger whose interval against a measured leader says
        it cannot be better by more than the resolution is stopped as tied (one-sided: it may be slower). Any such
        setup is an answer within the leader's interval, so measuring it on cannot change the answer."""
        d = super().look(run, runs)
        if d is None or d.pruned or d.reference == "baseline" or d.interval[1] >= 1 + self.resolution:
            return d
        return replace(d, stop="tied")

    def prediction_of(self, cell: Cell) -> predict.Prediction | None:
        """What a measured run keeps of the prediction it had when it was picked (checked after its first block)."""
        return self.predictions.get(cell.key)

    def verdict(self, run: RunResult) -> str | None:
        """After a block: the miss of the prediction ``run`` had, in words (None: it held, or had none)."""
        had = predict.saved(run)
        ratio = run.speedup_ratio()
        if had is None or not had.misses(ratio) or ratio is None:
            return None
        return (
            f"prediction missed: {had.text()}, measured {stats.ratio_text(ratio)}: the model is not trusted for "
            f"the other lengths of this draft, they are measured"
        )


def expected_requests(cells: list[Cell], settings: SweepSettings) -> tuple[int, int]:
    """(measured requests the model search expects, those of the exhaustive sweep), before anything is measured:
    per target and level the baseline in full and one setup in full (the leader); at the first level a
    calibration block per draft family, about one more for verifying each, and one contender raced on in step to
    the second look; setups the model cannot predict, and every setup of the other levels, a first block each (the
    adaptive search's screening)."""
    total, block = settings.requests * settings.runs, settings.block
    calibration, first = min(total, 2 * block), settings.levels()[0]
    looks = stopping.doubling(calibration, total)
    in_step = looks[1] - looks[0] if len(looks) > 1 else 0
    expected = exhaustive = 0
    for group in dict.fromkeys((c.target.label, c.level) for c in cells):
        mine = [c for c in cells if (c.target.label, c.level) == group and not c.setup.is_baseline]
        exhaustive += total * (len(mine) + 1)
        if not mine:
            expected += total
            continue
        modelled = [c for c in mine if group[1] == first and predict.predictable(c.setup.speculation)]
        families = len({family_of(c) for c in modelled})
        others = len(mine) - len(modelled)
        expected += total + (total - calibration) + 2 * families * calibration + others * block + (in_step if families else 0)
    return min(expected, exhaustive), exhaustive
