"""A concurrency schedule checked by running it on a real llama-server: every level of the ramp measured again
(the scheduled setup, the best fixed setup, no speculation), the promised and measured figures printed side by
side; a file without a schedule, or one measured on vLLM, is refused with what to do."""

from __future__ import annotations

import json

import pytest
from conftest import run_script

from draftbench.results.jsonfile import save_results
from draftbench.results.schema import FileMeta, RunResult
from draftbench.setup.speculation import Speculation

pytestmark = pytest.mark.server
SETTINGS = {"requests": 3, "max_tokens": 12, "ctx_size": 1024, "gpu_layers": 0, "warmup": 0, "concurrency": [1, 2]}


def _file(tmp_path, family, backend: str = "llamacpp", levels: tuple[int, ...] = (1, 2), settings: dict | None = None) -> str:
    """A results file (kept speedups, no requests: as the original tool's files) whose schedule speculates at one
    stream and turns it off at two, with the test family's real models."""
    runs = []
    for streams in levels:
        runs.append(RunResult("T", None, streams, target_path=family["target"], mean_tps=100.0, aggregate_tps=100.0 * streams))
        gain = 1.5 if streams == 1 else 0.8
        runs.append(
            RunResult(
                "T",
                "1-layer n_max 3",
                streams,
                target_path=family["target"],
                speculation=Speculation(family["draft-1"], ("draft-simple",), draft_max=3),
                speculation_flags=["--model-draft", family["draft-1"], "--spec-type", "draft-simple", "--spec-draft-n-max", "3"],
                mean_tps=100.0 * gain,
                aggregate_tps=100.0 * streams * gain,
                speedup=gain,
                speedup_ci95=[gain * 0.9, gain * 1.1],
                speedup_n=12,
                speedup_design="paired",
                aggregate_speedup=gain,
                speculation_active=True,
                n_requests=12,
            )
        )
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta(name="s", backend=backend, settings=settings or SETTINGS), runs)
    return path


def test_check_schedule_runs_every_level_and_prints_promised_against_measured(family, tmp_path):
    done = run_script("sweep.py", "--check-schedule", _file(tmp_path, family), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "2"]
    one, two = rows
    assert "1-layer n_max 3" in one and "+50%" in one and "paired requests" in one.split("|")[4]  # measured now, paired
    assert "no speculation" in two and "->" in two  # speculation off at two streams: checked against no speculation
    assert "2 streams: no speculation ..." in done.stderr and "1 stream: 1-layer n_max 3 ..." in done.stderr


def test_check_schedule_refuses_a_file_it_cannot_check(family, tmp_path):
    flat = run_script("sweep.py", "--check-schedule", _file(tmp_path, family, levels=(1,)))
    assert flat.returncode != 0 and "no serving schedule" in flat.stderr and "Traceback" not in flat.stderr
    other = run_script("sweep.py", "--check-schedule", _file(tmp_path, family, backend="lmstudio"))
    assert other.returncode != 0 and "measured on lmstudio" in other.stderr
    assert json.loads(open(tmp_path / "r.json").read())["name"] == "s"  # the file is left as it was
