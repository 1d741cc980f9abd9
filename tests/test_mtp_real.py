"""Every method the CPU build can run, side by side in one sweep on the synthetic family: the target's own MTP head
(its MiMo-2 twin, ``target-mtp.gguf``), an EAGLE-3 head, a draft model, n-gram and MTP combined with n-gram."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import run_script
from sweep_helpers import load, write_config

pytestmark = pytest.mark.server


def test_mtp_draft_model_ngram_and_combined_in_one_sweep(llama_server, family, tmp_path, no_new_servers):
    config = write_config(family, tmp_path, requests=3, max_tokens=64)
    data = json.load(open(config))
    data["targets"] = [{"label": "MTP target", "path": family["target-mtp"]}]
    data["drafts"] = [
        {"label": "1-layer", "path": family["draft-1"]},
        {"label": "EAGLE-3", "path": family["head-eagle3"], "spec_type": "draft-eagle3"},
        {"label": "MTP", "spec_type": "draft-mtp", "axes": {"draft_max": [1, 2, 3]}},
        {"label": "n-gram", "spec_type": "ngram-mod", "draft_max": 4},
        {"label": "MTP + n-gram", "spec_type": "draft-mtp,ngram-mod"},
    ]
    with open(config, "w") as fh:
        json.dump(data, fh)
    results = str(tmp_path / "r.json")
    done = run_script("sweep.py", "--config", config, "--results", results, "--format", "csv")
    assert done.returncode == 0, done.stderr
    runs = {r["draft"]: r for r in load(results)["results"]}
    for label in ("1-layer", "EAGLE-3", "MTP · n_max 1", "MTP · n_max 2", "MTP · n_max 3", "MTP + n-gram"):
        run = runs[label]
        assert run["error"] is None and run["speculation_active"] is True and run["draft_n"] > 0, label
    assert runs["n-gram"]["error"] is None and runs["n-gram"]["speculation_active"] in (True, False)  # said, either way
    eagle = runs["EAGLE-3"]  # a head cannot run alone: no draft-alone run, drafting timed in-process
    assert eagle["draft_alone_tps"] is None and "Draft alone: none for a head" in done.stderr
    assert "different tokenizer" not in done.stderr  # the head carries the target's tokenizer
    assert eagle["parts"] is None or eagle["parts"]["draft_cost_source"] == "in-process"
    assert runs["MTP · n_max 2"]["speculation_flags"] == ["--spec-type", "draft-mtp", "--spec-draft-n-max", "2"]
    assert "--model-draft" not in runs["MTP · n_max 2"]["server_command"]  # the target's own head
    assert runs["MTP + n-gram"]["speculation_flags"][:2] == ["--spec-type", "draft-mtp,ngram-mod"]
    methods = {r["draft"]: r["method"] for r in csv.DictReader(io.StringIO(done.stdout))}
    assert methods == {
        "": "",
        "1-layer": "draft model",
        "EAGLE-3": "EAGLE-3",
        "MTP · n_max 1": "MTP",
        "MTP · n_max 2": "MTP",
        "MTP · n_max 3": "MTP",
        "n-gram": "n-gram",
        "MTP + n-gram": "combined",
    }
    assert "<th>Method</th>" in open(results[:-5] + ".html", encoding="utf-8").read()


def test_head_files_get_this_builds_flags_in_the_dry_run(llama_server, family, tmp_path):
    """DFlash and DSpark heads are not synthesised (block-diffusion heads, with convolution and selector tensors of
    their own); their command lines are checked against the build's --help, with EAGLE-3's beside them."""
    from test_mtp import header_only

    eagle = header_only(
        str(tmp_path / "eagle3.gguf"), arch="eagle3", eagle3__target_hidden_size=256, eagle3__target_layers=[1, 4, 6]
    )
    dflash = header_only(str(tmp_path / "dflash.gguf"), arch="dflash", dflash__block_size=8)
    config = write_config(family, tmp_path)
    data = json.load(open(config))
    data["drafts"] = [
        {"label": "EAGLE-3", "path": eagle, "spec_type": "draft-eagle3"},
        {"label": "DFlash", "path": dflash, "spec_type": "draft-dflash", "draft_max": 7},
        {"label": "DSpark", "path": dflash, "spec_type": "draft-dspark", "draft_max": 7},
    ]
    with open(config, "w") as fh:
        json.dump(data, fh)
    shown = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"), "--dry-run")
    assert shown.returncode == 0, shown.stderr
    for head, kind, n_max in ((eagle, "draft-eagle3", 3), (dflash, "draft-dflash", 7), (dflash, "draft-dspark", 7)):
        assert f"--model-draft {head} --spec-type {kind} --spec-draft-n-max {n_max}" in shown.stdout + shown.stderr
    assert "different tokenizer" not in shown.stderr  # heads draft in the target's vocabulary
    data["drafts"][1]["draft_max"] = 8  # beyond the head's block: refused before any server, with the fix
    with open(config, "w") as fh:
        json.dump(data, fh)
    refused = run_script("sweep.py", "--config", config, "--results", str(tmp_path / "r.json"))
    assert refused.returncode == 2 and "set draft_max to 7 or less" in refused.stderr
    assert not (tmp_path / "r.json").exists()
