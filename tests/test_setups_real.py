"""Speculation setups end to end with real llama-server processes: axes, model-free and combined types,
their flags, resume, and refusals before any server starts."""

from __future__ import annotations

import json
import os
import stat

from conftest import llama_pids, run_script
from sweep_helpers import load, write_config


def setup_config(family, tmp_path, name="s", axes=None, drafts=None, **settings) -> str:
    path = write_config(family, tmp_path, name=name, drafts=[], **settings)
    data = json.loads(open(path).read())
    data["drafts"] = drafts if drafts is not None else [{"label": "1-layer", "path": family["draft-1"]}]
    if axes is not None:
        data["axes"] = axes
    with open(path, "w") as fh:
        json.dump(data, fh)
    return path


def _flag(cmd: list[str], flag: str) -> str | None:
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def test_axes_expand_and_every_launch_carries_its_flags(llama_server, family, tmp_path, no_new_servers):
    config = setup_config(family, tmp_path, axes={"draft_max": [1, 4], "draft_p_min": [0, 0.5]})
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", config, "--results", results)
    assert result.returncode == 0, result.stderr
    assert "1 targets x 4 speculation setups = 5 runs" in result.stderr
    data = load(results)
    runs = data["results"]
    assert [r["draft"] for r in runs] == [
        None,
        "1-layer · n_max 1 · p_min 0",
        "1-layer · n_max 1 · p_min 0.5",
        "1-layer · n_max 4 · p_min 0",
        "1-layer · n_max 4 · p_min 0.5",
    ]
    for run, (n_max, p_min) in zip(runs[1:], [(1, 0.0), (1, 0.5), (4, 0.0), (4, 0.5)]):
        assert run["error"] is None and run["speculation_active"] is True
        assert (run["draft_max"], run["draft_p_min"], run["spec_type"]) == (n_max, p_min, "draft-simple")
        cmd = run["server_command"]
        assert _flag(cmd, "--spec-type") == "draft-simple" and _flag(cmd, "--model-draft") == family["draft-1"]
        assert _flag(cmd, "--spec-draft-n-max") == str(n_max) and float(_flag(cmd, "--spec-draft-p-min")) == p_min
        assert run["speculation_flags"] == cmd[cmd.index("--model-draft") : cmd.index("--spec-draft-ngl")]
    assert runs[0]["spec_type"] is None and "--spec-type" not in runs[0]["server_command"]
    # b11434 ignores per-request speculative.n_max: measured, recorded, one server per setup
    assert data["per_request_speculation"]["honoured"] is False
    assert data["setup_sessions"] == "one server per setup"
    assert data["settings"]["axes"] == {"*": {"draft_max": [1, 4], "draft_p_min": [0, 0.5]}}
    assert "Recommended:" in result.stderr
    html = open(results[:-5] + ".html", encoding="utf-8").read()
    assert 'id="draft-length"' in html and "Flags or command" in html


def test_model_free_and_combined_setups_run(llama_server, family, tmp_path, no_new_servers):
    drafts = [
        {"label": "n-gram cache", "spec_type": "ngram-cache"},
        {"label": "n-gram mod", "spec_type": "ngram-mod", "draft_max": 4},
        {"label": "1-layer + n-gram", "path": family["draft-1"], "spec_type": "draft-simple,ngram-mod"},
    ]
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", setup_config(family, tmp_path, drafts=drafts), "--results", results)
    assert result.returncode == 0, result.stderr
    runs = {r["draft"]: r for r in load(results)["results"]}
    cache, mod, both = runs["n-gram cache"], runs["n-gram mod"], runs["1-layer + n-gram"]
    for run in (cache, mod, both):
        assert run["error"] is None and run["speculation_active"] in (True, False)  # said, either way
    assert "--model-draft" not in cache["server_command"] and _flag(cache["server_command"], "--spec-type") == "ngram-cache"
    assert _flag(mod["server_command"], "--spec-ngram-mod-n-max") == "4" and mod["draft_path"] is None
    assert _flag(both["server_command"], "--spec-type") == "draft-simple,ngram-mod"
    assert both["speculation_active"] is True and both["draft_size"] != "no draft model"
    assert cache["draft_size"] == mod["draft_size"] == "no draft model"
    html = open(results[:-5] + ".html", encoding="utf-8").read()
    assert "n-gram cache [no draft model]" in html


