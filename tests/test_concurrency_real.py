"""Concurrency levels against real llama-server processes (test-size family)."""

from __future__ import annotations

import json
import signal
import time

import pytest
from conftest import run_script
from sweep_helpers import load, sweep_until, write_config

from draftbench.measure.bench import BenchConfig, run_bench
from draftbench.server import llama_bin, llamacpp
from draftbench.server.process import ServerOptions, ServerSpec


def test_two_streams_are_really_in_flight_and_aggregate_is_tokens_over_wall(llama_server, family, tmp_path, no_new_servers):
    spec = ServerSpec(
        family["target"],
        options=ServerOptions(port=0, gpu_layers=0, ctx_size=1024, llama_bin=llama_server),
        log_path=str(tmp_path / "s.log"),
        parallel=2,
    )
    server = llamacpp.launch(spec)
    flags, _ = llama_bin.probe(llama_server)
    assert server.command[server.command.index("--parallel") + 1] == "2"
    with server:
        t0 = time.perf_counter()
        s = run_bench(BenchConfig(url=server.url, requests=6, max_tokens=200, warmup=0, concurrency=2))
        outside = time.perf_counter() - t0
    assert s.n_failed_requests == 0 and s.concurrency == 2 and s.max_in_flight == 2
    tokens = sum(r.completion_tokens for r in s.requests)
    span = max(r.ended_at_s for r in s.requests) - min(r.sent_at_s for r in s.requests)
    assert s.aggregate_tps == pytest.approx(tokens / span, rel=0.05)
    assert span == pytest.approx(s.loop_wall_s, rel=1e-6) and s.loop_wall_s <= outside
    # The server's own processing windows (end minus its prompt + generation time) overlap: both were
    # served at once, not queued one behind the other.
    windows = [(r.ended_at_s - r.server_s, r.ended_at_s) for r in s.requests]
    first, second = windows[0], windows[1]
    assert first[0] < second[1] and second[0] < first[1], windows
    assert s.p95_ttft_s is not None and s.median_ttft_s is not None


def test_each_level_is_a_cell_of_its_own_and_resumes(llama_server, family, tmp_path, no_new_servers):
    config = write_config(
        family, tmp_path, drafts=[("1-layer", "draft-1")], requests=3, max_tokens=32, cost_model=False, concurrency=[1, 2]
    )
    results = str(tmp_path / "r.json")
    code, err = sweep_until(["--config", config, "--results", results], "[3/4]", sig=signal.SIGINT)
    assert code == 130, err
    assert "Same server, now at 2 streams" in err  # the baseline's two levels share one server
    saved = load(results)["results"]
    assert [(r["draft"], r["concurrency"]) for r in saved] == [(None, 1), (None, 2)]
    assert saved[1]["max_in_flight"] == 2 and saved[1]["aggregate_tps"] > 0
    resumed = run_script("sweep.py", "--config", config, "--results", results)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("done earlier, skipped") == 2
    runs = load(results)["results"]
    assert [(r["draft"], r["concurrency"]) for r in runs] == [(None, 1), (None, 2), ("1-layer", 1), ("1-layer", 2)]
    assert runs[3]["aggregate_speedup"] == pytest.approx(runs[3]["aggregate_tps"] / runs[1]["aggregate_tps"], rel=1e-3)
    assert all("--parallel" in r["server_command"] for r in runs)
    assert [q["prompt_id"] for q in runs[1]["requests"]] == [q["prompt_id"] for q in runs[0]["requests"]]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<div id="level-speedup"' in page and '<table id="levels">' in page
    assert json.loads(json.dumps(load(results)["settings"]["concurrency"])) == [1, 2]
