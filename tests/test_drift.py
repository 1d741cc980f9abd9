"""Baseline drift and machine load on hand-computed cases: the drift factor, its interpolation in time, the
corrected speedup and its interval, the recommendation's words, the adaptive search's reference, and the CPU
accounting read from /proc."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from records import compared, loaded, rendered

from draftbench.core import load, stats
from draftbench.records.requests import RequestResult
from draftbench.results import drift, recommend
from draftbench.results.jsonfile import dump_results, load_results, save_results
from draftbench.results.schema import SCHEMA_VERSION, BaselineCheck, FileMeta, RunResult
from draftbench.setup.config import SweepSettings
from draftbench.sweep import adaptive

PROMPTS = ["p0", "p1", "p2"]


def reqs(tps: list[float], at: float) -> list[RequestResult]:
    """One request per prompt, sent one second apart from ``at``."""
    return [RequestResult(PROMPTS[i], "code", decode_tps=v, completion_tokens=64, sent_unix_s=at + i) for i, v in enumerate(tps)]


def baseline(checks: list[tuple[list[float], float]]) -> RunResult:
    """Measured at 100..102 s at 100, 200, 50 tok/s, then checked as given."""
    return RunResult(
        "T",
        None,
        mean_tps=350 / 3,
        n_requests=3,
        requests=reqs([100, 200, 50], 100),
        baseline_checks=[BaselineCheck(f"s{n}", reqs(tps, at)) for n, (tps, at) in enumerate(checks)],
    )


def setup(tps: list[float], at: float, label: str = "d") -> RunResult:
    return RunResult(
        "T", label, mean_tps=sum(tps) / 3, n_requests=3, requests=reqs(tps, at), acceptance_rate=0.6, speculation_active=True
    )


def test_interpolation_and_widening_by_hand():
    points = [(0.0, 1.0), (10.0, 0.8), (20.0, 0.8)]
    assert [stats.interpolate(points, x) for x in (-5, 0, 5, 10, 15, 30)] == pytest.approx([1, 1, 0.9, 0.8, 0.8, 0.8])
    r = stats.Ratio(2.0, (2.0 * math.exp(-0.3), 2.0 * math.exp(0.3)), 5, True)
    wide = stats.widened(r, 0.4)  # half-widths 0.3 and 0.4 in logs: 0.5 together
    assert wide.value == 2.0 and wide.ci95 == pytest.approx((2.0 * math.exp(-0.5), 2.0 * math.exp(0.5)))
    assert stats.widened(r, 0.0) is r and stats.widened(stats.Ratio(2.0, None, 1, True), 0.4).ci95 is None


def test_a_check_ten_percent_slower_corrects_the_setups_after_it():
    base = baseline([([90, 180, 45], 200)])  # every prompt 0.9x: drift -10%, no doubt
    shift = drift.of(base)
    assert [p.at_unix_s for p in shift.points] == [101, 201] and shift.points[0].ratio.value == 1.0
    assert shift.significant and shift.worst.value == pytest.approx(0.9)
    assert [shift.factor(t) for t in (50, 101, 151, 201, 500)] == pytest.approx([1, 1, 0.95, 0.9, 0.9])
    assert shift.exceeds(0.05) and not shift.exceeds(0.2)
    # a setup measured at 201..203 s (from the check on), 1.8x the baseline's first measurement, is 2x the
    # baseline of its time
    run = compared(setup([180, 360, 90], 201), base, greedy=False)
    assert run.speedup == pytest.approx(2.0) and run.speedup_uncorrected == pytest.approx(1.8)
    assert run.drift_factor == pytest.approx(0.9) and run.speedup_design == "paired" and run.speedup_n == 3
    assert run.categories["code"].speedup == pytest.approx(2.0)
    assert run.categories["code"].decode_tps == pytest.approx(210)  # tok/s stay as measured
    # half-way between the first measurement and the check: corrected by 0.95
    assert compared(setup([180, 360, 90], 150), base, False).speedup == pytest.approx(1.8 / 0.95)


def test_drift_within_noise_pools_every_measurement_into_one_reference():
    base = baseline([([90, 220, 50], 200)])  # 0.9x, 1.1x, 1x: the interval includes 1
    shift = drift.of(base)
    check = shift.points[1].ratio.value
    assert not shift.significant and not shift.exceeds(0.0)
    level = math.sqrt(check)  # the first counts 1, the check its paired ratio, 3 requests each: one level throughout
    assert [shift.factor(t) for t in (0, 150, 500)] == pytest.approx([level] * 3)
    run = compared(setup([180, 360, 90], 200), base, greedy=False)
    assert run.speedup == pytest.approx(1.8 / level) and run.speedup_uncorrected == pytest.approx(1.8)


def test_a_busy_first_measurement_is_left_out_when_a_quiet_one_exists():
    """The baseline measured while other processes held half the CPUs (70% of its quiet speed), then measured again
    in full on a quiet machine: every speedup is over the quiet measurement, whenever the setup ran."""
    first = RunResult(
        "T",
        None,
        mean_tps=70.0,
        n_requests=3,
        requests=reqs([70, 140, 35], 100),
        other_cpu_share=0.5,
        baseline_checks=[BaselineCheck("re-measure", reqs([100, 200, 50], 300), other_cpu_share=0.02)],
    )
    shift = drift.of(first)
    assert shift.first_excluded and shift.significant and shift.exceeds(0.5) and not shift.moving
    assert [shift.factor(t) for t in (0, 101, 200, 301, 900)] == pytest.approx([1 / 0.7] * 5)
    assert "the first measurement of the baseline left out (other processes used 25%" in shift.sentence()
    for at in (110, 250, 400):  # 2x the quiet baseline, before, between or after
        assert compared(setup([200, 400, 100], at), first, False).speedup == pytest.approx(2.0)
    runs = [first, compared(setup([200, 400, 100], 200), first, False)]
    said = recommend.recommend(runs)[0].sentence()
    assert "+100%" in said and "left out" in said
    # busy only as its server started (the run's warning says so too): the same rule
    assert drift.of(replace(first, other_cpu_share=0.1, other_cpu_share_before=0.4)).first_excluded
    # nothing quiet: every measurement counts, and the warning says so
    busy = replace(first, baseline_checks=[replace(first.baseline_checks[0], other_cpu_share=0.4)])
    assert drift.of(busy).kept == drift.of(busy).points and "none was quiet" in drift.of(busy).sentence()


def test_corrected_interval_carries_the_checks_uncertainty():
    base = baseline([([90, 171, 45.5], 200)])  # 0.9, 0.855, 0.91: significant, with a spread
    shift = drift.of(base)
    assert shift.significant and shift.points[1].ratio.ci95 is not None
    half = shift.log_half(201)
    ci = shift.points[1].ratio.ci95
    assert half == pytest.approx((math.log(ci[1]) - math.log(ci[0])) / 2)
    run = compared(setup([180, 360, 90], 201), base, greedy=False)
    low, high = run.speedup_ci95
    assert math.log(high) - math.log(low) == pytest.approx(2 * half)  # the setup's own pairs agree exactly
    assert low < run.speedup < high


def test_the_recommendation_names_drift_beyond_the_resolution():
    base = baseline([([90, 180, 45], 200)])
    runs = [base, compared(setup([180, 360, 90], 200), base, False)]
    said = recommend.recommend(runs, resolution=0.05)[0].sentence()
    assert "use d" in said and "WARNING: baseline moved -10% (95% CI" in said and "rerun on a quieter machine" in said
    assert "moved" not in recommend.recommend(runs, resolution=0.2)[0].sentence()


def test_a_busy_run_is_named_in_the_recommendation():
    base = RunResult("T", None, mean_tps=100.0, n_requests=3, requests=reqs([100, 200, 50], 100), other_cpu_share=0.5)
    runs = [base, compared(setup([180, 360, 90], 200), base, False)]
    said = recommend.recommend(runs)[0].sentence()
    assert "WARNING: busy machine while measuring baseline (other processes used a large share of it)" in said
    quiet = [dataclasses.replace(base, other_cpu_share=0.1), runs[1]]
    assert "busy machine" not in recommend.recommend(quiet)[0].sentence()


def test_the_adaptive_search_compares_against_the_corrected_reference():
    """A setup 1.2x the baseline of its time, measured while the machine ran at half speed: uncorrected it
    looks clearly slower than the baseline; corrected it is not stopped as slower."""
    base = baseline([([50, 100, 25], 300), ([50, 100, 25], 400)])  # half speed from the first check on
    run = setup([60, 120, 30], 350)
    search = adaptive.Search(SweepSettings(requests=30, block=3, resolution=0.05))
    runs = {base.key: base, run.key: run}
    assert adaptive.rates(run, drift.of(base)) == pytest.approx([120, 240, 60])
    decision = search.look(run, runs)
    assert decision is None or decision.stop != "slower"
    assert stats.compare(
        [(f"{i}", v) for i, v in enumerate(adaptive.rates(run))], [(f"{i}", v) for i, v in enumerate(adaptive.rates(base))]
    ).value == pytest.approx(0.6)


def test_checks_save_and_load(tmp_path):
    base = baseline([([90, 180, 45], 200)])
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta.from_dict({"name": "x"}), [base, compared(setup([180, 360, 90], 201), base, False)])
    runs = loaded(path)
    assert runs[0].baseline_checks[0].requests[2].sent_unix_s == 202 and runs[0].baseline_checks[0].after == "s0"
    assert runs[1].speedup == pytest.approx(2.0) and runs[1].drift_factor == pytest.approx(0.9)
    assert dump_results(FileMeta.from_dict({}), runs)["schema_version"] == SCHEMA_VERSION


def test_a_mistyped_check_is_named(tmp_path):
    base = baseline([([90, 180, 45], 200)])
    data = dump_results(FileMeta.from_dict({}), [base])
    data["results"][0]["baseline_checks"][0]["requests"][1]["decode_tps"] = "fast"
    path = tmp_path / "r.json"
    path.write_text(__import__("json").dumps(data))
    with pytest.raises(Exception, match=r"results\[0\]\.baseline_checks\[0\]\.requests\[1\]\.decode_tps must be"):
        load_results(str(path))


def test_cpu_accounting_from_proc_text(tmp_path):
    """A made-up /proc: 4 CPUs, this process and a server group of two processes, and a stranger."""

    def write(total_busy: int, idle: int, ours: int, server: tuple[int, int], stranger: int) -> None:
        (tmp_path / "stat").write_text(f"cpu  {total_busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
        for pid, pgrp, ticks in (
            (os.getpid(), 1, ours),
            (4242, 4242, server[0]),
            (4243, 4242, server[1]),
            (5000, 5000, stranger),
        ):
            (tmp_path / str(pid)).mkdir(exist_ok=True)
            (tmp_path / str(pid) / "stat").write_text(f"{pid} (a (b) c) S 1 {pgrp} 0 0 0 0 0 0 0 0 {ticks} 0 0 0\n")

    write(1000, 3000, 100, (200, 100), 0)
    start = load.cpu_times(4242, str(tmp_path))
    assert start == load.CpuTimes(4000, 1000, 400)
    write(1000 + 300, 3000 + 100, 100 + 20, (200 + 80, 100 + 100), 100)  # 400 ticks pass: 300 busy, 200 ours
    assert load.other_share(start, load.cpu_times(4242, str(tmp_path))) == 0.25
    assert load.other_share(None, start) is None


def test_other_processes_cpu_is_seen_and_a_servers_is_not():
    """Busy loops (one per CPU) in a process group of their own: counted as other processes' CPU, unless the
    group is the server's."""
    code = "import time\nt = time.time() + 3\nwhile time.time() < t: pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.3)
        group = hogs[0].pid  # each hog leads its own group; the first stands for "the server"
        start, start_server = load.cpu_times(), load.cpu_times(group)
        time.sleep(1.0)
        others = load.other_share(start, load.cpu_times())
        without_one = load.other_share(start_server, load.cpu_times(group))
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert others >= 0.3  # every CPU had a busy loop on it, whatever else the machine was doing
    assert without_one < others  # the server's own time is not another process's


