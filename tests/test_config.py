"""Config validation: every problem at once, with its JSON path; exit 2 and no server started."""

from __future__ import annotations

import json

import pytest

from conftest import llama_pids, run_script
from draftbench.config import load_config, parse_config
from draftbench.errors import ConfigError


def good(family) -> dict:
    return json.loads(json.dumps(family["config"]))


def test_valid_config(family):
    cfg = parse_config(good(family))
    assert cfg.run_count == 3 and cfg.settings.server.port == 0


def test_every_problem_reported_at_once(family, tmp_path):
    data = good(family)
    data["tagets"] = []
    data["settings"]["max_token"] = 5
    data["settings"]["runs"] = "3"
    data["drafts"].append({"label": data["drafts"][0]["label"], "path": "/missing/draft.gguf"})
    notgguf = tmp_path / "x.gguf"
    notgguf.write_text("text")
    data["drafts"].append({"label": "junk", "path": str(notgguf)})
    data["backend"] = "llama.cpp"
    with pytest.raises(ConfigError) as info:
        parse_config(data, "cfg.json")
    text = "\n".join(info.value.problems)
    assert "tagets: unknown key (did you mean 'targets'?)" in text
    assert "settings.max_token: unknown key (did you mean 'max_tokens'?)" in text
    assert "settings.runs: must be integer" in text
    assert "drafts[2].label: duplicate label" in text
    assert "drafts[2].path" in text and "/missing/draft.gguf" in text
    assert "drafts[3].path" in text and "not a GGUF" in text
    assert "backend: 'llama.cpp'" in text


def test_relative_paths_resolve_against_config(family, tmp_path):
    data = good(family)
    data["targets"][0]["path"] = "target.gguf"
    path = f"{family['dir']}/rel.json"
    with open(path, "w") as fh:
        json.dump(data, fh)
    assert load_config(path).targets[0].path == f"{family['dir']}/target.gguf"


@pytest.mark.parametrize("text, needle", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"name": "x"}', "targets: missing"),
])
def test_sweep_py_bad_config_exits_2_without_servers(tmp_path, text, needle):
    path = tmp_path / "bad.json"
    path.write_text(text)
    before = llama_pids()
    result = run_script("sweep.py", "--config", str(path), "--results", str(tmp_path / "r.json"))
    assert result.returncode == 2
    assert str(path) in result.stderr and needle in result.stderr
    assert "Traceback" not in result.stderr
    assert llama_pids() <= before
    assert not (tmp_path / "r.json").exists()
