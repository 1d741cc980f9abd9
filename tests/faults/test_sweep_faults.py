"""Every way a long sweep can break, against real llama-server processes (test-size family).

Each test names the fault it injects; together they are the table in the README's
"What happens when things go wrong"."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
from conftest import ROOT, kill_tree, llama_pids, run_script
from sweep_helpers import load, sweep_until, write_config

from draftbench.core import files as files_mod
from draftbench.errors import ResultsFileError
from draftbench.setup.config import load_config
from draftbench.sweep.runner import Sweep


def _newest_llama_pid(before: set[int]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = llama_pids() - before
        if new:
            return max(new)
        time.sleep(0.05)
    raise AssertionError("no llama-server appeared")


def test_server_sigkilled_mid_measurement(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, max_tokens=400, requests=3)
    results = str(tmp_path / "r.json")
    before = llama_pids()

    def kill_server():
        os.kill(_newest_llama_pid(before), signal.SIGKILL)

    code, err = sweep_until(["--config", config, "--results", results], ["[2/3]", "ready"], sig=None, action=kill_server)
    assert code == 1, err
    runs = load(results)["results"]
    assert runs[0]["error"] is None and runs[2]["error"] is None
    # killed while measuring, or (a slow machine) after "ready" but before its first request reached it
    assert re.search(r"the server died (during|before) measurement, killed by SIGKILL \(.*out-of-memory", runs[1]["error"])
    resumed = run_script("sweep.py", "--config", config, "--results", results)
    assert resumed.returncode == 0 and resumed.stderr.count("done earlier, skipped") == 2
    assert load(results)["results"][1]["error"] is None


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_run(llama_server, family, tmp_path, no_new_servers, sig, code):
    config = write_config(family, tmp_path, max_tokens=300, requests=3)
    results = str(tmp_path / "r.json")
    before = llama_pids()
    box = {}

    def remember_and_signal():
        box["pid"] = _newest_llama_pid(before)

    exit_code, err = sweep_until(["--config", config, "--results", results], "[2/3]", sig=sig, action=remember_and_signal)
    assert exit_code == code, err
    assert "Resume with the same command" in err
    with pytest.raises(ProcessLookupError):
        os.killpg(box["pid"], 0)
    runs = load(results)["results"]
    assert [r["draft"] for r in runs] == [None] and runs[0]["error"] is None
    resumed = run_script("sweep.py", "--config", config, "--results", results)
    assert resumed.returncode == 0 and len(load(results)["results"]) == 3


def test_sigint_while_model_loads(llama_server, family, tmp_path, no_new_servers):
    """A wrapper delays the real llama-server's start, so the signal lands while it is 'loading'."""
    wrapper = tmp_path / "slow-llama-server"
    wrapper.write_text(
        f'#!/bin/sh\ncase "$1" in --help|--version) exec "{llama_server}" "$@";; esac\nsleep 60\nexec "{llama_server}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    config = write_config(family, tmp_path, llama_bin=str(wrapper))
    results = str(tmp_path / "r.json")
    t0 = time.monotonic()
    code, err = sweep_until(["--config", config, "--results", results], "Starting server")
    assert code == 130, err
    assert time.monotonic() - t0 < 30
    sleeping = subprocess.run(["pgrep", "-f", str(wrapper)], capture_output=True, text=True).stdout.split()
    assert sleeping == []


def test_busy_port_fails_before_any_server(llama_server, family, tmp_path, no_new_servers):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = write_config(family, tmp_path, port=port)
        result = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"))
    assert result.returncode == 2 and f"port {port}" in result.stderr and "settings.port" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_port_zero_picks_a_free_port(llama_server, family, tmp_path):
    result = run_script("sweep.py", "--config", write_config(family, tmp_path, drafts=[]), "--results", str(tmp_path / "r.json"))
    assert result.returncode == 0
    cmd = load(str(tmp_path / "r.json"))["results"][0]["server_command"]
    assert cmd[cmd.index("--port") + 1] != "0"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_model_removed_mid_sweep(llama_server, family, tmp_path, no_new_servers):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    shutil.copy(family["target"], a)
    shutil.copy(family["target"], b)
    config = json.loads(open(write_config(family, tmp_path, drafts=[("1-layer", "draft-1")])).read())
    config["targets"] = [{"label": "A", "path": str(a)}, {"label": "B", "path": str(b)}]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(config))
    results = str(tmp_path / "r.json")
    code, err = sweep_until(["--config", str(path), "--results", results], "[1/4]", sig=None, action=lambda: os.remove(b))
    assert code == 1, err
    runs = {(r["target"], r["draft"]): r for r in load(results)["results"]}
    assert runs[("A", None)]["error"] is None and runs[("A", "1-layer")]["error"] is None
    assert "not found" in runs[("B", None)]["error"]
    assert "has no baseline" in runs[("B", "1-layer")]["error"]
    assert "2 run(s) failed" in err


