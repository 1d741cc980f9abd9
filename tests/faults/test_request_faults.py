"""Request-level faults (fake server, see its docstring): each becomes a request error, the run goes on."""

from __future__ import annotations

import pytest
from fakeserver import FakeServer

from draftbench.measure.bench import BenchConfig, run_bench
from draftbench.setup.prompts import custom

PROMPTS = custom(["FAULT one", "fine two", "FAULT three", "fine four"])


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("malformed", "malformed SSE"),
        ("http500", "HTTP 500"),
        ("midstream500", "internal error mid-stream"),
        ("reset", ""),
    ],
)
def test_fault_is_recorded_and_other_requests_continue(mode, expected):
    with FakeServer(mode) as fake:
        s = run_bench(BenchConfig(fake.url, requests=4, max_tokens=8, warmup=0, request_timeout_s=5, prompts=PROMPTS))
    errors = [r.error for r in s.requests]
    assert errors[1] is None and errors[3] is None
    assert errors[0] and expected in errors[0]
    assert s.n_failed_requests == 2 and s.mean_tps == pytest.approx(50.0)


def test_hung_server_ends_by_request_timeout():
    with FakeServer("hang") as fake:
        s = run_bench(BenchConfig(fake.url, requests=1, max_tokens=8, warmup=0, request_timeout_s=1, prompts=PROMPTS))
    assert s.n_failed_requests == 1 and "timeout" in s.requests[0].error


def test_loading_server_is_waited_for():
    with FakeServer("good", loading_checks=3) as fake:
        s = run_bench(BenchConfig(fake.url, requests=1, max_tokens=8, warmup=0, prompts=PROMPTS[1:2]))
    assert s.n_failed_requests == 0 and fake.loading_checks == 0


def test_still_loading_after_deadline_is_one_clear_error():
    from draftbench.errors import ServerUnreachable

    with FakeServer("good", loading_checks=10**6) as fake:
        with pytest.raises(ServerUnreachable, match="still loading"):
            run_bench(BenchConfig(fake.url, requests=1, warmup=0, ready_timeout_s=0.5))


def test_draft_model_is_sent_with_each_request():
    """LM Studio picks the draft per request: bench.py --draft-model must put it in every body."""
    from draftbench.cli.bench import build_parser, config_from_args

    cfg = config_from_args(build_parser().parse_args(["--url", "http://x", "--draft-model", "qwen2.5-0.5b"]))
    assert dict(cfg.extra_body) == {"draft_model": "qwen2.5-0.5b"} and cfg.expect_draft
    with FakeServer("good") as fake:
        s = run_bench(BenchConfig(fake.url, requests=1, warmup=0, prompts=PROMPTS[1:2], extra_body=cfg.extra_body))
    assert fake.bodies[-1]["draft_model"] == "qwen2.5-0.5b" and s.n_failed_requests == 0
