"""Soak: the demo sweep twice back to back, then a resume. Nothing may leak: processes, temp files, logs."""

from __future__ import annotations

import os

import pytest
from conftest import llama_pids, run_script
from sweep_helpers import load


def _shape(data: dict) -> tuple:
    return (sorted(data), [sorted(r) for r in data["results"]], [(r["target"], r["draft"]) for r in data["results"]])


@pytest.mark.slow
def test_demo_twice_and_resume(llama_server, tmp_path, no_new_servers):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    results = tmp_path / "out" / "demo.json"
    shapes = []
    for args in (["--fresh"], ["--fresh"], []):
        before = llama_pids()
        result = run_script("sweep.py", "--demo", "--results", str(results), *args, env=env, timeout=2700)
        assert result.returncode == 0, result.stderr[-3000:]
        assert llama_pids() <= before
        data = load(str(results))
        assert all(r["error"] is None for r in data["results"])
        shapes.append(_shape(data))
    assert shapes[0] == shapes[1] == shapes[2]
    assert result.stderr.count("done earlier, skipped") == len(data["results"]) == 10  # the resume measured nothing again
    files = sorted(os.listdir(results.parent))
    assert files == ["demo.html", "demo.json", "logs"], files  # no temp files left behind
    # one per run, per draft-alone run and per baseline check (after every 2 of the 9 setups and after the last),
    # overwritten on rerun
    logs = os.listdir(results.parent / "logs" / "demo")
    assert len(logs) == 10 + 5 + 5 and sum(name.endswith("__draft-alone.log") for name in logs) == 5
    assert sorted(name[-11:] for name in logs if "__check-" in name) == [f"check-{n}.log" for n in range(1, 6)]
    assert [len(r.get("baseline_checks") or []) for r in data["results"]] == [5] + [0] * 9
    cache_logs = tmp_path / "cache" / "draftbench" / "logs"
    assert not cache_logs.exists() or os.listdir(cache_logs) == []
    recommended = [line for line in result.stderr.splitlines() if line.startswith("Recommended:")]
    assert recommended and "use 16-layer" not in recommended[0]
