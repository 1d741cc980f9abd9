"""Timing and counting rules, pinned with canned SSE bytes and a scripted clock."""

from __future__ import annotations

import json

import pytest

from draftbench.core import stats
from draftbench.measure.bench import summarise
from draftbench.measure.stream import consume
from draftbench.records.requests import RequestResult


class ScriptedClock:
    """Returns the next scripted time on each call: one per received chunk, then one at the end."""

    def __init__(self, times):
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def sse(*events) -> list[bytes]:
    return [b"data: " + json.dumps(e).encode() + b"\n\n" if not isinstance(e, bytes) else e for e in events]


def delta(text: str) -> dict:
    return {"choices": [{"delta": {"content": text}}]}


FINAL = {
    "choices": [{"delta": {}, "finish_reason": "length"}],
    "timings": {
        "predicted_n": 6,
        "predicted_ms": 100.0,
        "predicted_per_second": 60.0,
        "prompt_n": 10,
        "draft_n": 6,
        "draft_n_accepted": 3,
    },
}
USAGE = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 6}}


def test_tokens_not_chunks_and_usage_chunk_does_not_extend_decode():
    # 6 tokens in 3 chunks (one chunk carries 3 accepted tokens); usage arrives much later
    chunks = sse(
        {"choices": [{"delta": {"role": "assistant"}}]},
        delta("a"),
        delta(" b c d"),
        delta(" e f"),
        FINAL,
        USAGE,
        b"data: [DONE]\n\n",
    )
    clock = ScriptedClock([1.0, 1.2, 1.4, 1.6, 1.7, 3.0, 3.0, 3.5])
    r = consume(chunks, 0.0, clock, RequestResult("p"))
    assert r.error is None
    assert r.completion_tokens == 6
    assert r.ttft_s == pytest.approx(1.2)
    assert r.client_decode_tps == pytest.approx(5 / (1.6 - 1.2))  # (tokens - 1) / (last - first)
    assert r.decode_tps == 60.0  # the server's own figure wins
    assert r.ttft_s + (1.6 - 1.2) <= r.total_s
    assert r.text == "a b c d e f"
    assert (r.draft_n, r.draft_n_accepted) == (6, 3)


def test_event_split_across_chunks():
    raw = b"".join(sse(delta("hello"), delta(" world"), FINAL, USAGE))
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    r = consume(pieces, 0.0, ScriptedClock([float(i) for i in range(len(pieces) + 1)]), RequestResult("p"))
    assert r.error is None and r.text == "hello world"


def test_malformed_sse_is_a_request_error():
    chunks = sse(delta("a")) + [b"data: {not json\n\n"]
    r = consume(chunks, 0.0, ScriptedClock([1.0, 2.0, 3.0]), RequestResult("p"))
    assert r.error and "malformed SSE" in r.error


def test_error_event_mid_stream_is_a_request_error():
    chunks = sse(delta("a"), {"error": {"message": "out of memory", "code": 500}})
    r = consume(chunks, 0.0, ScriptedClock([1.0, 2.0, 3.0]), RequestResult("p"))
    assert r.error and "out of memory" in r.error


def test_acceptance_is_summed_not_averaged():
    a = RequestResult("a", decode_tps=10, completion_tokens=100, draft_n=10, draft_n_accepted=9, ttft_s=0.1, total_s=1)
    b = RequestResult("b", decode_tps=10, completion_tokens=100, draft_n=90, draft_n_accepted=9, ttft_s=0.1, total_s=1)
    s = summarise("u", "llamacpp", [a, b], expect_draft=True)
    assert s.acceptance_rate == pytest.approx(18 / 100)  # mean of ratios would be 0.55
    assert s.mean_accepted_length == pytest.approx(200 / (200 - 18))
    assert s.speculation_active is True


def test_speculation_inactive_is_flagged():
    r = RequestResult("a", decode_tps=10, completion_tokens=50, ttft_s=0.1, total_s=1)
    s = summarise("u", "llamacpp", [r, r], expect_draft=True)
    assert s.speculation_active is False
    assert any("--spec-type draft-simple" in w and "vocabulary" in w for w in s.warnings)


def test_noisy_warning_says_how_to_fix():
    rs = [
        RequestResult(str(i), decode_tps=v, completion_tokens=50, ttft_s=0.1, total_s=1) for i, v in enumerate([10, 20, 10, 20])
    ]
    s = summarise("u", "llamacpp", rs, expect_draft=False)
    assert s.noisy and "--requests" in s.warnings[0]
    quiet = summarise(
        "u",
        "llamacpp",
        [RequestResult(str(i), decode_tps=10 + i * 0.01, completion_tokens=5) for i in range(4)],
        expect_draft=False,
    )
    assert not quiet.noisy


def test_t_interval():
    sp = stats.spread([10.0, 12.0, 11.0, 13.0])
    assert sp.ci95[0] < sp.mean < sp.ci95[1]
    assert sp.ci95[1] - sp.mean == pytest.approx(3.182 * sp.stdev / 2, rel=1e-3)
    assert stats.t_quantile_975(1000) == pytest.approx(1.962, abs=0.002)


def test_raw_completion_streams_of_llama_cpp_and_openai_servers():
    native = sse(
        {"content": "a", "stop": False},
        {"content": " b c", "stop": False},
        {"content": "", "stop": True, "timings": FINAL["timings"]},
    )
    r = consume(native, 0.0, ScriptedClock([1.0, 1.5, 1.6, 1.7]), RequestResult("p"))
    assert r.error is None and r.text == "a b c" and r.ttft_s == 1.0
    assert r.decode_tps == 60.0 and r.completion_tokens == 6 and (r.draft_n, r.draft_n_accepted) == (6, 3)
    openai = sse(
        {"choices": [{"text": "x y", "index": 0}]}, {"choices": [{"text": " z", "index": 0}]}, USAGE, b"data: [DONE]\n\n"
    )
    r = consume(openai, 0.0, ScriptedClock([2.0, 2.5, 2.6, 2.6, 2.7]), RequestResult("p"))
    assert r.error is None and r.text == "x y z" and r.completion_tokens == 6 and r.ttft_s == 2.0


def test_request_bodies_per_endpoint():
    from draftbench.measure.bench import BenchConfig, endpoint_path, request_body
    from draftbench.setup.backend import LLAMACPP, OPENAI
    from draftbench.setup.prompts import Prompt

    prompt = Prompt("p", "qa", "Once upon a time")
    chat = request_body(BenchConfig("u"), prompt, LLAMACPP, 16)
    assert chat["messages"] == [{"role": "user", "content": "Once upon a time"}] and "prompt" not in chat
    raw = request_body(BenchConfig("u", endpoint="completion"), prompt, LLAMACPP, 16)
    assert raw["prompt"] == "Once upon a time" and raw["n_predict"] == 16 and "messages" not in raw
    assert raw["cache_prompt"] is False
    other = request_body(BenchConfig("u", endpoint="completion"), prompt, OPENAI, 16)
    assert other["prompt"] == "Once upon a time" and other["max_tokens"] == 16
    assert [endpoint_path(e, k) for e, k in (("chat", LLAMACPP), ("completion", LLAMACPP), ("completion", OPENAI))] == [
        "/v1/chat/completions",
        "/completion",
        "/v1/completions",
    ]
