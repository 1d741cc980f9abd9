"""Soak: a sweep of the demo's shape (a baseline and nine setups, draft lengths among them, baseline checks, the
cost model's probes) on the test-size family, twice back to back, then a resume. Nothing may leak: processes,
temp files, logs. (The demo itself, on its larger models, is the README's first command.)"""

from __future__ import annotations

import json
import os

import pytest
from conftest import llama_pids, run_script
from sweep_helpers import load, write_config


def _shape(data: dict) -> tuple:
    return (sorted(data), [sorted(r) for r in data["results"]], [(r["target"], r["draft"]) for r in data["results"]])


def _config(family, folder) -> str:
    path = write_config(family, folder, name="demo", baseline_every=2)
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    data["drafts"] = [
        {"label": "1-layer", "path": family["draft-1"], "axes": {"draft_max": [1, 2, 3, 5, 8]}},
        {"label": "4-layer", "path": family["draft-4"], "axes": {"draft_max": [1, 2, 3]}},
        {"label": "4-layer noisy", "path": family["draft-4-noisy"]},
    ]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return path


@pytest.mark.slow
def test_sweep_twice_and_resume(llama_server, family, tmp_path, no_new_servers):
    config = _config(family, tmp_path)
    results = tmp_path / "out" / "demo.json"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    shapes, checks_seen = [], []
    for args in (["--fresh"], ["--fresh"], []):
        before = llama_pids()
        result = run_script("sweep.py", "--config", config, "--results", str(results), *args, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert llama_pids() <= before
        data = load(str(results))
        assert all(r["error"] is None for r in data["results"])
        shapes.append(_shape(data))
        checks_seen.append(len(data["results"][0]["baseline_checks"]))
    assert shapes[0] == shapes[1] == shapes[2]
    assert result.stderr.count("done earlier, skipped") == len(data["results"]) == 10  # the resume measured nothing again
    files = sorted(os.listdir(results.parent))
    assert files == ["demo.html", "demo.json", "logs"], files  # no temp files left behind
    # one per run, per setup's synthetic-acceptance twin, per draft model's draft-alone run and per baseline
    # check, overwritten on rerun: at least
    # after every 2 of the 9 setups and after the last (5), more where the machine's load changed meanwhile
    logs = os.listdir(results.parent / "logs" / "demo")
    checks = max(checks_seen)  # a fresh sweep keeps the logs of an earlier one that checked more often
    assert min(checks_seen) >= 5 and [len(r.get("baseline_checks") or []) for r in data["results"][1:]] == [0] * 9
    assert len(logs) == 10 + 9 + 3 + checks and sum(name.endswith("__draft-alone.log") for name in logs) == 3
    assert sum(name.endswith("__in-loop.log") for name in logs) == 9
    assert sorted(int(name.rsplit("-", 1)[1][:-4]) for name in logs if "__check-" in name) == list(range(1, checks + 1))
    cache_logs = tmp_path / "cache" / "draftbench" / "logs"
    assert not cache_logs.exists() or os.listdir(cache_logs) == []
    assert [line for line in result.stderr.splitlines() if line.startswith("Recommended: 8-layer target:")]
