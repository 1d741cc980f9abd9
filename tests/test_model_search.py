"""The model search (predict, then verify) on scripted runs (no servers): one calibration per draft, setups that
cannot beat the measured leader never measured, a missed prediction falls back to measuring, and the counts."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from draftbench.records.requests import RequestResult
from draftbench.results import predict
from draftbench.results.costmodel import Parts
from draftbench.results.savings import search_savings
from draftbench.results.schema import RunResult
from draftbench.setup.config import ModelEntry, SweepSettings
from draftbench.setup.speculation import Setup, Speculation
from draftbench.sweep.adaptive import Search
from draftbench.sweep.model_search import ModelSearch, expected_requests, missed
from draftbench.sweep.plan import Cell

BASE = [30.0, 22.0, 41.0, 27.0, 35.0, 25.0, 38.0, 29.0, 33.0, 31.0, 24.0, 36.0]
WOBBLE = [0.02, -0.03, 0.01, -0.01, 0.03, -0.02, 0.0, 0.02, -0.01, 0.01, -0.02, 0.02]
TARGET = ModelEntry("T", "/m/t.gguf")
COSTS = {"1": 1.0, "2": 1.04, "3": 1.08, "4": 1.12, "5": 1.16, "9": 1.6}


def spec(path: str, n: int) -> Speculation:
    return Speculation(path, ("draft-simple",), draft_max=n)


def cell(i: int, path: str, n: int) -> Cell:
    return Cell(i, TARGET, Setup(f"{path[3:5]} n{n}", spec(path, n)))


def run(c: Cell | None, factor: float, n: int, **kw) -> RunResult:
    """``n`` requests at ``factor`` times the baseline, with cost-model parts (a = 0.7, c = 0.05) and the paired
    interval a measured run has."""
    tps = [b * factor * math.exp(w) for b, w in zip(BASE, WOBBLE)][:n]
    if c is None:
        return RunResult(
            "T",
            None,
            mean_tps=sum(tps) / n,
            n_requests=n,
            verify_costs=COSTS,
            requests=[RequestResult(f"p{i}", decode_tps=v) for i, v in enumerate(tps)],
        )
    half = 0.03 * math.sqrt(12 / n)
    return RunResult(
        "T",
        c.setup.label,
        mean_tps=sum(tps) / n,
        n_requests=n,
        speculation=c.setup.speculation,
        speculation_active=True,
        speedup=factor,
        speedup_ci95=[factor * math.exp(-half), factor * math.exp(half)],
        speedup_n=n,
        speedup_design="paired",
        parts=Parts(10, 2.0, float(c.setup.speculation.draft_max or 1), 0.7, 0.05, 1.1, factor, 0.1, 4, "x"),
        requests=[RequestResult(f"p{i}", decode_tps=v) for i, v in enumerate(tps)],
        **kw,
    )


def grid() -> tuple[Cell, list[Cell]]:
    base = Cell(1, TARGET, Setup(None, Speculation()))
    cells = [cell(2 + i, path, n) for i, (path, n) in enumerate((p, n) for p in ("/m/d1.gguf", "/m/d4.gguf") for n in (1, 3, 8))]
    return base, cells


def test_each_draft_is_calibrated_on_one_length_before_anything_else():
    s = ModelSearch(SweepSettings(requests=12, block=3))
    base, cells = grid()
    runs = {(TARGET.label, None, base.level, None): run(None, 1.0, 12)}
    order = s.order([base, *cells], runs)
    assert next(order) is base
    first = next(order)
    runs[first.key] = run(first, 1.4, 6, in_progress=True)
    assert s.pauses(first, runs)  # the other draft is not calibrated yet
    second = next(order)
    assert {first.setup.speculation.draft_path, second.setup.speculation.draft_path} == {"/m/d1.gguf", "/m/d4.gguf"}
    assert s.sizes(0) == [6, 6] and s.look_pending(runs[first.key])


def test_a_setup_whose_prediction_cannot_beat_the_measured_leader_is_never_measured():
    s = ModelSearch(SweepSettings(requests=12, block=3))
    base, cells = grid()
    d1n3, d1n8 = cells[1], cells[2]
    runs = {(TARGET.label, None, base.level, None): run(None, 1.0, 12), d1n3.key: run(d1n3, 1.6, 12)}
    p = predict.predict("T", d1n8.level, d1n8.setup.speculation, runs.values())
    assert p is not None and p.source == d1n3.setup.label and p.ci95[1] < 1.6  # n_max 8 at a = 0.7 pays less
    early = s.predicted_stop(d1n8, runs)  # no prediction of d1 has held yet: the model's tolerance counts twice
    wide = p.as_unchecked()
    assert wide.ci95[0] < p.ci95[0] and p.ci95[1] < wide.ci95[1] < 1.6 and wide.speedup == p.speedup
    assert early is not None and list(early.interval) == pytest.approx(list(wide.ci95))
    assert "no prediction of this draft checked yet" in early.reason
    assert "another length of the same draft" not in early.reason  # that rule needs a held one
    held = predict.predict("T", cells[0].level, cells[0].setup.speculation, runs.values())
    assert held is not None
    runs[cells[0].key] = run(cells[0], held.speedup, 6, pruned=True, pruned_as="slower", **held.fields())
    stop = s.predicted_stop(d1n8, runs)  # d1 n1's prediction held: the model is trusted for d1
    assert stop is not None and stop.kind == "predicted" and stop.reference == d1n3.setup.label
    assert stop.prediction is not None and stop.prediction.speedup == pytest.approx(p.speedup)
    assert "the cost model puts it -20% against d1 n3, another length of the same draft" in stop.reason
    assert s.predicted_stop(d1n3, runs) is None  # measured: nothing to predict
    d4n1, d4n3, d4n8 = cells[3:]  # another draft: its prediction's upper bound against the leader's measurement
    runs[d4n3.key] = run(d4n3, 1.2, 12)
    held4 = predict.predict("T", d4n1.level, d4n1.setup.speculation, runs.values())
    runs[d4n1.key] = run(d4n1, held4.speedup, 6, pruned=True, pruned_as="slower", **held4.fields())
    other = s.predicted_stop(d4n8, runs)
    assert other is not None and "below d1 n3's measured +60%" in other.reason


def test_a_missed_prediction_makes_the_rest_of_that_draft_measured():
    """The perturbed model: its prediction for d1 n1 said +60%, the measurement says +5%: the search stops trusting
    the model for d1 and measures its other lengths, even those predicted to lose."""
    s = ModelSearch(SweepSettings(requests=12, block=3))
    base, cells = grid()
    d1n1, d1n3, d1n8 = cells[:3]
    wrong = predict.Prediction(1.6, (1.5, 1.7), d1n3.setup.label, 12)
    runs = {
        (TARGET.label, None, base.level, None): run(None, 1.0, 12),
        d1n3.key: run(d1n3, 1.6, 12),
        d1n1.key: run(d1n1, 1.05, 6, **wrong.fields()),
    }
    assert missed(runs) == {predict.family_key("T", d1n1.level, d1n1.setup.speculation)}
    assert "prediction missed" in (s.verdict(runs[d1n1.key]) or "")
    assert s.predicted_stop(d1n8, runs) is None  # no longer predicted: measured
    d4n1, d4n3, d4n8 = cells[3:]
    runs[d4n3.key] = run(d4n3, 1.3, 12)  # the other draft calibrated and trusted: its lengths race on predictions
    assert s._must_measure([d1n8, d4n1, d4n8], runs) == [d1n8]
    assert s._next([d1n8, d4n1, d4n8], runs) is d1n8  # measured first, before the race
    held = run(d1n1, 1.55, 6, **wrong.fields())
    assert s.verdict(held) is None and not wrong.misses(held.speedup_ratio())


def test_the_savings_count_predicted_verified_and_missed_setups():
    base, cells = grid()
    held = predict.Prediction(1.2, (1.1, 1.3), "x", 6)
    runs = [
        run(None, 1.0, 12),
        run(cells[1], 1.6, 12),
        run(cells[0], 1.18, 6, pruned=True, pruned_as="slower", **held.fields()),
        RunResult(
            "T", cells[2].setup.label, speculation=cells[2].setup.speculation, pruned=True, pruned_as="predicted", **held.fields()
        ),
    ]
    for r in runs:
        for q in r.requests:
            q.completion_tokens, q.total_s = 10, 1.0
    saved = search_savings(runs, 12)
    assert saved is not None and (saved.setups, saved.predicted, saved.verified, saved.missed) == (3, 1, 1, 0)
    assert saved.tokens == 10 * (12 + 12 + 6) and saved.full_tokens == 10 * 12 * 4
    assert saved.sentence().startswith("2 of 3 setups measured (1 only predicted; 1 predictions verified, 0 missed)")


def test_the_dry_run_expects_a_fraction_of_the_exhaustive_requests():
    base, cells = grid()
    expected, every = expected_requests([base, *cells], SweepSettings(requests=24, block=3))
    assert every == 24 * 7
    # the baseline, the leader in full, 2 drafts calibrated and verified, one contender on to the second look (12)
    assert expected == 24 + (24 - 6) + 2 * 2 * 6 + (12 - 6)


def test_a_challenger_that_cannot_beat_the_leader_beyond_the_resolution_stops_as_tied():
    s = ModelSearch(SweepSettings(requests=12, block=3))
    base, cells = grid()
    lead, challenger = cells[1], cells[4]
    runs = {(TARGET.label, None, base.level, None): run(None, 1.0, 12), lead.key: run(lead, 1.6, 12)}
    close = run(challenger, 1.55, 6)  # about 3% slower, request by request: cannot be 5% faster
    jitter = [1.0, 1.06, 0.95, 1.05, 0.96, 1.02]
    close = replace(close, requests=[replace(q, decode_tps=q.decode_tps * j) for q, j in zip(close.requests, jitter)])
    d = s.look(close, {**runs, challenger.key: close})
    assert d is not None and d.stop == "tied" and d.reference == lead.setup.label and d.interval[1] < 1.05
    far = run(challenger, 1.7, 6)  # 6% faster: it may be the best, measured on
    d = s.look(far, {**runs, challenger.key: far})
    assert d is not None and d.stop is None


def test_the_model_search_looks_on_a_doubling_schedule_spending_alpha_over_fewer_looks():
    s = ModelSearch(SweepSettings(requests=24, block=3))
    assert s.sizes(0) == [6, 6, 12] and s.sizes(6) == [6, 12] and s.sizes(12) == [12] and s.sizes(24) == []
    assert s.alpha(6) == pytest.approx(0.025) and s.alpha(12) == pytest.approx(0.025)  # 2 looks, not 6
    assert Search(SweepSettings(requests=24, block=3)).alpha(12) < 0.005  # one look per block: 7 looks


def test_contenders_race_in_step_and_a_look_compares_with_the_best_measured_that_far():
    """No setup goes past a look before every contender still open has reached it (fewest requests first, then the
    best), so the one measured in full is chosen by data at equal requests; a look compares with the best other
    setup measured that far, finished or not (the adaptive search waits for one finished)."""
    s = ModelSearch(SweepSettings(requests=12, block=2))  # calibration 4, looks after 4 and 8 of 12
    base, cells = grid()
    d1n3, d4n3 = cells[1], cells[4]
    runs = {
        (TARGET.label, None, base.level, None): run(None, 1.0, 12),
        d1n3.key: run(d1n3, 1.6, 4, in_progress=True),
        d4n3.key: run(d4n3, 1.3, 4, in_progress=True),
    }
    assert s._next([d4n3, d1n3], runs) is d1n3  # the same requests: the best goes on first
    runs[d1n3.key] = run(d1n3, 1.6, 8, in_progress=True)
    assert s._next([d1n3, d4n3], runs) is d4n3  # then the one behind catches up
    s.left = [d4n3]
    assert s.look_pending(runs[d1n3.key]) and s.pauses(d1n3, runs)  # at its second look, d4 n3 is behind
    d = s.look(runs[d4n3.key], runs)
    assert d is not None and d.reference == d1n3.setup.label and d.n == 4 and d.pruned
    plain = Search(SweepSettings(requests=12, block=2)).look(runs[d4n3.key], runs)
    assert plain is not None and plain.reference == "baseline"  # nothing finished yet
