"""sweep.py end to end with real llama-server processes."""

from __future__ import annotations

import json
import os

from conftest import run_script
from sweep_helpers import load, write_config

RESULT_FIELDS = (
    "target",
    "draft",
    "mean_tps",
    "median_tps",
    "mean_ttft_s",
    "mean_total_time_s",
    "acceptance_rate",
    "wall_time_s",
    "load_time_s",
    "n_requests",
    "stdev_tps",
    "decode_tps_ci95",
    "draft_n",
    "draft_n_accepted",
    "mean_accepted_length",
    "speedup",
    "speculation_active",
    "output_match",
    "peak_rss_mib",
    "error",
)


def test_sweep_writes_resumes_and_reruns_failures(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path)
    results = str(tmp_path / "out" / "r.json")
    first = run_script("sweep.py", "--config", config, "--results", results)
    assert first.returncode == 0, first.stderr
    assert "Sweep: 1 targets x 2 drafts = 3 runs" in first.stderr
    assert "[1/3] 8-layer target (baseline)" in first.stderr and "acceptance:" in first.stderr
    assert "Recommended: 8-layer target:" in first.stderr  # said whether a setup wins or none beats the baseline
    data = load(results)
    for key in (
        "timestamp",
        "name",
        "hardware",
        "backend",
        "model_family",
        "settings",
        "results",
        "schema_version",
        "draftbench_version",
        "server_version",
        "machine",
        "command_line",
    ):
        assert key in data, key
    assert len(data["results"]) == 3
    for run in data["results"]:
        for key in RESULT_FIELDS:
            assert key in run, key
        assert run["error"] is None and run["server_command"]
    assert data["results"][1]["speculation_active"] is True and data["results"][1]["speedup"] > 0
    assert os.path.exists(results[:-5] + ".html")

    again = run_script("sweep.py", "--config", config, "--results", results)
    assert again.returncode == 0 and again.stderr.count("done earlier, skipped") == 3
    assert load(results)["results"] == data["results"]

    data["results"][2]["error"] = "simulated failure"
    with open(results, "w") as fh:
        json.dump(data, fh)
    third = run_script("sweep.py", "--config", config, "--results", results)
    assert third.returncode == 0 and third.stderr.count("done earlier, skipped") == 2
    rerun = load(results)["results"]
    assert rerun[2]["error"] is None and rerun[:2] == data["results"][:2]


def test_changed_settings_refuse_to_mix(llama_server, family, tmp_path):
    results = str(tmp_path / "r.json")
    assert run_script("sweep.py", "--config", write_config(family, tmp_path, drafts=[]), "--results", results).returncode == 0
    before = open(results).read()
    changed = write_config(family, tmp_path, drafts=[], max_tokens=40)
    result = run_script("sweep.py", "--config", changed, "--results", results)
    assert result.returncode == 2 and "--fresh" in result.stderr and "max_tokens" in result.stderr
    assert open(results).read() == before
    assert run_script("sweep.py", "--config", changed, "--results", results, "--fresh").returncode == 0


def test_config_dir_survives_a_broken_config(llama_server, family, tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    write_config(family, folder, name="b-good", drafts=[("1-layer", "draft-1")])
    (folder / "a-broken.json").write_text('{"name": "x", "targets": [{"label": "t", "path": "/nope.gguf"}]}')
    (folder / "example_template.json").write_text("{}")
    result = run_script("sweep.py", "--config-dir", str(folder), cwd=str(tmp_path))
    assert result.returncode == 1
    assert "a-broken.json" in result.stderr and "b-good.json" in result.stderr
    assert "example_template" not in result.stderr
    assert "FAILED" in result.stderr and "ok  " in result.stderr
    assert (tmp_path / "results" / "testbox_llamacpp_b-good.json").exists()
    assert (tmp_path / "results" / "testbox_llamacpp_b-good.html").exists()


def test_a_label_that_now_names_another_model_file_is_refused(llama_server, family, tmp_path):
    config = write_config(family, tmp_path, drafts=[])
    results = str(tmp_path / "r.json")
    assert run_script("sweep.py", "--config", config, "--results", results).returncode == 0
    saved = load(results)
    assert saved["results"][0]["target_id"].startswith(f"{os.path.getsize(family['target'])}:")
    before = open(results).read()
    link = str(tmp_path / "link.json")
    os.symlink(results, link)
    data = json.load(open(config))
    data["targets"][0]["path"] = family["target-notemplate"]  # same label, another file
    with open(config, "w") as fh:
        json.dump(data, fh)
    for path in (results, link):
        refused = run_script("sweep.py", "--config", config, "--results", path)
        assert refused.returncode == 2 and "the target file of '8-layer target'" in refused.stderr, refused.stderr
        assert saved["results"][0]["target_id"] in refused.stderr and "--fresh" in refused.stderr
        assert open(results).read() == before and os.path.islink(link)
    other = json.loads(before)
    other["hardware"] = "another-box"
    with open(results, "w") as fh:
        json.dump(other, fh)
    data["targets"][0]["path"] = family["target"]
    with open(config, "w") as fh:
        json.dump(data, fh)
    moved = run_script("sweep.py", "--config", config, "--results", results)
    assert moved.returncode == 2 and "hardware ('another-box' in the file" in moved.stderr