def test_not_gguf_is_a_preflight_error(family, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04 not a model")
    config = json.loads(open(write_config(family, tmp_path)).read())
    config["drafts"].append({"label": "junk", "path": str(junk)})
    (tmp_path / "c.json").write_text(json.dumps(config))
    result = run_script("sweep.py", "--config", str(tmp_path / "c.json"), "--results", str(tmp_path / "r.json"))
    assert result.returncode == 2 and "drafts[2].path" in result.stderr and "not a GGUF" in result.stderr


def test_broken_tensor_fails_fast_with_log_tail(llama_server, family, broken_gguf, tmp_path, no_new_servers):
    config = json.loads(open(write_config(family, tmp_path)).read())
    config["targets"] = [{"label": "broken", "path": broken_gguf}]
    (tmp_path / "c.json").write_text(json.dumps(config))
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", str(tmp_path / "c.json"), "--results", results)
    assert result.returncode == 1
    base = load(results)["results"][0]
    assert "exited with code" in base["error"] and base["log_excerpt"] and base["wall_time_s"] < 15
    assert "server log" in result.stderr
    assert all("has no baseline" in r["error"] for r in load(results)["results"][1:])


def test_vocab_mismatch_runs_but_is_never_recommended(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, drafts=[("other vocab", "draft-othervocab"), ("1-layer", "draft-1")])
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", config, "--results", results)
    assert "different tokenizer" in result.stderr
    runs = load(results)["results"]
    assert runs[1]["speculation_active"] is False and runs[2]["speculation_active"] is True
    assert "use other vocab" not in result.stderr
    html = open(results[:-5] + ".html").read()
    assert "speculation was not active" in html


def test_removed_flag_shows_the_servers_message(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, drafts=[], extra_args=["--spec-ngram-min-hits", "2"])
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", config, "--results", results)
    assert result.returncode == 1
    error = load(results)["results"][0]["error"]
    assert "has been removed" in error, error


def test_hung_server_ends_by_timeout(llama_server, family, tmp_path, no_new_servers):
    """SIGSTOP freezes a real llama-server: it accepts connections (kernel backlog) and never answers."""
    # long enough requests that the freeze lands while the baseline is being measured, not after it
    config = write_config(family, tmp_path, drafts=[("1-layer", "draft-1")], request_timeout_s=2, requests=4, max_tokens=400)
    results = str(tmp_path / "r.json")
    before = llama_pids()
    code, err = sweep_until(
        ["--config", config, "--results", results],
        "ready",
        sig=None,
        action=lambda: os.kill(_newest_llama_pid(before), signal.SIGSTOP),
    )
    assert code == 1, err
    runs = load(results)["results"]
    # frozen mid-request: "no data for 2 s (... raise --request-timeout-s ...)" or "exceeded the request timeout"; frozen
    # before the first request (a slow machine): "no answer to /health within 5 s: timeout, the server may be hung"
    error = runs[0]["error"]
    assert "request timeout" in error or "no answer to /health within 5 s" in error, error
    assert "has no baseline" in runs[1]["error"]


def test_corrupt_results_file_is_left_alone(family, tmp_path):
    results = tmp_path / "r.json"
    results.write_text('{"results": [{"target": "x", "mean_tps": 3')
    before = llama_pids()
    result = run_script("sweep.py", "--config", write_config(family, tmp_path), "--results", str(results))
    assert result.returncode == 2 and "truncated or corrupt" in result.stderr and str(results) in result.stderr
    assert results.read_text() == '{"results": [{"target": "x", "mean_tps": 3'
    assert llama_pids() <= before


def test_unwritable_results_dir_fails_first(family, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_script("sweep.py", "--config", write_config(family, tmp_path), "--results", str(blocker / "r.json"))
    assert result.returncode == 2 and "cannot write results" in result.stderr and "--results" in result.stderr
    assert "Starting server" not in result.stderr


def test_no_space_left_fails_first(family, tmp_path, monkeypatch):
    monkeypatch.setattr(files_mod, "MIN_FREE_BYTES", 1 << 62)
    sweep = Sweep(load_config(write_config(family, tmp_path)), str(tmp_path / "r.json"), echo=lambda *a, **k: None)
    with pytest.raises(ResultsFileError, match="MiB free"):
        sweep.run()
    assert not (tmp_path / "r.json").exists()


HOSTILE = "\x1b[31mRED</script><script>alert(1)</script>"


def test_hostile_labels_stay_text(llama_server, family, tmp_path, no_new_servers):
    config = json.loads(open(write_config(family, tmp_path, drafts=[("x", "draft-1")])).read())
    config["drafts"][0]["label"] = HOSTILE
    (tmp_path / "c.json").write_text(json.dumps(config))
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", str(tmp_path / "c.json"), "--results", results)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stderr and "\\x1b[31mRED" in result.stderr
    assert load(results)["results"][1]["draft"] == HOSTILE
    html = open(results[:-5] + ".html").read()
    assert "<script>alert(1)" not in html and "\x1b" not in html.replace("\\u001b", "")


def test_api_key_never_written(llama_server, family, tmp_path, no_new_servers):
    secret = "sk-draftbench-test-secret"
    config = write_config(family, tmp_path, drafts=[("1-layer", "draft-1")], extra_args=["--api-key", secret])
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", config, "--results", results)
    assert result.returncode == 0, result.stderr
    assert load(results)["results"][1]["speculation_active"] is True  # the key reached the bench requests
    written = [results, results[:-5] + ".html"]
    for folder, _, names in os.walk(tmp_path / "logs"):
        written += [os.path.join(folder, n) for n in names]
    assert len(written) > 2
    for path in written:
        assert secret not in open(path, encoding="utf-8", errors="replace").read(), path
    assert secret not in result.stdout + result.stderr
    resumed = run_script("sweep.py", "--config", config, "--results", results)
    assert resumed.returncode == 0, resumed.stderr  # redacted settings still compare equal


def test_a_sweep_started_with_sigint_ignored_stops_on_sigterm(llama_server, family, tmp_path, no_new_servers):
    """Issue 21, row 19: a background job of a non-interactive shell starts with SIGINT ignored, and Python keeps
    it ignored. The README says so and tells such users to stop it with SIGTERM, which must work the same way."""
    wrapper = tmp_path / "slow-llama-server"
    wrapper.write_text(
        f'#!/bin/sh\ncase "$1" in --help|--version) exec "{llama_server}" "$@";; esac\nsleep 60\nexec "{llama_server}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    config = write_config(family, tmp_path, llama_bin=str(wrapper))
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "sweep.py"), "--config", config, "--results", str(tmp_path / "r.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        text = ""
        while "Starting server" not in text:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, text
            text += chunk.decode("utf-8", errors="replace")
        proc.send_signal(signal.SIGINT)
        time.sleep(1.5)
        assert proc.poll() is None  # ignored, as the shell arranged
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        text += proc.communicate(timeout=60)[1].decode("utf-8", errors="replace")
        assert proc.returncode == 143 and time.monotonic() - t0 < 30, text
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    sleeping = subprocess.run(["pgrep", "-f", str(wrapper)], capture_output=True, text=True).stdout.split()
    assert sleeping == []
