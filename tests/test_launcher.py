"""The launcher against a real llama-server: start, readiness, stop, and every start-up fault."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from conftest import ROOT, kill_tree, llama_pids, run_script, spawn

from draftbench.errors import ModelFileError, PortInUse, ServerStartError
from draftbench.server import llamacpp, ports, process
from draftbench.setup.speculation import Speculation


def spec(family, draft=None):
    return process.ServerSpec(
        family["target"],
        Speculation(family[draft] if draft else None, draft_max=3),
        process.ServerOptions(port=0, gpu_layers=0, ctx_size=1024, ready_timeout_s=60),
    )


def completion(url: str) -> dict:
    body = {
        "messages": [{"role": "user", "content": "Tell me about rivers"}],
        "max_tokens": 48,
        "temperature": 0,
        "cache_prompt": False,
    }
    return requests.post(url + "/v1/chat/completions", json=body, timeout=60).json()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_baseline_start_ready_stop(llama_server, family, no_new_servers):
    server = llamacpp.launch(spec(family))
    with server:
        assert requests.get(server.url + "/health", timeout=5).status_code == 200
        assert "timings" in completion(server.url)
        pid, port = server.proc.pid, int(server.url.rsplit(":", 1)[1])
        assert server.load_time_s is not None and server.load_time_s < 30
    assert not group_alive(pid)
    assert ports.ensure_free("127.0.0.1", port) == port  # released: it binds again
    assert server.peak_rss_mib and server.peak_rss_mib > 1
    server.stop()  # idempotent
    assert "-m" in server.command and server.version


def test_speculative_server_drafts(llama_server, family, no_new_servers):
    with llamacpp.launch(spec(family, "draft-1")) as server:
        assert "--spec-type" in server.command  # b11434 needs it, else no speculation
        timings = completion(server.url)["timings"]
    assert timings.get("draft_n", 0) > 0


def test_vocab_mismatch_warns_before_launch_and_does_not_draft(llama_server, family, no_new_servers):
    warnings = []
    server = llamacpp.launch(spec(family, "draft-othervocab"), warn=warnings.append)
    assert warnings and "different tokenizer" in warnings[0] and "WITHOUT speculation" in warnings[0]
    with server:
        timings = completion(server.url)["timings"]
    assert not timings.get("draft_n")


def test_busy_port_reported_before_start(llama_server, family, no_new_servers):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=str(port)):
            llamacpp.launch(process.ServerSpec(family["target"], options=process.ServerOptions(port=port, gpu_layers=0)))


def test_missing_model(family):
    with pytest.raises(ModelFileError, match="not found: /nope/model.gguf"):
        llamacpp.launch(process.ServerSpec("/nope/model.gguf"))


def test_not_gguf(tmp_path, family):
    fake = tmp_path / "notes.gguf"
    fake.write_text("hello")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        llamacpp.launch(process.ServerSpec(family["target"], Speculation(str(fake))))


def test_server_dying_at_startup_fails_fast_with_log(llama_server, broken_gguf, no_new_servers):
    server = llamacpp.launch(
        process.ServerSpec(broken_gguf, options=process.ServerOptions(port=0, gpu_layers=0, ready_timeout_s=120))
    )
    t0 = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        server.start()
    assert time.monotonic() - t0 < 15
    assert "exited with code" in str(info.value)
    assert info.value.log_tail.strip()


def test_sigkill_fallback_when_sigterm_ignored(tmp_path, no_new_servers, monkeypatch):
    """stop() kills a group that ignores SIGTERM, after the grace period."""
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import signal, time, http.server, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n        self.send_response(200); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    port = ports.ensure_free("127.0.0.1", 0)
    monkeypatch.setattr(process, "STOP_GRACE_S", 0.5)
    server = process.ServerProcess(
        [sys.executable, str(script), str(port)], f"http://127.0.0.1:{port}", str(tmp_path / "log.txt"), 30
    )
    with server:
        pid = server.proc.pid
    assert not group_alive(pid)


def test_ctrl_c_of_server_py_leaves_no_llama_server(llama_server, family, no_new_servers):
    proc = spawn(
        [
            sys.executable,
            os.path.join(ROOT, "server.py"),
            "llama-cpp",
            "--model-path",
            family["target"],
            "--draft-path",
            family["draft-1"],
            "--port",
            "0",
            "--gpu-layers",
            "0",
            "--ctx-size",
            "1024",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert completion(url)["timings"].get("draft_n", 0) > 0
        children = llama_pids()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    assert not (children & llama_pids())


def test_server_py_bad_input_is_one_line(family):
    result = run_script("server.py", "llama-cpp", "--model-path", "/nope/x.gguf")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "/nope/x.gguf" in result.stderr


def test_server_py_runs_a_model_free_setup(llama_server, family, no_new_servers):
    proc = spawn(
        [
            sys.executable,
            os.path.join(ROOT, "server.py"),
            "llama-cpp",
            "--model-path",
            family["target"],
            "--spec-type",
            "ngram-mod",
            "--draft-max",
            "4",
            "--port",
            "0",
            "--gpu-layers",
            "0",
            "--ctx-size",
            "1024",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = proc.stdout.readline().strip()
        assert "timings" in completion(url)
        log = proc.stderr.readline().split("log: ", 1)[1].split(";")[0]
        header = open(log).readline()
        assert "--spec-type ngram-mod --spec-ngram-mod-n-max 4" in header and "--model-draft" not in header
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            kill_tree(proc)
