"""bench against a real llama-server on the test-size family."""

from __future__ import annotations

import json

import pytest
from conftest import run_script

from draftbench.measure.bench import BenchConfig, run_bench
from draftbench.server import llamacpp, process
from draftbench.setup.speculation import Speculation


@pytest.fixture(scope="module")
def servers(llama_server, family):
    """Baseline, speculative and vocab-mismatched servers, started once for the module."""
    options = process.ServerOptions(port=0, gpu_layers=0, ctx_size=1024, ready_timeout_s=60)
    specs = {
        name: process.ServerSpec(family["target"], Speculation(family[name] if name else None, draft_max=3), options)
        for name in (None, "draft-4", "draft-othervocab")
    }
    started = {}
    try:
        for name, spec in specs.items():
            started[name] = llamacpp.launch(spec, warn=lambda m: None).start()
        yield {name: s.url for name, s in started.items()}
    finally:
        for s in started.values():
            s.stop()


def test_baseline_numbers_come_from_the_server(servers):
    s = run_bench(BenchConfig(servers[None], requests=3, max_tokens=64))
    assert s.server_kind == "llamacpp" and s.n_failed_requests == 0
    assert s.acceptance_rate is None and s.speculation_active is None
    for r in s.requests:
        assert r.completion_tokens == 64 and r.tokens_from == "usage"  # llama-server streams usage: no fallback
        assert r.decode_tps != r.client_decode_tps  # the rate is the server's timings, not the client's clock
        # the same stream, timed by the client too; on a busy machine its chunks can arrive in one burst, so how
        # close the two are is a figure of benchmarks/fidelity.py, not a test
        assert r.client_decode_tps > 0
        assert r.ttft_s > 0 and r.total_s >= r.ttft_s


def test_speculative_acceptance_equals_server_counts(servers):
    s = run_bench(BenchConfig(servers["draft-4"], requests=3, max_tokens=64, expect_draft=True))
    assert s.speculation_active is True
    assert s.draft_n == sum(r.draft_n for r in s.requests) > 0
    assert s.acceptance_rate == pytest.approx(s.draft_n_accepted / s.draft_n)
    assert s.mean_accepted_length > 1


def test_vocab_mismatch_is_caught_at_run_time(servers):
    s = run_bench(BenchConfig(servers["draft-othervocab"], requests=2, max_tokens=32, expect_draft=True))
    assert s.speculation_active is False and s.acceptance_rate is None
    assert any("vocabulary" in w for w in s.warnings)


def test_bench_py_json_and_table(servers):
    result = run_script(
        "bench.py", "--url", servers["draft-4"], "--requests", "2", "--max-tokens", "32", "--json", "--api-key", "sk-secret-123"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    requests = data["requests"]
    assert data["n_requests"] == len(requests) == 2 and data["speculation_active"] is True
    assert data["draft_n"] == sum(q["draft_n"] for q in requests) > 0
    assert data["acceptance_rate"] == pytest.approx(data["draft_n_accepted"] / data["draft_n"])
    assert data["mean_tps"] == pytest.approx(sum(q["decode_tps"] for q in requests) / 2)
    low, high = data["decode_tps_ci95"]
    assert low <= data["mean_tps"] <= high
    assert all(
        q["completion_tokens"] == 32 and q["error"] is None and q["text"] and q["ttft_s"] <= q["total_s"] for q in requests
    )
    assert "sk-secret-123" not in result.stdout + result.stderr
    table = run_script("bench.py", "--url", servers["draft-4"], "--requests", "2", "--max-tokens", "32")
    assert "Decode tok/s" in table.stdout and "TTFT" in table.stdout and "Acceptance" in table.stdout
    assert "request 1/2" in table.stderr and "request 1/2" not in table.stdout


def test_unreachable_server_is_one_line():
    result = run_script("bench.py", "--url", "http://127.0.0.1:9", "--requests", "1")
    assert result.returncode == 1
    assert "http://127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
