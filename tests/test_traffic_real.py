"""Request rates on a real llama-server: the baseline and the setup get the same arrival times at each rate (in
the results file), goodput and latency percentiles are scored, and with two slots the setup's drafted and accepted
tokens are recorded per slot."""

from __future__ import annotations

import json

import pytest
from conftest import run_script

pytestmark = pytest.mark.server


def test_a_rate_sweep_pairs_arrivals_and_records_acceptance_per_slot(family, tmp_path):
    config = dict(family["config"])
    config["drafts"] = [d for d in config["drafts"] if d["label"] == "4-layer"]
    config["settings"] = {
        **config["settings"], "requests": 6, "max_tokens": 16, "concurrency": 2, "request_rate": [4, "inf"],
        "slo": {"ttft_s": 2.0, "tpot_s": 0.5}, "cost_model": False, "baseline_every": 0,
    }  # fmt: skip
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    done = run_script("sweep.py", "--config", str(path), "--results", str(tmp_path / "r.json"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [(r["draft"], r["request_rate"]) for r in runs] == [(None, 4.0), (None, 0.0), ("4-layer", 4.0), ("4-layer", 0.0)]
    for rate in (4.0, 0.0):
        base, setup = (next(r for r in runs if r["request_rate"] == rate and r["draft"] == d) for d in (None, "4-layer"))
        assert [q["scheduled_at_s"] for q in base["requests"]] == [q["scheduled_at_s"] for q in setup["requests"]]
        assert [q["prompt_id"] for q in base["requests"]] == [q["prompt_id"] for q in setup["requests"]]
        scored = setup["traffic"]
        assert scored["rate"] == rate and scored["n_requests"] == 6 and scored["goodput_rps"] is not None
        assert scored["ttft_s"]["p95"] > 0 and scored["goodput_ratio"] is not None
        slots = setup["slots"]
        assert sum(s["requests"] for s in slots) == 6 and sum(s["drafted"] for s in slots) == setup["draft_n"] > 0
    at_4 = [q["scheduled_at_s"] for q in runs[0]["requests"]]
    assert at_4[0] == 0 and at_4 == sorted(at_4) and len(set(at_4)) == 6  # Poisson arrivals at 4 req/s
    assert {q["scheduled_at_s"] for q in runs[1]["requests"]} == {0.0}  # "inf": all at once
    assert "By rate:" in done.stderr
    html = (tmp_path / "r.html").read_text()
    assert 'id="rates"' in html and "goodput within TTFT at most 2 s and TPOT at most 0.5 s at p90" in html
