"""``sweep.py --dry-run`` checks and prints the plan: no server starts, no file is written."""

from __future__ import annotations

import json
import os
import re

from conftest import llama_pids, run_script
from sweep_helpers import write_config


def _files(folder) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs}


def test_dry_run_prints_the_plan_and_touches_nothing(llama_server, family, tmp_path, no_new_servers):
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(family, work, requests=3, max_tokens=40, concurrency=[1, 2])
    before_files, before_pids = _files(tmp_path), llama_pids()
    done = run_script("sweep.py", "--config", config, "--dry-run", cwd=str(work))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Plan: 6 runs of 3 requests, up to 40 tokens each" in out
    assert "[1/6] 8-layer target (baseline) @ 1 stream: up to 120 tokens" in out  # 3 x 40, no warm-up
    assert "--model-draft" in out and "--parallel 2" in out and "--port <port>" in out
    assert "Estimated time: unknown" in out and "Dry run: no server started, nothing written." in out
    assert _files(tmp_path) == before_files and llama_pids() == before_pids
    deep = run_script(
        "sweep.py",
        "--config",
        write_config(family, work, name="d", requests=3, depth=[0, 500], ctx_size=2048),
        "--dry-run",
        cwd=str(work),
    )
    assert deep.returncode == 0, deep.stderr
    assert re.search(
        r"\] 8-layer target \(baseline\) @ depth 500: up to \d+ tokens, 1,500 context tokens prefilled", deep.stdout
    ), deep.stdout
    assert "Context depth: 0, 500 tokens before each measured prompt" in deep.stdout


def test_dry_run_estimates_from_an_earlier_results_file_and_stops_on_a_bad_config(llama_server, family, tmp_path):
    config = write_config(family, tmp_path, requests=2, max_tokens=24)
    results = tmp_path / "r.json"
    first = run_script("sweep.py", "--config", config, "--results", str(results))
    assert first.returncode == 0, first.stderr
    done = run_script("sweep.py", "--config", config, "--results", str(results), "--dry-run")
    assert done.returncode == 0 and "Estimated time: about" in done.stdout and f"runs in {results}" in done.stdout
    with open(config, encoding="utf-8") as fh:
        data = json.load(fh)
    data["settings"]["prompts"] = "missing.jsonl"
    with open(config, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    bad = run_script("sweep.py", "--config", config, "--dry-run")
    assert bad.returncode == 2 and "settings.prompts: cannot read" in bad.stderr and "Traceback" not in bad.stderr


def test_a_reader_that_stops_early_gets_no_traceback(llama_server, family, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    config = write_config(family, tmp_path, requests=2, max_tokens=24)
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "sweep.py"), "--config", config, "--dry-run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(tmp_path),
    )
    proc.stdout.readline()
    proc.stdout.close()  # like '| head -1'
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err


def _generated(folder: str) -> int:
    """Tokens every llama-server of a sweep generated, from their logs ("eval time = ... / N tokens")."""
    total = 0
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
            found = re.finditer(r"(?<!prompt )\beval time =\s+[\d.]+ ms /\s+(\d+) tokens", fh.read())
            total += sum(int(m.group(1)) for m in found)
    return total


def test_the_dry_runs_token_total_is_what_the_sweep_generates(llama_server, family, tmp_path, no_new_servers):
    """Draft model, MTP and n-gram setups with the cost model and baseline checks on: the dry run asks the
    components what they run (draft-alone runs, synthetic-acceptance twins, v(k), checks, warm-ups), so its
    total is what the servers' own logs count afterwards."""
    config = write_config(family, tmp_path, requests=2, max_tokens=24, warmup=1, baseline_every=2, cost_model=True)
    data = json.load(open(config))
    data["targets"] = [{"label": "MTP target", "path": family["target-mtp"]}]
    data["drafts"] = [
        {"label": "1-layer", "path": family["draft-1"]},
        {"label": "MTP", "spec_type": "draft-mtp", "draft_max": 2},
        {"label": "n-gram", "spec_type": "ngram-mod", "draft_max": 4},
    ]
    with open(config, "w") as fh:
        json.dump(data, fh)
    results = str(tmp_path / "r.json")
    dry = run_script("sweep.py", "--config", config, "--results", results, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = int(re.search(r"Total: up to ([\d,]+) generated tokens", dry.stdout).group(1).replace(",", ""))
    assert "n-gram" not in dry.stdout.split("synthetic acceptance")[0].splitlines()[-1]  # 2 twins: 1-layer, MTP
    assert "Cost model: 2 setups once more" in dry.stdout and "Baseline checks: 2" in dry.stdout
    done = run_script("sweep.py", "--config", config, "--results", results)
    assert done.returncode == 0, done.stderr
    assert _generated(str(tmp_path / "logs" / "r")) == planned
