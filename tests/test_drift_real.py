"""Baseline checks and machine load in a real sweep (test-size family, real llama-server)."""

from __future__ import annotations

import os

from conftest import run_script
from sweep_helpers import load, write_config


def test_baselines_are_checked_during_the_sweep_and_kept_on_resume(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, requests=3, baseline_every=1, cost_model=False)
    results = tmp_path / "r.json"
    dry = run_script("sweep.py", "--config", config, "--results", str(results), "--dry-run")
    assert dry.returncode == 0 and "Baseline checks: 2, 3 requests each" in dry.stderr + dry.stdout
    first = run_script("sweep.py", "--config", config, "--results", str(results))
    assert first.returncode == 0, first.stderr
    assert "Baseline check 1: 8-layer target (baseline) again after 1 setup (1-layer last)" in first.stderr
    assert "Baseline check 2: 8-layer target (baseline) again after 1 setup (4-layer last)" in first.stderr
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
    assert [name for name in logs if "__check-" in name] == ["001-8-layer-target__baseline__check-1.log",
                                                             "001-8-layer-target__baseline__check-2.log"]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    table = page.split('<table id="baseline-checks">')[1].split("</table>")[0]
    assert table.count("<tr>") == 4 and "check 2, after 4-layer" in table  # the header, the first, two checks

    again = run_script("sweep.py", "--config", config, "--results", str(results))
    assert again.returncode == 0 and again.stderr.count("done earlier, skipped") == 3
    assert "Baseline check" not in again.stderr  # nothing measured, nothing to check
    assert load(str(results))["results"][0]["baseline_checks"] == base["baseline_checks"]
