"""draftbench killed hard (SIGKILL, the OOM killer) takes its servers with it; one sweep per results file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, kill_tree, llama_pids, run_script, spawn
from sweep_helpers import sweep_until, write_config


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = pids & llama_pids()
        if not alive:
            return set()
        time.sleep(0.05)
    return pids & llama_pids()


def _wait_for_new(before: set[int]) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = llama_pids() - before
        if new:
            return new
        time.sleep(0.05)
    raise AssertionError("no llama-server appeared")


def test_sigkill_of_server_py_takes_the_server_down(llama_server, family, no_new_servers):
    before = llama_pids()
    proc = spawn(
        [
            sys.executable,
            os.path.join(ROOT, "server.py"),
            "llama-cpp",
            "--model-path",
            family["target"],
            "--port",
            "0",
            "--gpu-layers",
            "0",
            "--ctx-size",
            "1024",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().startswith("http://127.0.0.1:")
        servers = _wait_for_new(before)
        proc.kill()
        proc.wait()
        assert _gone_within(servers, 2.0) == set()
    finally:
        if proc.poll() is None:
            kill_tree(proc)


def test_sigkill_of_a_sweep_mid_run_takes_the_server_down(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, max_tokens=300, requests=3)
    before = llama_pids()
    box: dict = {}
    code, _ = sweep_until(
        ["--config", config, "--results", str(tmp_path / "r.json")],
        ["[2/3]", "ready"],
        sig=signal.SIGKILL,
        action=lambda: box.update(servers=_wait_for_new(before)),
    )
    assert code == -signal.SIGKILL
    assert _gone_within(box["servers"], 2.0) == set()


@pytest.mark.parametrize("mode", ["kernel", "watchdog"])
def test_parent_death_ends_the_server_in_both_modes(tmp_path, mode):
    """The watchdog (macOS's way) is forced here by hiding prctl; a small HTTP server stands in for llama-server."""
    server = tmp_path / "srv.py"
    server.write_text(
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n        self.send_response(200); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import sys, time\nsys.path.insert(0, sys.argv[1])\nfrom draftbench.server import lifeline, ports, process\n"
        f"if {mode == 'watchdog'!r}:\n    lifeline._PRCTL = None\n"
        "port = ports.ensure_free('127.0.0.1', 0)\n"
        "s = process.ServerProcess([sys.executable, sys.argv[2], str(port)], f'http://127.0.0.1:{port}',\n"
        "                           sys.argv[3], 30).start()\n"
        "print(s.proc.pid, flush=True)\ntime.sleep(120)\n"
    )
    proc = spawn([sys.executable, str(parent), ROOT, str(server), str(tmp_path / "log")], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if proc.poll() is None:
            kill_tree(proc)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_leftover_server_on_the_port_is_named(llama_server, family, tmp_path, no_new_servers):
    port_holder = spawn(
        [llama_server, "-m", family["target"], "--port", "0", "-ngl", "0", "-c", "512"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _listening_port(port_holder.pid)
        config = write_config(family, tmp_path, drafts=[], port=port)
        result = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"))
        assert result.returncode == 2, result.stderr
        assert f"pid {port_holder.pid}" in result.stderr and "llama-server" in result.stderr
        assert f"kill {port_holder.pid}" in result.stderr
    finally:
        kill_tree(port_holder)


def _listening_port(pid: int) -> int:
    from draftbench.server import ports

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for port in _ports_of(pid):
            holder = ports.listener(port)
            if holder and holder[0] == pid:
                return port
        time.sleep(0.1)
    raise AssertionError("the server never listened")


def _ports_of(pid: int) -> list[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in open(table).read().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:
                found.append(int(cols[1].rsplit(":", 1)[1], 16))
    return found


def _hold_lock(results: str) -> subprocess.Popen:
    holder = spawn(
        [
            sys.executable,
            "-c",
            "import sys, time\nsys.path.insert(0, sys.argv[1])\n"
            "from draftbench.sweep.lock import ResultsLock\nResultsLock(sys.argv[2]).acquire()\n"
            "print('locked', flush=True)\ntime.sleep(120)\n",
            ROOT,
            results,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_second_sweep_on_a_locked_results_file_is_refused(family, tmp_path):
    results = tmp_path / "r.json"
    results.write_text('{"results": [], "note": "written by the first sweep"}')
    before = results.read_bytes()
    holder = _hold_lock(str(results))
    try:
        config = write_config(family, tmp_path, drafts=[])
        for extra in ([], ["--fresh"]):
            result = run_script("sweep.py", "--config", config, "--results", str(results), *extra)
            assert result.returncode == 2, result.stderr
            assert f"pid {holder.pid}" in result.stderr and str(results) in result.stderr
            assert "Traceback" not in result.stderr
        assert results.read_bytes() == before
        chart = run_script("sweep.py", "--results", str(results), "--chart-only")  # readers need no lock
        assert "being written" not in chart.stderr
    finally:
        kill_tree(holder)


def test_stale_lock_is_taken_over(llama_server, family, tmp_path, no_new_servers):
    results = tmp_path / "r.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "r.json.lock").write_text(f"{dead.pid}\n")
    result = run_script("sweep.py", "--config", write_config(family, tmp_path, drafts=[]), "--results", str(results))
    assert result.returncode == 0, result.stderr
    assert f"from pid {dead.pid}" in result.stderr
    assert results.exists() and not (tmp_path / "r.json.lock").exists()


def test_lock_held_by_a_killed_sweep_is_free_again(tmp_path):
    """flock dies with its holder: SIGKILL of the holder leaves a lock file that is not held."""
    from draftbench.sweep.lock import ResultsLock

    holder = _hold_lock(str(tmp_path / "r.json"))
    holder.kill()
    holder.wait()
    with ResultsLock(str(tmp_path / "r.json")) as lock:
        assert lock.took_over == holder.pid


def _blocked_mask(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1], 16) for line in fh if line.startswith("SigBlk:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_signal_during_server_start_waits_until_the_server_is_registered():
    """Ctrl-C landing between the child's exec and Popen's return would lose the server's handle: the
    launcher holds it until the server is registered; the child itself starts with it unblocked."""
    from draftbench.server import lifeline

    tie, _ = lifeline.preexec_for_parent(os.getpid())
    got = []
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest itself may run with SIGINT ignored
    try:
        with pytest.raises(KeyboardInterrupt):
            with lifeline.signals_held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                child = subprocess.Popen(["sleep", "30"], preexec_fn=tie, start_new_session=True)
                got.append(child)  # reached: the signal waited
    finally:
        signal.signal(signal.SIGINT, before)
    child = got[0]
    try:
        sigint_bit = 1 << (signal.SIGINT - 1)
        assert _blocked_mask(child.pid) & sigint_bit == 0
        assert _blocked_mask(os.getpid()) & sigint_bit == 0
    finally:
        child.kill()
        child.wait()
