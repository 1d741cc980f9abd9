"""Shared fixtures: the test-size synthetic family (generated once) and the real llama-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import NoReturn

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Every llama-server the tests start (directly, or through sweep.py and bench.py) decodes on one thread, unless the
# caller's environment says otherwise. llama.cpp's worker threads spin while they wait for each other: on a machine
# whose cores are busy with other work they lose their time slices and a tiny model slows down tenfold (measured on
# 2 cores with a busy loop per core: 49 tok/s with the default threads, 482 with one). The tests pin rules, not
# speeds; one thread keeps their servers' pace steady whatever else the machine is doing.
os.environ.setdefault("LLAMA_ARG_THREADS", "1")


def unavailable(skip: str, ci: str) -> NoReturn:
    """A part a test needs is missing: skipped with ``skip`` as the reason, except under CI=true, where ``ci`` says
    what CI lacks and the test fails (CI installs every part)."""
    if os.environ.get("CI") == "true":
        pytest.fail(ci)
    pytest.skip(skip)


@pytest.fixture(scope="session")
def llama_server() -> str:
    """Path of a real llama-server. Missing one fails under CI=true and skips elsewhere."""
    from draftbench.errors import LlamaServerNotFound
    from draftbench.server import llama_bin

    try:
        return llama_bin.find_llama_server()
    except LlamaServerNotFound as exc:
        unavailable(f"no llama-server: {exc}", f"CI needs a real llama-server: {exc}")


@pytest.fixture(scope="session")
def family(tmp_path_factory) -> dict:
    """The test-size synthetic family: paths by name, plus the sweep config synth wrote."""
    from draftbench.synth import model_family

    folder = tmp_path_factory.mktemp("family")
    config = model_family.generate(str(folder), "test")
    files = {name[:-5]: str(folder / name) for name in os.listdir(folder) if name.endswith(".gguf")}
    return {"dir": str(folder), "config": config, **files}


@pytest.fixture
def broken_gguf(family, tmp_path) -> str:
    """The target with its tensor data cut short: the GGUF magic is fine, loading fails."""
    path = tmp_path / "broken.gguf"
    with open(family["target"], "rb") as src:
        data = src.read()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


SESSION_TMP: list[str] = []  # this test session's temporary folder, where every model a test serves lives


@pytest.fixture(scope="session", autouse=True)
def _session_tmp(tmp_path_factory):
    SESSION_TMP[:] = [str(tmp_path_factory.getbasetemp()).rstrip("/") + "/"]
    yield


def llama_pids() -> set[int]:
    """This session's llama-server processes: those serving a model under its temporary folder. A user's own
    servers, or another test run's on the same machine, are neither counted nor killed."""
    out = subprocess.run(["pgrep", "-af", "llama-server"], capture_output=True, text=True).stdout
    pids = set()
    for line in out.splitlines():
        pid, _, command = line.partition(" ")
        if pid.isdigit() and "llama-server" in command and (not SESSION_TMP or SESSION_TMP[0] in command):
            pids.add(int(pid))
    return pids


@pytest.fixture
def no_new_servers():
    """Fail the test if it leaves a llama-server process behind."""
    before = llama_pids()
    yield
    left = llama_pids() - before
    for pid in left:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert not left, f"llama-server processes left running: {sorted(left)}"


def _sigint_default() -> None:
    """A child of a launcher that ignores SIGINT (nohup, a background job) would inherit the ignore and
    never see a test's Ctrl-C: every child starts with SIGINT at its default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (servers in their own sessions included), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a test's child and everything it started, so a failing test leaves no server behind."""
    below = descendants(proc.pid)
    for pid in [proc.pid, *below]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """Start a child process as a test's user would: SIGINT at its default."""
    return subprocess.Popen(args, preexec_fn=_sigint_default, **kwargs)


def run_script(
    script: str, *args: str, timeout: float = 900, env: dict | None = None, cwd: str = ROOT
) -> subprocess.CompletedProcess:
    """Run a top-level script (or ``-m module``) as a user would; DRAFTBENCH_DEBUG only if ``env`` sets it.
    On a timeout the child's whole tree is killed before the error is raised."""
    full_env = {k: v for k, v in os.environ.items() if k != "DRAFTBENCH_DEBUG"}
    full_env.update(env or {})
    target = [script] if script.startswith("-") else [os.path.join(ROOT, script)]
    argv = [sys.executable, *target, *args]
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# What starts a process, for the `server` marker: fixtures (llama-server; Chromium and npm for the browser tests)
# and calls in a test's own code (a command-line script or another child).
_PROCESS_FIXTURES = ("llama_server", "browser", "plotly_js")
_STARTS_PROCESSES = ("run_script(", "sweep_until(", "spawn(", "subprocess.Popen(", "subprocess.run(", "llamacpp.launch(")


def pytest_collection_modifyitems(config, items):
    """Mark `server` every test that starts llama-server (it asks for the `llama_server` fixture, directly or
    through another fixture), a browser, or any child process, so that `pytest -m "not server"` is the quick,
    process-free subset. The rule is read off each test, not listed by hand: a new test cannot forget it."""
    import inspect

    for item in items:
        function = getattr(item, "function", None)
        try:
            source = inspect.getsource(function) if function else ""
        except (OSError, TypeError):
            source = ""
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & set(_PROCESS_FIXTURES) or any(call in source for call in _STARTS_PROCESSES):
            item.add_marker(pytest.mark.server)
