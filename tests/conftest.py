"""Shared fixtures: the test-size synthetic family (generated once) and the real llama-server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


@pytest.fixture(scope="session")
def llama_server() -> str:
    """Path of a real llama-server. Missing one fails under CI=true and skips elsewhere."""
    from draftbench import llama_bin
    from draftbench.errors import LlamaServerNotFound

    try:
        return llama_bin.find_llama_server()
    except LlamaServerNotFound as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a real llama-server: {exc}")
        pytest.skip(f"no llama-server: {exc}")


@pytest.fixture(scope="session")
def family(tmp_path_factory) -> dict:
    """The test-size synthetic family: paths by name, plus the sweep config synth wrote."""
    from draftbench import synth

    folder = tmp_path_factory.mktemp("family")
    config = synth.generate(str(folder), "test")
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


def llama_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "llama-server"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


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


def run_script(script: str, *args: str, timeout: float = 300, env: dict | None = None,
               cwd: str = ROOT) -> subprocess.CompletedProcess:
    """Run a top-level script (or ``-m module``) as a user would; DRAFTBENCH_DEBUG only if ``env`` sets it."""
    full_env = {k: v for k, v in os.environ.items() if k != "DRAFTBENCH_DEBUG"}
    full_env.update(env or {})
    target = [script] if script.startswith("-") else [os.path.join(ROOT, script)]
    return subprocess.run([sys.executable, *target, *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)

