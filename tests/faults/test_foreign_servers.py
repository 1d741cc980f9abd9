"""Servers that are not llama-server. llama-cpp-python's OpenAI-compatible server streams neither ``usage`` nor
``timings``: its bytes, captured from version 0.3.36 (``shared/fixtures/streams``, copied under tests/data), are
replayed (fakeserver.ReplayServer) and parsed with a scripted clock; where llama-cpp-python itself is installed,
the last test runs it for real. A server that answers a web page is a fault no inference server produces."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from cli_helpers import call
from fakeserver import ReplayServer

from draftbench.measure.stream import UNKNOWN_TOKENS, consume, describe
from draftbench.records.requests import RequestResult

STREAMS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "streams")


def fixture(name: str) -> bytes:
    with open(os.path.join(STREAMS, f"llama-cpp-python-0.3.36-{name}"), "rb") as fh:
        return fh.read()


def replay(data: bytes, max_tokens=None, count=None) -> RequestResult:
    """Parse recorded bytes event by event with a clock that advances 10 ms per event."""
    ticks = iter(range(1, 10_000))
    events = [e + b"\n\n" for e in data.split(b"\n\n") if e.strip()]
    return consume(events, 0.0, lambda: next(ticks) / 100, RequestResult("p"), max_tokens, count)


@pytest.mark.parametrize("name, ttft_s", [("chat-stream.txt", 0.02), ("completions-stream.txt", 0.01)])
def test_a_length_stop_means_max_tokens_were_generated(name, ttft_s):
    r = replay(fixture(name), max_tokens=24)
    assert r.ok and r.tokens_from == "length" and r.completion_tokens == 24
    assert r.ttft_s == pytest.approx(ttft_s)  # the chat stream opens with a chunk that carries only the role
    assert r.decode_tps == pytest.approx(100.0)  # 23 tokens after the first, one per 10 ms tick


def test_without_a_length_stop_the_servers_tokenizer_counts_and_else_tokens_are_unknown():
    stopped = fixture("chat-stream.txt").replace(b'"finish_reason": "length"', b'"finish_reason": "stop"')
    words = []
    counted = replay(stopped, max_tokens=24, count=lambda text: words.append(text) or len(text.split()))
    assert counted.tokens_from == "tokenize" and counted.completion_tokens == len(words[0].split()) > 10
    assert counted.decode_tps and counted.decode_tps > 0
    unknown = replay(stopped, max_tokens=24, count=lambda text: None)
    assert unknown.ok and unknown.completion_tokens is None and unknown.tokens_from is None
    assert unknown.decode_tps is None and describe(unknown).startswith(UNKNOWN_TOKENS) and "0.00" not in describe(unknown)


def test_a_stream_with_usage_is_counted_by_its_usage():
    data = fixture("chat-stream.txt").replace(
        b"data: [DONE]", b'data: {"choices": [], "usage": {"completion_tokens": 23}}\n\ndata: [DONE]'
    )
    r = replay(data, max_tokens=24)
    assert r.tokens_from == "usage" and r.completion_tokens == 23


def test_bench_py_against_llama_cpp_python_replayed(tmp_path):
    routes = {"/v1/chat/completions": ("text/event-stream", fixture("chat-stream.txt"))}
    with ReplayServer(routes) as server:
        status, out, err = call(
            "bench.py", "--url", server.url, "--requests", "2", "--max-tokens", "24", "--warmup", "0", "--json"
        )
    assert status == 0, err
    import json

    data = json.loads(out)
    assert data["server_kind"] == "openai" and data["mean_tps"] > 0
    assert [r["tokens_from"] for r in data["requests"]] == ["length", "length"]
    assert "counted from the stream stopped for length" in err
    stopped = fixture("chat-stream.txt").replace(b'"finish_reason": "length"', b'"finish_reason": null')
    with ReplayServer({"/v1/chat/completions": ("text/event-stream", stopped)}, tokenize=True) as server:
        status, out, err = call("bench.py", "--url", server.url, "--requests", "1", "--max-tokens", "24", "--warmup", "0")
        assert "/extras/tokenize" in server.paths
    assert status == 0 and "tokenizer" in err and "Decode tok/s     mean -" not in out, err
    with ReplayServer({"/v1/chat/completions": ("text/event-stream", stopped)}) as server:
        status, out, err = call("bench.py", "--url", server.url, "--requests", "1", "--max-tokens", "24", "--warmup", "0")
    assert status == 0 and UNKNOWN_TOKENS in err and "0.00 tok/s" not in err and "mean -" in out, err


def test_a_web_page_where_the_api_should_be_is_named():
    page = b"<!doctype html><html><body>Please log in</body></html>"
    with ReplayServer({"/v1/chat/completions": ("text/html; charset=utf-8", page)}) as server:
        status, out, err = call("bench.py", "--url", server.url, "--requests", "1", "--warmup", "0")
    assert status == 1 and "the server answered HTML, not a completion stream" in err and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.llama_cpp_python
@pytest.mark.server
def test_bench_py_against_a_real_llama_cpp_python_server(family):
    """Runs where llama-cpp-python[server] is installed: in this interpreter, or the one $LLAMA_CPP_PYTHON names."""
    python = os.environ.get("LLAMA_CPP_PYTHON", sys.executable)
    if subprocess.run([python, "-c", "import llama_cpp.server"], capture_output=True).returncode != 0:
        pytest.skip("llama-cpp-python[server] is not installed (set LLAMA_CPP_PYTHON to a python that has it)")
    port = _free_port()
    from conftest import kill_tree, spawn

    proc = spawn(
        [python, "-m", "llama_cpp.server", "--model", family["target"], "--port", str(port), "--n_ctx", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        status, out, err = call(
            "bench.py", "--url", f"http://127.0.0.1:{port}", "--requests", "2", "--max-tokens", "24", "--warmup", "0", "--json"
        )
    finally:
        kill_tree(proc)
    assert status == 0, err
    import json

    data = json.loads(out)
    assert data["mean_tps"] > 0 and {r["tokens_from"] for r in data["requests"]} <= {"usage", "length", "tokenize"}
