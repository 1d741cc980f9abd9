"""Baseline checks and machine load in a real sweep (test-size family, real llama-server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import run_script
from sweep_helpers import load, sweep_until, write_config

from draftbench.core import load as load_rules
from draftbench.results import drift, evaluate


def test_baselines_are_checked_during_the_sweep_and_kept_on_resume(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, requests=3, baseline_every=1, cost_model=False)
    results = tmp_path / "r.json"
    dry = run_script("sweep.py", "--config", config, "--results", str(results), "--dry-run")
    assert dry.returncode == 0 and "Baseline checks: 2, 3 requests each" in dry.stderr + dry.stdout
    first = run_script("sweep.py", "--config", config, "--results", str(results))
    assert first.returncode == 0, first.stderr
    for n, label in ((1, "1-layer"), (2, "4-layer")):  # "in full" instead of "again" where the baseline was busy
        assert re.search(
            rf"Baseline check {n}: 8-layer target \(baseline\) (again|in full .*) after 1 setup "
            rf"\({label} last\)",
            first.stderr,
        )
    assert first.stderr.count("vs its first measurement") == 2 and "baseline checks" in first.stderr
    runs = load(str(results))["results"]
    base = runs[0]
    assert [c["after"] for c in base["baseline_checks"]] == ["1-layer", "4-layer"]
    first_times = [q["sent_unix_s"] for q in base["requests"]]
    for check, after in zip(base["baseline_checks"], runs[1:]):
        assert [q["prompt_id"] for q in check["requests"]] == [q["prompt_id"] for q in base["requests"]]
        assert min(q["sent_unix_s"] for q in check["requests"]) > max(q["sent_unix_s"] for q in after["requests"])
        assert all(q["decode_tps"] > 0 for q in check["requests"])
    assert sorted(first_times) == first_times
    for run in runs:  # the load of other processes, as a share of the machine, before and while it ran
        assert 0 <= run["other_cpu_share"] <= 1 and 0 <= run["other_cpu_share_before"] <= 1
        assert (run["drift_factor"] is None) == (run["speedup_uncorrected"] is None)
    logs = sorted(os.listdir(tmp_path / "logs" / "r"))
    assert [name for name in logs if "__check-" in name] == [
        "001-8-layer-target__baseline__check-1.log",
        "001-8-layer-target__baseline__check-2.log",
    ]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    table = page.split('<table id="baseline-checks">')[1].split("</table>")[0]
    assert table.count("<tr>") == 4 and "check 2, after 4-layer" in table  # the header, the first, two checks

    again = run_script("sweep.py", "--config", config, "--results", str(results))
    assert again.returncode == 0 and again.stderr.count("done earlier, skipped") == 3
    assert "Baseline check" not in again.stderr  # nothing measured, nothing to check
    assert load(str(results))["results"][0]["baseline_checks"] == base["baseline_checks"]


def test_a_baseline_measured_on_a_busy_machine_is_measured_again_in_full(llama_server, family, tmp_path, no_new_servers):
    """Busy loops on every CPU while the baseline is measured, stopped when the first setup starts: the baseline is
    measured again, every prompt, and the reference leaves the busy measurement out."""
    config = write_config(family, tmp_path, requests=3, baseline_every=2, cost_model=False)
    results = tmp_path / "r.json"
    code = "import time\nt = time.time() + 600\nwhile time.time() < t: pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(os.cpu_count() or 1)]

    def stop_hogs() -> None:
        for h in hogs:
            h.kill()
            h.wait()

    try:
        rc, err = sweep_until(
            ["--config", config, "--results", str(results)], "8-layer target + 1-layer", sig=None, action=stop_hogs
        )
    finally:
        stop_hogs()
    assert rc == 0, err
    meta, ev = evaluate.load(str(results))
    saved = load(str(results))["recommendations"]  # the answer as the file says it: the evaluation's, word for word
    assert [(a["target"], a["concurrency"], a["sentence"], a["use"]) for a in saved] == [
        (r.target, r.level.streams, r.sentence(), r.use().draft if r.use() else None) for r in ev.recommendations
    ]
    base = next(r for r in ev.runs if r.draft is None)
    assert base.other_cpu_share >= load_rules.BUSY_SHARE  # the hogs were seen
    full = [c for c in base.baseline_checks if len(c.requests) == len(base.requests)]
    assert full and "in full (its first measurement was on a busy machine)" in err
    assert [q.prompt_id for q in full[0].requests] == [q.prompt_id for q in base.requests]
    if any(not load_rules.busy(c.other_cpu_share) for c in full):  # a quiet re-measure: the reference
        shift = drift.of(base)
        assert shift.first_excluded and "the first measurement of the baseline left out" in shift.sentence()
        assert all(r.drift_factor is not None for r in ev.runs if r.draft is not None and r.done)
