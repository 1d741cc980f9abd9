"""The cost model against hand-computed cases, and its estimator on scripted counts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from draftbench.measure import probes
from draftbench.records.probes import LoopVerification, PositionCounts
from draftbench.records.requests import RequestResult
from draftbench.results import costmodel as cm
from draftbench.results import explain
from draftbench.results.schema import RunResult
from draftbench.setup.speculation import Speculation

FLAT = {1: 1.0, 2: 1.0, 17: 1.0}  # verifying any batch costs one step (memory-bound target)


def test_tokens_per_pass_limits():
    assert cm.tokens_per_pass(0.0, 3) == 1.0  # nothing accepted: the bonus token only
    assert cm.tokens_per_pass(1.0, 3) == 4.0
    assert cm.tokens_per_pass(0.5, 2) == pytest.approx(1.75)  # 1 + 0.5 + 0.25
    assert cm.tokens_per_pass(0.999999, 3) == pytest.approx(4.0, rel=1e-4)


def test_no_acceptance_gives_no_gain_and_costs_the_drafting():
    costs = {1: 1.0, 4: 1.3}
    assert cm.speedup(0.0, 3, 0.1, costs) == pytest.approx(1 / (0.3 + 1.3))
    assert cm.speedup(0.0, 3, 0.0, FLAT) == pytest.approx(1.0)


def test_full_acceptance_approaches_g_plus_one_over_cost():
    costs = {1: 1.0, 5: 1.6}
    assert cm.speedup(0.9999, 4, 0.05, costs) == pytest.approx(5 / (4 * 0.05 + 1.6), rel=1e-3)


def test_hand_computed_speedup():
    assert cm.speedup(0.5, 2, 0.1, {1: 1.0, 3: 1.2}) == pytest.approx(1.75 / 1.4)


def test_verify_cost_interpolates_and_extrapolates():
    costs = {1: 1.0, 3: 1.4}
    assert cm.verify_cost(costs, 2) == pytest.approx(1.2)
    assert cm.verify_cost(costs, 5) == pytest.approx(1.8)
    assert cm.verify_cost(costs, 1) == 1.0


def test_fit_acceptance_inverts_the_expected_accepted_count():
    assert cm.fit_acceptance(0.75, 2) == pytest.approx(0.5, abs=1e-9)  # 0.5 + 0.25
    for a, g in ((0.3, 3), (0.8, 5), (0.6, 1.7)):
        assert cm.fit_acceptance(cm.accepted_per_pass(a, g), g) == pytest.approx(a, abs=1e-9)
    assert cm.fit_acceptance(0, 3) == 0.0 and cm.fit_acceptance(3, 3) == cm.A_MAX
    assert cm.fit_acceptance(1, 0) is None


def test_best_length_follows_verify_cost():
    assert cm.best_length(0.8, 0.0, FLAT) == cm.MAX_DRAFT_LENGTH  # free drafts, free verification: draft long
    compute_bound = {1: 1.0, 17: 17.0}  # verifying k tokens costs k steps
    assert cm.best_length(0.8, 0.1, compute_bound) == 1
    costs = {1: 1.0, 2: 1.1, 3: 1.2, 4: 1.4, 5: 1.7, 6: 2.0, 9: 3.0}
    expected = max(range(1, 9), key=lambda g: cm.tokens_per_pass(0.6, g) / (0.1 * g + cm.verify_cost(costs, g + 1)))
    assert cm.best_length(0.6, 0.1, costs, 8) == expected


def test_explain_on_scripted_counts():
    # 100 tokens in 60 target passes; 90 drafted, 40 accepted
    parts = cm.explain(100, 90, 40, c=0.1, costs={1: 1.0, 3: 1.2}, draft_max=2)
    assert parts.target_passes == 60
    assert parts.accepted_length == pytest.approx(100 / 60)
    assert parts.drafted_per_pass == pytest.approx(1.5)
    assert cm.accepted_per_pass(parts.acceptance_per_token, 1.5) == pytest.approx(40 / 60)
    v = 1.0 + 0.2 * 1.5 / 2  # v(2.5), between v(1) = 1 and v(3) = 1.2
    assert parts.verify_cost == pytest.approx(v)
    assert parts.predicted_speedup == pytest.approx((100 / 60) / (0.15 + v))
    assert parts.drafting_share == pytest.approx(0.15 / (0.15 + v))
    assert cm.explain(10, 0, 0, 0.1, FLAT) is None  # nothing drafted: nothing to explain


@pytest.mark.parametrize(
    "a, c, costs, draft_max, needle",
    [
        (0.2, 0.1, FLAT, 3, "acceptance too low"),
        (0.5, 0.6, FLAT, 3, "draft too slow for its acceptance"),
        (0.6, 0.05, {1: 1.0, 2: 1.05, 3: 1.15, 9: 4.0}, 8, "verification of a 9-token batch costs"),
        (0.9, 0.02, FLAT, 2, "longer drafts predicted to pay"),
    ],
)
def test_verdicts(a, c, costs, draft_max, needle):
    best = cm.best_length(a, c, costs)
    assert needle in cm.verdict(a, draft_max, cm.Loop((a,), c, costs), draft_max, best)


def test_near_optimum_verdict():
    costs = {1: 1.0, 2: 1.1, 3: 1.2, 4: 1.4, 5: 1.7, 9: 3.5}
    best = cm.best_length(0.6, 0.1, costs)
    assert cm.verdict(0.6, best, cm.Loop((0.6,), 0.1, costs), best, best) == "near the model's optimum"


def test_explain_run_needs_every_part():
    base = RunResult("T", None, mean_tps=20.0, verify_costs={"1": 1.0, "4": 1.3}, speculation=Speculation())
    requests = [RequestResult("p", completion_tokens=50, draft_n=45, draft_n_accepted=20)] * 2
    run = RunResult(
        "T", "d", mean_tps=25.0, speculation=Speculation("d.gguf", draft_max=3), requests=requests, draft_alone_tps=200.0
    )
    run = replace(run, parts=explain.explain_run(run, base))
    assert run.parts is not None and run.parts.draft_cost_ratio == pytest.approx(0.1)
    assert run.parts.target_passes == 60
    legacy = RunResult("T", "d", mean_tps=25.0, requests=requests)  # the original tool's files: no parts
    assert explain.explain_run(legacy, base) is None
    free = RunResult("T", "ngram", mean_tps=22.0, speculation=Speculation(spec_type=("ngram-mod",)), requests=requests)
    assert explain.explain_run(free, base).draft_cost_ratio == 0.0
    again = RunResult.from_dict(run.to_dict())
    assert again.parts == run.parts


LOG = """0.03.404.219 I spec common_specu: statistics     draft-simple: #calls(b,g,a) =    1     34     34, #gen drafts =     34, #acc drafts =    34, #gen tokens =    100, #acc tokens =    93, #mean acc len = 3.74, #acc rate/pos = (1.000, 0.912, 0.824), dur(b,g,a) = 0.039, 1168.637, 0.024 ms
0.06.297.146 I spec common_specu: statistics     draft-simple: #calls(b,g,a) =    2     68     68, #gen drafts =     68, #acc drafts =    68, #gen tokens =    200, #acc tokens =   186, #mean acc len = 3.74, #acc rate/pos = (1.000, 0.912, 0.824), dur(b,g,a) = 0.065, 2201.637, 0.047 ms
"""


def test_drafting_time_per_pass_from_the_servers_statistics():

    first = probes.last_draft_stats(LOG.splitlines()[0])
    last = probes.last_draft_stats(LOG)
    assert (first.spec_type, first.draft_calls, last.draft_calls) == ("draft-simple", 34, 68)
    assert probes.drafting_ms_per_pass(first, last) == pytest.approx((2201.749 - 1168.7) / 34)
    assert probes.drafting_ms_per_pass(None, first) == pytest.approx(1168.7 / 34)
    assert probes.last_draft_stats("no statistics here") is None


def test_in_process_drafting_time_sets_c():
    # 60 passes drafting 1.5 tokens each; drafting takes 0.3 target steps per pass -> c = 0.2
    parts = cm.explain(100, 90, 40, c=0.05, costs={1: 1.0, 3: 1.2}, drafting_per_pass=0.3)
    assert parts.draft_cost_ratio == pytest.approx(0.2) and parts.draft_cost_source == "in-process"
    assert parts.predicted_speedup == pytest.approx((100 / 60) / (0.3 + 1.15))


def test_advice_is_withdrawn_when_the_model_misses_the_measurement():
    costs = {1: 1.0, 4: 1.3, 17: 3.0}
    parts = cm.explain(100, 90, 60, 0.1, costs, draft_max=3)
    near = cm.checked(parts, parts.predicted_speedup * 1.1)  # within the 15% tolerance: the advice stands
    assert near == parts
    far = cm.checked(parts, 0.88)  # measured -12% where it predicted a gain: no "longer drafts pay"
    assert far.predicted_best_draft_max == 0 and far.verdict.startswith("the model does not explain this run")
    assert "longer" not in far.verdict and cm.checked(parts, None) == parts


def test_acceptance_by_position_pooled_from_hand_counts():
    # 10 verifications at n_max 3 accepting 8, 6, 3 at positions 1-3; 20 at n_max 1 accepting 15 at position 1
    rates = cm.rates_from_positions([(10, [8, 6, 3], 3), (20, [15], 1)])
    assert rates == pytest.approx((23 / 30, 0.6, 0.3))
    assert cm.rates_from_positions([(10, [8], 3)]) == pytest.approx((0.8, 0.0, 0.0))  # never accepted beyond 1


def test_expected_accepted_tokens_by_position():
    rates = (0.8, 0.6)
    assert cm.accepted_by_rates(rates, 2) == pytest.approx(1.4)
    assert cm.accepted_by_rates(rates, 3) == pytest.approx(0.8 + 0.6 + 0.6 * 0.75)  # the last conditional rate goes on
    assert cm.accepted_by_rates(rates, 1.5) == pytest.approx(0.8 + 0.5 * 0.6)
    assert cm.accepted_by_rates((0.5,), 3) == pytest.approx(0.5 + 0.25 + 0.125)  # one rate: the constant model
    assert cm.accepted_by_rates((), 3) == 0.0


def test_acceptance_by_position_fitted_across_draft_lengths():
    # n_max 1 accepts 0.8 per pass; n_max 3 accepts 1.4 = 0.8 + 0.8 q + 0.8 q^2 -> q = 0.5
    assert cm.rates_from_lengths([(3, 1.4), (1, 0.8)]) == pytest.approx((0.8, 0.4, 0.2), abs=1e-9)
    assert cm.rates_from_lengths([(1, 0.8), (3, 0.7)]) == pytest.approx((0.8, 0.0, 0.0))  # no gain: nothing beyond


def test_the_loop_model_on_hand_computed_figures():
    loop = cm.Loop((0.8, 0.6), c=0.1, costs={1: 1.0, 3: 1.2})
    assert loop.speedup(2) == pytest.approx(2.4 / 1.4)  # (1 + 0.8 + 0.6) / (2 * 0.1 + v(3))
    falling = cm.Loop((0.9, 0.45, 0.1), c=0.05, costs={1: 1.0, 2: 1.1, 3: 1.2, 4: 1.3, 9: 2.0})
    assert falling.best() == 2  # acceptance that falls along the draft caps the draft length
    assert cm.Loop((0.9,), c=0.05, costs=falling.costs).best() > 2  # the constant rate would draft longer


def test_footprint_scales_prompt_batches_by_the_loops_measurements():
    prompt = {1: 1.0, 2: 1.1, 4: 1.3, 9: 2.0}
    costs = cm.footprint(prompt, {2.0: 1.32, 4.0: 1.69})  # the loop costs 1.2x at 2 tokens, 1.3x at 4
    assert cm.verify_cost(costs, 2) == pytest.approx(1.32)
    assert cm.verify_cost(costs, 3) == pytest.approx((1.32 + 1.69) / 2)  # between the points: linear
    assert cm.verify_cost(costs, 9) == pytest.approx(2.0 * 1.3)  # beyond: the last factor
    assert cm.footprint(prompt, {}) == prompt and cm.footprint(None, {3.0: 1.5}) == {1.0: 1.0, 3.0: 1.5}


def test_parts_of_older_files_load_with_the_fallbacks_named():
    parts = cm.explain(100, 90, 60, 0.1, {1: 1.0, 4: 1.3}, draft_max=3)
    old = {k: v for k, v in parts.to_dict().items() if k not in ("verify_source", "acceptance_source")}
    again = cm.Parts.from_dict(old)
    assert (again.verify_source, again.acceptance_source) == ("prompt batches", "constant rate")


def test_a_draft_measured_in_the_loop_and_by_position():
    base = RunResult(
        "T", None, mean_tps=20.0, verify_costs={"1": 1.0, "2": 1.1, "4": 1.3, "9": 2.0}, speculation=Speculation()
    )  # a step: 50 ms

    def run(n_max: int, accepted: list[int], verify_ms: float) -> RunResult:
        requests = [
            RequestResult("p", completion_tokens=40 + sum(accepted), draft_n=40 * n_max, draft_n_accepted=sum(accepted))
        ]  # 40 passes drafting n_max tokens each
        return RunResult(
            "T",
            f"d · n_max {n_max}",
            mean_tps=30.0,
            speculation=Speculation("d.gguf", draft_max=n_max),
            requests=requests,
            draft_ms_per_pass=5.0 * n_max,
            verify_in_loop=LoopVerification(verify_ms, n_max, 40, 0.0, 0.75),
            position_counts=PositionCounts(40, tuple(accepted)),
        )

    one, three = run(1, [32], 60.0), run(3, [32, 24, 12], 78.0)
    parts = explain.explain_run(three, base, [one, three])
    assert (parts.verify_source, parts.acceptance_source) == ("in the loop", "by position (server counts)")
    assert parts.verify_cost == pytest.approx(78.0 / 50)  # its own batch size, from the synthetic-acceptance twin
    assert parts.draft_cost_ratio == pytest.approx(0.1)  # 15 ms of drafting per pass, 3 drafted, 50 ms a step
    assert parts.predicted_speedup == pytest.approx((108 / 40) / (0.3 + 1.56))
    loop = explain.draft_loop([one, replace(three, parts=parts)], base)
    assert loop.rates == pytest.approx((0.8, 0.6, 0.3))
    alone = explain.explain_run(replace(three, verify_in_loop=None, position_counts=None), base)
    assert (alone.verify_source, alone.acceptance_source) == ("prompt batches", "constant rate")


def test_positions_from_the_servers_statistics():

    first, last = probes.last_draft_stats(LOG.splitlines()[0]), probes.last_draft_stats(LOG)
    assert first.accepted_by_position == (34, 31, 28) and last.accepted_by_position == (68, 62, 56)
    assert probes.position_counts(first, last) == PositionCounts(34, (34, 31, 28))
    older = LOG.splitlines()[0].replace(", #mean acc len = 3.74, #acc rate/pos = (1.000, 0.912, 0.824)", "")
    assert probes.last_draft_stats(older).accepted_by_position is None  # a build without positions
    assert probes.position_counts(None, probes.last_draft_stats(older)) is None


def test_drafts_cut_by_confidence_are_geometric_in_the_length():
    """p-min ends a draft at the first position the draft is unsure of: fitted at one length (the demo's 1-layer
    draft at p-min 0.9 drafted 1.78 tokens per pass at n_max 8), the model gives the shorter lengths what the
    server measured there (1.05 at n_max 2, 1.32 at 3), where a fixed share of the length would give 0.45 and 0.67."""
    go_on = cm.cut_by_confidence(8, 1.78)
    assert go_on is not None and 0.5 < go_on < 0.8
    loop = cm.Loop((0.7,), 0.05, {1.0: 1.0, 2.0: 1.2}, 1.78 / 8, go_on)
    assert loop.drafted(8) == pytest.approx(1.78, rel=1e-6)
    assert loop.drafted(2) == pytest.approx(1.05, abs=0.05) and loop.drafted(3) == pytest.approx(1.32, abs=0.05)
    assert all(loop.drafted(n) < loop.drafted(n + 1) < go_on / (1 - go_on) for n in range(1, 16))


def test_drafts_that_fill_the_length_keep_a_fixed_share():
    """Without a confidence cut, drafts fall short of the length only as replies end: a fixed share of it."""
    assert cm.cut_by_confidence(8, 6.97) is None and cm.cut_by_confidence(1, 0.95) is None
    assert cm.cut_by_confidence(8, 0.75 * 8 - 0.01) is not None
    loop = cm.Loop((0.7,), 0.05, {1.0: 1.0}, 0.9)
    assert loop.drafted(5) == pytest.approx(4.5)


def test_the_synthetic_twin_times_full_drafts_whatever_the_p_min():
    """A p-min cut would end the twin's drafts and hide its passes that draft nothing: the twin runs at p-min 0."""
    from draftbench.sweep.cost_probes import twin

    synth = ("--spec-synth-rates", "0.75,0.56")
    cut = twin(Speculation(draft_path="/m/d.gguf", draft_max=2, draft_p_min=0.9), synth)
    assert cut.draft_p_min == 0.0 and cut.draft_max == 2 and cut.extra_args[-2:] == synth
    plain = twin(Speculation(draft_path="/m/d.gguf", draft_max=2), synth)
    assert plain.draft_p_min is None and plain.extra_args == synth
