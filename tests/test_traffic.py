"""Request rates: arrivals drawn from the seed (the same for every setup), the open loop that keeps to them and says
when it cannot, the settings, goodput within the latency targets with bootstrap intervals, the ranking by goodput
(a tie is no win), where each answer holds by rate, and acceptance per server slot from llama-server's log."""

from __future__ import annotations

import statistics

import pytest
from records import evaluated, rendered

from draftbench.errors import ConfigError
from draftbench.measure import loop, slots
from draftbench.records.requests import RequestResult, SlotDrafts
from draftbench.results import recommend, traffic
from draftbench.results.evaluate import EvalSettings, evaluate
from draftbench.results.schema import RunResult
from draftbench.setup.config import parse_config
from draftbench.setup.levels import Level


def test_arrivals_are_drawn_from_the_seed_and_the_rate_alone():
    a = loop.arrivals(2.0, 8, seed=7)
    assert a == loop.arrivals(2.0, 8, seed=7) and a[0] == 0.0 and a == sorted(a)
    assert a != loop.arrivals(2.0, 8, seed=8) and a != loop.arrivals(3.0, 8, seed=7)
    later = loop.arrivals(2.0, 8, seed=7, skip=3)  # a later block: the same arrivals, from its first
    whole = loop.arrivals(2.0, 11, seed=7)
    assert later == pytest.approx([t - whole[3] for t in whole[3:]])
    gaps = [b - x for x, b in zip(*(lambda t: (t, t[1:]))(loop.arrivals(4.0, 4001, seed=1)))]
    assert statistics.fmean(gaps) == pytest.approx(0.25, rel=0.08)  # Poisson: mean gap 1/rate
    assert loop.arrivals(4.0, 4, seed=1, arrival="constant") == pytest.approx([0, 0.25, 0.5, 0.75])
    assert loop.arrivals(0.0, 3, seed=1) == [0.0, 0.0, 0.0]  # "inf": every request at once


class Clocked:
    """An executor on a virtual clock: each request takes ``busy_s``; submitting one takes ``submit_s``."""

    def __init__(self, busy_s: float, submit_s: float = 0.0):
        self.now, self.busy_s, self.submit_s, self.pending = 0.0, busy_s, submit_s, []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s

    def submit(self, index: int) -> None:
        self.now += self.submit_s
        self.pending.append((self.now + self.busy_s, index))

    def next_done(self):
        self.pending.sort()
        ended, index = self.pending.pop(0)
        return index, RequestResult(str(index), decode_tps=10.0), ended


def test_the_open_loop_sends_at_the_arrival_times_whatever_is_in_flight():
    ex = Clocked(busy_s=5.0)
    done = loop.open_loop([0.0, 1.0, 1.5, 4.0], ex, ex.clock, ex.sleep)
    assert [r.sent_at_s for r in done.results] == [0.0, 1.0, 1.5, 4.0] == [r.scheduled_at_s for r in done.results]
    assert done.max_in_flight == 4 and done.wall_s == pytest.approx(9.0)
    assert loop.behind(done.results, 1.0) == []


def test_a_client_that_cannot_keep_to_its_schedule_says_so():
    ex = Clocked(busy_s=1.0, submit_s=0.05)  # each send costs the client 50 ms: 100 req/s is beyond it
    times = loop.arrivals(100.0, 40, seed=3, arrival="constant")
    done = loop.open_loop(times, ex, ex.clock, ex.sleep)
    (said,) = loop.behind(done.results, 100.0)
    assert "fell behind its schedule at 100 req/s" in said and "lower rate than asked" in said
    base = rate_run(None, 100.0, [1.0] * 40, [0.1] * 40)
    late = RunResult("T", None, request_rate=100.0, requests=done.results, loop_wall_s=done.wall_s, mean_tps=10.0, n_requests=40)
    (scored,) = evaluated([late])
    assert scored.traffic.late_requests > 30 and scored.traffic.sent_rate < 25
    assert "late)" in rendered({"name": "x", "settings": {"request_rate": [100]}}, [late]) and base