def test_load_warning_thresholds_and_fix():
    assert load.warning(0.2, 0.1, 10.0) is None
    said = load.warning(0.5, None, None)
    assert said.startswith("busy machine: other processes used 50% of the CPUs while it was measured")
    assert "--threads" in said and "rerun it on a quieter machine" in said
    assert "GPU was 80% busy" in load.warning(None, None, 80.0)


def test_checks_come_every_k_setups_at_once_when_the_load_changes_and_at_the_end():
    """Which setups a baseline check follows (the check itself stubbed: it is measured in test_drift_real)."""
    from types import SimpleNamespace

    from draftbench.setup.config import ModelEntry
    from draftbench.setup.speculation import Setup, Speculation
    from draftbench.sweep.drift_checks import BaselineChecks
    from draftbench.sweep.plan import Cell

    base = RunResult("T", None, other_cpu_share=0.02)
    store = SimpleNamespace(runs={base.key: base})
    cfg = SimpleNamespace(settings=SweepSettings(baseline_every=3))
    checks = BaselineChecks(cfg, [], store, SimpleNamespace(held=None), None, print, None)
    done: list[list[str]] = []
    checks.check = lambda key: done.append(checks.since.pop(key)) or checks.urgent.discard(key)
    target = ModelEntry("T", "t.gguf")
    for i, share in enumerate([0.0, 0.05, 0.1, 0.1, 0.5, 0.5, 0.45]):
        cell = Cell(i + 2, target, Setup(f"s{i}", Speculation("d.gguf", draft_max=i + 1)))
        checks.measured(cell, RunResult("T", f"s{i}", other_cpu_share=share))
        if i == 4:  # the check after the load changed measured a busy machine: the next reference
            store.runs[base.key] = RunResult(
                "T", None, other_cpu_share=0.02, baseline_checks=[BaselineCheck("s4", [], other_cpu_share=0.5)]
            )
    checks.finish("T")
    # every 3 (s0-s2); at once after s4, whose load rose by 48 points; after the last (s5, s6: no change from 0.5)
    assert done == [["s0", "s1", "s2"], ["s3", "s4"], ["s5", "s6"]]


