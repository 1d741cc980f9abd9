"""Adaptive search against real llama-server processes (test-size family)."""

from __future__ import annotations

import json
import signal

from conftest import run_script
from sweep_helpers import load, sweep_until, write_config


def _config(family, tmp_path) -> str:
    """A hopeless setup first (the slow 4-layer draft asked for 16 tokens a pass: several times slower than
    the target alone, so it stops at its first look), then a real contender. Screening gives each one block;
    the hopeless one pauses, and stops at its first look when the race picks it."""
    path = write_config(family, tmp_path, requests=6, block=3, max_tokens=48, cost_model=False, search="adaptive")
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    data["settings"].pop("draft_max", None)
    data["drafts"] = [
        {"label": "slow", "path": family["draft-4"], "draft_max": 16},
        {"label": "fast", "path": family["draft-1"], "draft_max": 2},
    ]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return path


def test_an_interrupted_adaptive_sweep_resumes_with_the_same_setups_stopped(llama_server, family, tmp_path, no_new_servers):
    config = _config(family, tmp_path)
    results = str(tmp_path / "r.json")
    code, err = sweep_until(
        ["--config", config, "--results", results], ["Paused after 3 of 6 requests", "[3/3]"], sig=signal.SIGINT
    )
    assert code == 130, err
    saved = {r["draft"]: r for r in load(results)["results"]}
    assert saved["slow"]["in_progress"] and saved["slow"]["n_requests"] == 3  # screened, its first look to come

    resumed = run_script("sweep.py", "--config", config, "--results", results)
    assert resumed.returncode == 0, resumed.stderr
    final = {r["draft"]: r for r in load(results)["results"]}
    slow = final["slow"]
    assert slow["pruned"] and slow["pruned_as"] == "slower" and slow["n_requests"] == 3 and not slow["in_progress"]
    assert slow["requests"] == saved["slow"]["requests"]  # stopped on the block measured before Ctrl-C
    assert "clearly slower than" in slow["pruned_reason"] and slow["pruned_interval"][1] < 1
    assert final["fast"]["n_requests"] in (3, 6) and not final["fast"]["in_progress"]
    assert "Adaptive search: " in resumed.stderr and "stopped early" in resumed.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<div id="setups"' in page and "clearly slower than" in page

    again = run_script("sweep.py", "--config", config, "--results", results)
    assert again.returncode == 0 and again.stderr.count("done earlier, skipped") == 3, again.stderr
    assert "slow: done earlier, skipped (stopped early)" in again.stderr
    assert {r["draft"]: r for r in load(results)["results"]}["slow"] == slow  # kept as it was

    # A setup saved between two later blocks (as an interruption after a look leaves it) continues where it was.
    data = load(results)
    fast = next(r for r in data["results"] if r["draft"] == "fast")
    kept = fast["requests"][:3]
    fast.update(requests=kept, n_requests=3, in_progress=True, pruned=False, pruned_as=None, pruned_reason=None)
    with open(results, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    again = run_script("sweep.py", "--config", config, "--results", results)
    assert again.returncode == 0, again.stderr
    assert "continuing after 3 requests measured earlier" in again.stderr
    assert again.stderr.count("done earlier, skipped") == 2
    fast = next(r for r in load(results)["results"] if r["draft"] == "fast")
    assert fast["n_requests"] in (3, 6) and not fast["in_progress"]
    assert fast["requests"][:3] == kept  # finished blocks are kept, not measured again
    base = next(r for r in load(results)["results"] if r["draft"] is None)
    ids = [q["prompt_id"] for q in fast["requests"]]
    assert ids == [q["prompt_id"] for q in base["requests"]][: len(ids)]