def test_rate_settings_read_inf_as_every_request_at_once_and_check_the_targets():
    config = {"name": "c", "targets": [{"label": "t", "path": "t.gguf"}], "drafts": []}
    cfg = parse_config(
        {**config, "settings": {"request_rate": ["inf", 0.5, 2], "slo": {"ttft_s": 1, "percentile": 95}}}, check_files=False
    )
    assert [lv.request_rate for lv in cfg.settings.levels()] == [0.5, 2.0, 0.0]  # "inf" (0) is the highest
    assert dict(cfg.settings.slo) == {"ttft_s": 1.0, "percentile": 95.0}
    for bad, said in (
        ({"request_rate": [-1]}, "settings.request_rate"),
        ({"request_rate": ["fast"]}, "settings.request_rate"),
        ({"slo": {"ttft": 1}}, "'ttft' is not a target"),
        ({"slo": {"tpot_s": -0.1}}, "tpot_s must be a number above 0"),
        ({"arrival": "bursty"}, "settings.arrival"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_config({**config, "settings": bad}, check_files=False)
        assert any(said in p for p in caught.value.problems), caught.value.problems


def rate_run(draft: str | None, rate: float, ttfts: list[float], tpots: list[float], wall_s: float = 10.0) -> RunResult:
    requests = [
        RequestResult(
            f"p{i}",
            ttft_s=t,
            total_s=t + 31 * p,
            completion_tokens=32,
            decode_tps=1 / p,
            scheduled_at_s=i * 0.5,
            sent_at_s=i * 0.5,
        )
        for i, (t, p) in enumerate(zip(ttfts, tpots))
    ]
    tps = statistics.fmean(q.decode_tps for q in requests)
    return RunResult("T", draft, request_rate=rate, requests=requests, loop_wall_s=wall_s, mean_tps=tps, n_requests=len(requests))


SLO = {"ttft_s": 1.0, "tpot_s": 0.05, "percentile": 90.0}


def scored(runs: list[RunResult]) -> list[RunResult]:
    """Runs evaluated with the latency targets, as a sweep with ``settings.slo`` evaluates them."""
    return list(evaluate(runs, EvalSettings(slo=tuple(sorted(SLO.items())))).runs)


def test_goodput_counts_the_requests_that_met_every_target_per_second():
    run = rate_run(None, 2.0, [0.5] * 15 + [2.0] * 5, [0.04] * 18 + [0.06] * 2)
    s = traffic.score(run, None, SLO)
    assert s.goodput_rps == pytest.approx(15 / 10.0) and s.met_share == pytest.approx(0.75)
    assert s.throughput_rps == pytest.approx(2.0) and s.slo_met is False  # p90 TTFT is 2 s
    assert s.goodput_ci95[0] < 1.5 < s.goodput_ci95[1] and s.ttft_s.p50 == pytest.approx(0.5)
    assert traffic.score(rate_run(None, 2.0, [0.5] * 20, [0.04] * 20), None, SLO).slo_met is True


def test_a_rate_is_ranked_by_goodput_and_a_tie_with_the_baseline_is_no_win():
    n = 24
    base = rate_run(None, 2.0, [0.5 if i % 2 else 1.5 for i in range(n)], [0.04] * n)
    fast_decode_late = rate_run("big draft", 2.0, [1.2] * n, [0.02] * n)  # decodes faster, misses the TTFT target
    steady = rate_run("small draft", 2.0, [0.4] * n, [0.035] * n)
    runs = scored([base, fast_decode_late, steady])
    (rec,) = recommend.recommend(runs, slo=SLO)
    assert rec.best.draft == "small draft" and "goodput" in rec.sentence()
    by = {r.draft: r for r in runs}
    assert (by["big draft"].speedup or 0) > (by["small draft"].speedup or 0)  # the decode ranking says the opposite
    same = rate_run("same", 2.0, [0.5 if i % 2 else 1.5 for i in range(n)], [0.04] * n)
    (tie,) = recommend.recommend(scored([base, same]), slo=SLO)
    assert tie.use() is None


def test_the_summary_says_where_each_answer_holds_and_where_speculation_stops_paying():
    n = 24
    runs = []
    for rate, setup_ttft in ((0.5, 0.3), (1.0, 0.3), (2.0, 3.0)):
        runs += [
            rate_run(None, rate, [1.2] * n, [0.04] * n),
            rate_run("d", rate, [setup_ttft + 0.01 * (i % 3) for i in range(n)], [0.03] * n),
        ]
    recs = recommend.recommend(scored(runs), slo=SLO)
    (line,) = traffic.rate_lines(recs)
    assert "d at 0.5 req/s to 1 req/s" in line and "no speculation at 2 req/s" in line
    assert "speculation stops paying between 1 req/s and 2 req/s" in line
    assert [r.level for r in recs] == [Level(1, None, None, r) for r in (0.5, 1.0, 2.0)]


LOG = """\
0.01.0 I slot print_timing: id  0 | task 1 |       total time =  100.00 ms /  40 tokens
0.01.0 I slot print_timing: id  0 | task 1 | draft acceptance = 0.50000 (   10 accepted /    20 generated), mean len =  2.0
0.02.0 I slot print_timing: id  0 | task 5 |       total time =  100.00 ms /  40 tokens
0.02.0 I slot print_timing: id  0 | task 5 | draft acceptance = 0.60000 (   30 accepted /    50 generated), mean len =  2.5
0.02.5 I slot print_timing: id  1 | task 6 |       total time =  100.00 ms /  40 tokens
0.02.5 I slot print_timing: id  1 | task 6 | draft acceptance = 0.02500 (    1 accepted /    40 generated), mean len =  1.0
0.03.0 I slot print_timing: id  0 | task 9 |       total time =  100.00 ms /  40 tokens
0.03.0 I slot print_timing: id  0 | task 9 | draft acceptance = 0.62500 (   25 accepted /    40 generated), mean len =  2.6
"""


def test_acceptance_per_slot_from_the_last_requests_of_the_log_and_a_lagging_slot_flagged():
    assert slots.per_slot(LOG, 3) == [SlotDrafts(0, 2, 90, 55), SlotDrafts(1, 1, 40, 1)]  # task 1 was a warm-up
    (said,) = slots.lagging(slots.per_slot(LOG, 3))
    assert said.startswith("slot 1 accepted 2% of its 40 drafted tokens, the other slots 61%")
    assert slots.lagging([SlotDrafts(0, 2, 90, 55), SlotDrafts(1, 2, 80, 45)]) == []


def test_a_goodput_interval_that_reaches_zero_is_no_crash_and_no_win():
    n = 12
    base = rate_run(None, 2.0, [0.5 if i == 0 else 3.0 for i in range(n)], [0.04] * n)  # 1 request of 12 met the targets
    rare = rate_run("rare", 2.0, [0.5 if i in (3, 7) else 3.0 for i in range(n)], [0.04] * n)  # 2 of 12: twice the goodput
    (rec,) = recommend.recommend(scored([base, rare]), slo=SLO)
    ratio = rec.best.traffic
    assert ratio.goodput_ratio == pytest.approx(2.0) and ratio.goodput_ratio_ci95[0] == 0.0  # a resample without one
    assert (
        rec.use() is None and "not separated from no speculation" in rec.sentence() and "more paired requests" in rec.sentence()
    )


def test_goodput_ties_when_the_same_requests_met_the_targets_whatever_the_tail():
    n = 12
    base = rate_run(None, 0.5, [0.5] * n, [0.04] * n, wall_s=30.0)
    quicker_tail = rate_run("d", 0.5, [0.4] * n, [0.03] * n, wall_s=29.5)  # every request met in both
    (rec,) = recommend.recommend(scored([base, quicker_tail]), slo=SLO)
    assert rec.best.traffic.goodput_ratio == 1.0 and rec.use() is None


def test_the_answer_card_at_a_rate_gives_goodputs_interval():
    n = 24
    base = rate_run(None, 2.0, [0.5 if i % 2 else 1.5 for i in range(n)], [0.04] * n)
    steady = rate_run("small draft", 2.0, [0.4] * n, [0.035] * n)
    html = rendered({"name": "x", "settings": {"slo": SLO, "request_rate": [2]}}, [base, steady])
    facts = html.split('class="facts">', 1)[1].split("</p>", 1)[0]
    assert "goodput 95% CI" in facts and "decode +" in facts, facts