def test_the_runner_up_margin_uses_the_same_corrected_speeds():
    """Two setups both 2x the baseline of their time, one measured at full speed and one at half: even."""
    base = baseline([([100, 200, 50], 150), ([50, 100, 25], 300), ([50, 100, 25], 400)])
    quiet = compared(setup([200, 400, 100], 110, "quiet"), base, False)
    busy = compared(setup([100, 200, 50], 350, "busy"), base, False)
    rec = recommend.recommend([base, quiet, busy])[0]
    assert quiet.speedup == pytest.approx(2.0) and busy.speedup == pytest.approx(2.0)
    assert rec.margin.value == pytest.approx(1.0) and rec.within_noise


def test_the_report_warns_of_drift_beyond_the_resolution_and_notes_smaller():

    base = baseline([([90, 180, 45], 200)])  # -10%, no doubt
    runs = [base, compared(setup([180, 360, 90], 201), base, False)]
    page = rendered({"settings": {"resolution": 0.05}}, runs)
    assert '<p class="warning">T: baseline moved -10% (95% CI' in page and '<table id="drift-corrected">' in page
    assert "<td>0.90x</td><td>+100% (95% CI" in page  # the factor, then the corrected speedup
    calm = rendered({"settings": {"resolution": 0.2}}, runs)
    assert "baseline moved -10% over" not in calm and "the baseline moved by -10%" in calm
    assert "within the resolution (20%)" in calm