def test_unknown_spec_type_is_refused_before_any_server(llama_server, family, tmp_path):
    drafts = [{"label": "1-layer", "path": family["draft-1"]}, {"label": "typo", "spec_type": "ngram-mood"}]
    before = llama_pids()
    result = run_script(
        "sweep.py", "--config", setup_config(family, tmp_path, drafts=drafts), "--results", str(tmp_path / "r.json")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ngram-mood" in result.stderr and "ngram-mod" in result.stderr and "'typo'" in result.stderr
    assert "Starting server" not in result.stderr and llama_pids() <= before
    assert not (tmp_path / "r.json").exists()


def test_a_field_without_a_flag_for_its_type_is_refused_before_any_server(llama_server, family, tmp_path):
    drafts = [{"label": "cache", "spec_type": "ngram-cache", "axes": {"draft_max": [4, 8]}}]
    result = run_script(
        "sweep.py", "--config", setup_config(family, tmp_path, drafts=drafts), "--results", str(tmp_path / "r.json")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'cache · n_max 4'" in result.stderr and "draft_max has no flag for spec type ngram-cache" in result.stderr
    assert "Starting server" not in result.stderr and not (tmp_path / "r.json").exists()


def test_mtp_from_a_target_without_heads_is_refused_before_any_server(llama_server, family, tmp_path):
    drafts = [{"label": "MTP", "spec_type": "draft-mtp", "axes": {"draft_max": [1, 2, 3]}}]
    config = setup_config(family, tmp_path, drafts=drafts)
    for extra in ([], ["--dry-run"]):
        before = llama_pids()
        result = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"), *extra)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert family["target"] in result.stderr and "has none (no nextn_predict_layers" in result.stderr
        assert "'MTP · n_max 1', 'MTP · n_max 2', 'MTP · n_max 3'" in result.stderr  # one line for the target
        assert 'give an MTP head file as "path"' in result.stderr  # the fix
        assert "Starting server" not in result.stderr and llama_pids() <= before
        assert not (tmp_path / "r.json").exists()


def test_resume_runs_only_missing_setups_and_refuses_changed_axes(llama_server, family, tmp_path, no_new_servers):
    config = setup_config(family, tmp_path, axes={"draft_max": [1, 2, 4]})
    results = str(tmp_path / "r.json")
    assert run_script("sweep.py", "--config", config, "--results", results).returncode == 0
    data = load(results)
    data["results"] = [r for r in data["results"] if r["draft"] != "1-layer · n_max 2"]
    data["results"][-1]["error"] = "simulated failure"
    with open(results, "w") as fh:
        json.dump(data, fh)
    again = run_script("sweep.py", "--config", config, "--results", results)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("done earlier, skipped") == 2
    assert "[3/4] 8-layer target + 1-layer · n_max 2\n" in again.stderr
    rerun = load(results)["results"]
    assert [r["draft"] for r in rerun] == [None, "1-layer · n_max 1", "1-layer · n_max 2", "1-layer · n_max 4"]
    assert all(r["error"] is None for r in rerun)

    before = open(results, "rb").read()
    changed = setup_config(family, tmp_path, axes={"draft_max": [1, 2, 4, 8]})
    refused = run_script("sweep.py", "--config", changed, "--results", results)
    assert refused.returncode == 2 and "axes" in refused.stderr and "--fresh" in refused.stderr
    entry = setup_config(
        family,
        tmp_path,
        drafts=[{"label": "1-layer · n_max 1", "path": family["draft-1"], "draft_max": 3}],
        axes={"draft_max": [1, 2, 4]},
    )
    refused = run_script("sweep.py", "--config", entry, "--results", results)
    assert refused.returncode == 2 and "the setup of '1-layer · n_max 1'" in refused.stderr
    assert open(results, "rb").read() == before


def test_old_build_fails_only_the_model_free_setup(llama_server, family, tmp_path, no_new_servers):
    """A wrapper answers --help with a recorded b4500 help (no --spec-type) and runs the real server."""
    old_help = os.path.join(os.path.dirname(__file__), "data", "llama-server-help-b4500.txt")
    wrapper = tmp_path / "old-llama-server"
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = --help ] && exec cat "{old_help}"\nexec "{llama_server}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    drafts = [{"label": "n-gram", "spec_type": "ngram-mod"}, {"label": "1-layer", "path": family["draft-4"]}]
    config = setup_config(family, tmp_path, drafts=drafts, llama_bin=str(wrapper), draft_max=None)
    results = str(tmp_path / "r.json")
    result = run_script("sweep.py", "--config", config, "--results", results)
    assert result.returncode == 1, result.stderr
    runs = {r["draft"]: r for r in load(results)["results"]}
    assert "needs a llama-server with --spec-type" in runs["n-gram"]["error"]
    assert runs[None]["error"] is None and runs["1-layer"]["error"] is None
    assert "--spec-type" not in runs["1-layer"]["server_command"]  # the old build's spelling
