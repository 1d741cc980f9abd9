"""A live vLLM: the ``vllm`` extra (vLLM's CPU build) serving the synthetic family written as Hugging Face folders
(:mod:`draftbench.synth.hf_family`). A sweep end to end with n-gram and a draft model at two concurrency levels,
a method this build cannot run refused before any server starts, and no vLLM process left behind when draftbench
is interrupted, terminated or killed. Skipped where vLLM is not installed; under CI=true that fails instead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, descendants, kill_tree, run_script, spawn, unavailable

from draftbench.errors import DraftbenchError
from draftbench.results.jsonfile import load_results
from draftbench.results.recommend import serve_command
from draftbench.server import vllm
from draftbench.synth import hf_family

pytestmark = pytest.mark.vllm
ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}  # 1 GiB of KV cache, not most of the RAM
SERVER = ["--enforce-eager", "--dtype", "float32"]  # no torch.compile: a server is ready in about 40 s on 2 cores


@pytest.fixture(scope="module")
def install() -> vllm.Install:
    try:
        return vllm.find()
    except DraftbenchError as exc:
        unavailable(f"no vLLM: {str(exc).splitlines()[0]}", f"CI needs vLLM (pip install -e '.[vllm]'): {exc}")


@pytest.fixture(scope="module")
def family(tmp_path_factory, install) -> dict[str, str]:
    return hf_family.generate(str(tmp_path_factory.mktemp("hf")), "test")


def _config(path, family: dict[str, str], drafts: list[dict], **settings) -> str:
    config = {
        "name": "vllm-live",
        "hardware": "cpu",
        "backend": "vllm",
        "targets": [{"label": "8-layer", "path": family["target"]}],
        "drafts": drafts,
        "settings": {
            "requests": 3,
            "warmup": 1,
            "max_tokens": 48,
            "ctx_size": 1024,
            "port": 0,
            "endpoint": "completion",
            "extra_args": SERVER,
            "baseline_every": 0,
            **settings,
        },
    }
    path.write_text(json.dumps(config))
    return str(path)


def test_a_sweep_on_a_live_vllm_measures_acceptance_from_its_counters(tmp_path, family, install):
    drafts = [
        {"label": "ngram", "spec_type": "ngram-simple", "ngram_n": 2, "ngram_n_min": 1, "draft_max": 3},
        {"label": "1-layer", "path": family["draft-1"], "draft_max": 3},
    ]
    config = _config(tmp_path / "sweep.json", family, drafts, concurrency=[1, 2])
    results, chart = tmp_path / "r.json", tmp_path / "r.html"
    done = run_script("sweep.py", "--config", config, "--results", str(results), "--chart", str(chart), env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = load_results(str(results))
    assert len(runs) == 6 and all(r.error is None for r in runs), [r.error for r in runs]
    assert {r.server_version for r in runs} == {install.version}
    for run in runs:
        assert run.engine is not None and run.engine.steps > 0 and run.engine.prefix_cache_hit_tokens == 0
        assert run.engine.mean_batch is not None and 0.5 < run.engine.mean_batch <= run.concurrency + 0.01
        assert run.memory is not None and run.memory.source == "process"  # no buffer lines: the tree's peak
        assert (run.memory.peak_rss_mib or 0) > 300  # the API server, the engine core and its worker, with torch
        if run.draft is None:
            assert run.speculation_active is not True and not run.draft_n
            continue
        assert run.speculation_active and run.draft_n and run.draft_n_accepted, run.draft  # proven by /metrics
        assert run.position_counts and run.position_counts.passes > 0 and sum(run.position_counts.accepted) > 0
        assert run.acceptance_rate == pytest.approx(run.draft_n_accepted / run.draft_n, abs=1e-4)
        if run.concurrency == 1:  # one request at a time: each has its own counts
            assert all(q.draft_n is not None for q in run.requests)
        assert run.speedup is not None and run.speedup_design == "paired"
        command = serve_command(run)
        assert command is not None and command[:3] == ["vllm", "serve", family["target"]]
        assert json.loads(command[4]) == vllm.speculative_config(run.speculation)  # what the server ran
    assert "Plotly" in chart.read_text() or "plotly" in chart.read_text()
    assert not _vllm_left(), "vLLM processes left after the sweep"  # the sweep waited for its servers to go


def test_a_method_this_build_cannot_run_is_refused_before_any_server_starts(tmp_path, family, install):
    drafts = [{"label": "mtp", "spec_type": "draft-mtp", "draft_max": 1}]  # a Llama target has no MTP layers
    config = _config(tmp_path / "sweep.json", family, drafts)
    for extra in ([], ["--dry-run"]):
        started = time.monotonic()
        done = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"), *extra, env=ENV)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "'mtp'" in done.stderr and install.version in done.stderr and "Traceback" not in done.stderr
        assert "Unsupported speculative method" in done.stderr  # vLLM's own reason
        assert time.monotonic() - started < 120
    assert not (tmp_path / "r.json").exists() and not _vllm_left()


def _vllm_left() -> list[int]:
    """vLLM processes of this test session (its servers' process titles, or a command line under ROOT's venv)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [
        int(line.split()[0]) for line in out.splitlines() if "VLLM::" in line or "vllm.entrypoints" in line and sys.prefix in line
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_no_vllm_process_outlives_draftbench(tmp_path, family, install, sig):
    config = _config(tmp_path / "sweep.json", family, [])
    proc = spawn(
        [sys.executable, os.path.join(ROOT, "sweep.py"), "--config", config, "--results", str(tmp_path / "r.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    try:
        deadline, tree = time.monotonic() + 240, []
        while time.monotonic() < deadline and proc.poll() is None:
            tree = descendants(proc.pid)
            if any(_title(pid).startswith("VLLM::") for pid in tree):  # the engine core runs: a process tree
                break
            time.sleep(0.5)
        assert proc.poll() is None and tree, "vLLM's engine never started"
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in tree):
            time.sleep(0.5)
        left = [pid for pid in tree if os.path.exists(f"/proc/{pid}") and _title(pid)]
        assert not left, f"left running after {sig.name}: {[_title(p) for p in left]}"
    finally:
        if proc.poll() is None:
            kill_tree(proc)


def _title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def test_check_schedule_runs_a_vllm_batch_size_schedule(tmp_path, family, install):
    """Issue 50: a concurrency schedule (speculate at one stream, off at two) run on the live vLLM: its own
    num_speculative_tokens_per_batch_size where this build takes it, the table printed with every level."""
    from test_schedule_check_real import _file

    settings = {"requests": 3, "max_tokens": 24, "ctx_size": 1024, "warmup": 0, "endpoint": "completion", "extra_args": SERVER}
    path = _file(tmp_path, {"target": family["target"], "draft-1": family["draft-1"]}, "vllm", settings=settings)
    done = run_script("sweep.py", "--check-schedule", path, env=ENV, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "checked by running it on vLLM (" in done.stdout
    assert (
        "num_speculative_tokens_per_batch_size" in done.stdout
    ) == vllm.takes_batch_schedule() or "would not start" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "2"] and "no speculation" in rows[1]
