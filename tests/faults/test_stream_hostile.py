"""Streams no real server sends (issue 34, row 9): fields of the wrong type, negative rates, a flood of keep-alive
lines, and an event stream sent without chunked encoding. The byte-level cases feed ``stream.consume`` directly;
the framing case needs a socket, so it uses a tiny fake HTTP server: ONLY because llama-server always streams in
chunks and cannot be made to send a Content-Length stream."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from fakeserver import _Quiet

from draftbench.measure import stream
from draftbench.records.requests import RequestResult


def _ev(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _consume(chunks: list[bytes]) -> RequestResult:
    ticks = iter(range(10_000))
    return stream.consume(iter(chunks), 0.0, lambda: float(next(ticks)), RequestResult("p"), 8)


@pytest.mark.parametrize(
    "event, said",
    [
        ({"choices": [{"delta": "hello"}]}, "choices[].delta must be an object"),
        ({"choices": [{"delta": {"content": 42}}]}, "content must be text"),
        (
            {"choices": [{"delta": {"content": "a"}}], "timings": {"predicted_per_second": "fast"}},
            "timings.predicted_per_second must be a number, got 'fast'",
        ),
        (
            {"choices": [{"delta": {"content": "a"}}], "timings": {"predicted_per_second": -123.0}},
            "timings.predicted_per_second is -123.0, below zero",
        ),
        (
            {"choices": [{"delta": {"content": "a"}}], "usage": {"completion_tokens": "2"}},
            "usage.completion_tokens must be a number",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_a_protocol_error_naming_it(event, said):
    done = _consume([_ev({"choices": [{"delta": {"content": "x"}}]}), _ev(event), b"data: [DONE]\n\n"])
    assert done.error is not None and said in done.error
    assert not (done.decode_tps or 0) < 0


def test_a_flood_of_keep_alive_lines_is_bounded_and_parsed_in_linear_time():
    flood = b": keep-alive\n" * 300_000  # 3.9 MB of comments, in one chunk
    t0 = time.perf_counter()
    done = _consume([_ev({"choices": [{"delta": {"content": "x"}}]}), flood, _ev({"choices": [{"delta": {"content": "y"}}]})])
    assert time.perf_counter() - t0 < 5  # was 37.6 s: each line split copied the rest of the buffer
    assert done.error is not None and "without a data event" in done.error
    small = _consume([b": ping\n" * 1000 + _ev({"choices": [{"delta": {"content": "x"}}]}), b"data: [DONE]\n\n"])
    assert small.error is None and small.text == "x"


class _ContentLengthStream(BaseHTTPRequestHandler):
    """Sends an event stream with a Content-Length (no chunked encoding), one event every 0.3 s."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        events = [_ev({"choices": [{"delta": {"content": w}}]}) for w in ("one", " two", " three")]
        events.append(b"data: [DONE]\n\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(sum(map(len, events))))
        self.end_headers()
        for e in events:
            self.wfile.write(e)
            self.wfile.flush()
            time.sleep(0.3)


def test_ttft_is_the_first_tokens_arrival_without_chunked_encoding():
    httpd = _Quiet(("127.0.0.1", 0), _ContentLengthStream)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        done = stream.stream_chat(
            f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat/completions", {"stream": True, "max_tokens": 3}, "p", 30
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert done.error is None and done.text == "one two three"
    assert done.ttft_s < 0.25 and done.total_s > 0.8  # the first event, not the whole 1.2 s response
