"""A fake OpenAI-style HTTP server, ONLY for faults a real llama-server cannot be made to produce on
demand: malformed SSE lines, an HTTP 500 or a reset connection mid-stream, a server that accepts and
never answers. Everything else is tested against a real llama-server."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _event(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


GOOD = [
    _event({"choices": [{"delta": {"content": "hello"}}]}),
    _event({"choices": [{"delta": {"content": " there"}}]}),
    _event(
        {
            "choices": [{"delta": {}, "finish_reason": "stop"}],
            "timings": {"predicted_n": 2, "predicted_per_second": 50.0, "prompt_n": 5},
        }
    ),
    _event({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
    b"data: [DONE]\n\n",
]


class _Quiet(ThreadingHTTPServer):
    """A client that hangs up mid-answer (as draftbench does once it sees a web page) is not an error to print."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Served:
    """A local HTTP server on a free port, serving ``handler`` in a thread for the length of a ``with``."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _Quiet(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeServer(_Served):
    """Requests whose prompt contains FAULT get ``fault``: malformed, http500, midstream500, reset or hang."""

    def __init__(self, fault: str, loading_checks: int = 0):
        self.fault = fault
        self.loading_checks = loading_checks  # answer /health with 503 this many times first
        self.count = 0
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                body = b'{"status":"ok"}'
                status = 200 if self.path == "/health" else 404
                if self.path == "/health" and outer.loading_checks > 0:
                    outer.loading_checks -= 1
                    status, body = 503, b'{"error":{"code":503,"message":"Loading model"}}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                prompt = json.dumps(body.get("messages", ""))
                with outer.lock:
                    outer.count += 1
                    outer.bodies.append(body)
                mode = outer.fault if "FAULT" in prompt else "good"
                if mode == "http500":
                    body = b'{"error":{"message":"boom"}}'
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if mode == "hang":
                    time.sleep(5)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if mode == "good":
                    events = GOOD
                elif mode == "malformed":
                    events = GOOD[:1] + [b"data: {broken\n\n"] + GOOD[1:]
                elif mode == "midstream500":
                    events = GOOD[:1] + [_event({"error": {"code": 500, "message": "internal error mid-stream"}})]
                else:  # reset
                    self.wfile.write(GOOD[0])
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    return
                for e in events:
                    self.wfile.write(e)
                    self.wfile.flush()
                self.close_connection = True

        self._serve(Handler)


class ReplayServer(_Served):
    """Answers each POST path with recorded bytes: ONLY for servers the suite cannot run itself, replayed from
    what they really sent (``shared/fixtures/streams``: llama-cpp-python 0.3.36, which would need a second
    llama.cpp build), and for answers no real inference server gives (a web page where the API should be).
    ``routes`` maps a path to (content type, body). ``/extras/tokenize`` answers with one token per word when
    ``tokenize`` is set: a stand-in for llama-cpp-python's tokenizer, whose exact count the tests do not need."""

    def __init__(self, routes: dict[str, tuple[str, bytes]], tokenize: bool = False, pace_s: float = 0.002):
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._answer(404, "application/json", b'{"detail":"Not Found"}')

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.paths.append(self.path)
                if self.path == "/extras/tokenize" and tokenize:
                    words = str(body.get("input", "")).split()
                    return self._answer(200, "application/json", json.dumps({"tokens": list(range(len(words)))}).encode())
                if self.path not in routes:
                    return self._answer(404, "application/json", b'{"detail":"Not Found"}')
                content_type, data = routes[self.path]
                if not content_type.startswith("text/event-stream"):
                    return self._answer(200, content_type, data)
                self.send_response(200)  # event by event in HTTP chunks, as a streaming server sends them
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in data.split(b"\n\n"):
                    if event.strip():
                        piece = event + b"\n\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                        time.sleep(pace_s)
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

        self._serve(Handler)
