"""Config validation: every problem at once, with its JSON path; exit 2 and no server started."""

from __future__ import annotations

import json

import pytest
from conftest import llama_pids, run_script

from draftbench.errors import ConfigError
from draftbench.setup.config import load_config, parse_config


def good(family) -> dict:
    return json.loads(json.dumps(family["config"]))


def test_valid_config(family):
    cfg = parse_config(good(family))
    assert (len(cfg.targets), len(cfg.setups), cfg.settings.server.port) == (1, 2, 0)


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
    assert "settings.runs: must be an integer" in text
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


@pytest.mark.parametrize(
    "text, needle",
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"name": "x"}', "targets: missing"),
    ],
)
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


def _labels(cfg) -> list[str]:
    return [c.label for c in cfg.setups]


def test_axes_expand_entries_and_respect_what_an_entry_sets(family):
    data = good(family)
    path = data["drafts"][0]["path"]
    data["axes"] = {"draft_max": [1, 2], "draft_p_min": [0, 0.7]}
    data["drafts"] = [
        {"label": "A", "path": path},
        {"label": "B n4 p0.6", "path": path, "draft_max": 4, "draft_p_min": 0.6},
        {"label": "C", "path": path, "draft_p_min": 0.5},
        {"label": "ngram", "spec_type": "ngram-mod", "axes": {"draft_max": [8, 16]}},
    ]
    cfg = parse_config(data)
    assert _labels(cfg) == [
        "A · n_max 1 · p_min 0",
        "A · n_max 1 · p_min 0.7",
        "A · n_max 2 · p_min 0",
        "A · n_max 2 · p_min 0.7",
        "B n4 p0.6",
        "C · n_max 1",
        "C · n_max 2",
        "ngram · n_max 8",
        "ngram · n_max 16",
    ]
    specs = {c.label: c.speculation for c in cfg.setups}
    assert (specs["A · n_max 2 · p_min 0.7"].draft_max, specs["A · n_max 2 · p_min 0.7"].draft_p_min) == (2, 0.7)
    assert (specs["B n4 p0.6"].draft_max, specs["B n4 p0.6"].draft_p_min) == (4, 0.6)
    assert specs["C · n_max 2"].draft_p_min == 0.5
    ngram = specs["ngram · n_max 16"]  # model-free: no settings.draft_max, no top-level p_min axis
    assert (ngram.draft_path, ngram.spec_type, ngram.draft_max, ngram.draft_p_min) == (None, ("ngram-mod",), 16, None)
    assert specs["B n4 p0.6"].spec_type == ("draft-simple",)
    assert cfg.comparable()["axes"] == {"*": {"draft_max": [1, 2], "draft_p_min": [0, 0.7]}, "ngram": {"draft_max": [8, 16]}}


def test_plain_config_has_no_axes_in_its_settings(family):
    cfg = parse_config(good(family))
    assert "axes" not in cfg.settings_record() and "axes" not in cfg.comparable()
    assert [c.speculation.draft_max for c in cfg.setups] == [3, 3]  # settings.draft_max is the default


def test_setup_problems_are_listed_with_their_json_paths(family):
    data = good(family)
    path = data["drafts"][0]["path"]
    data["axes"] = {"draft_max": [0, 2, 2], "draft_p_min": [1.5, "x"], "n_max": [1], "draft_min": 3}
    data["drafts"] = [
        {"label": "no model", "spec_type": "draft-simple"},
        {"label": "unused model", "path": path, "spec_type": "ngram-mod"},
        {"label": "nothing"},
        {"label": "both", "path": path, "draft_max": 4, "axes": {"draft_max": [1, 2]}},
        {"label": "bad", "path": path, "draft_p_min": -0.1, "spec_type": "", "extra_args": "x"},
        {"label": "baseline again", "spec_type": "none"},
    ]
    with pytest.raises(ConfigError) as info:
        parse_config(data, "cfg.json")
    text = "\n".join(info.value.problems)
    for needle in (
        "axes.draft_max[0]: must be at least 1, got 0",
        "axes.draft_max: lists a value twice",
        "axes.draft_p_min[0]: must be between 0 and 1, got 1.5",
        "axes.draft_p_min[1]: must be a number",
        "axes.n_max: unknown key (did you mean 'draft_max'?)",
        "axes.draft_min: must be a non-empty list",
        "drafts[0].spec_type: 'draft-simple' needs a draft model",
        "drafts[1].spec_type: 'ngram-mod' does not use the draft model",
        'drafts[2]: needs "path"',
        "drafts[3]: draft_max is both set and an axis",
        "drafts[4].draft_p_min: must be between 0 and 1",
        "drafts[4].spec_type: must be a string",
        "drafts[4].extra_args: must be a list of strings",
        "drafts[5].spec_type: 'none' is the baseline",
    ):
        assert needle in text, needle


def test_generated_labels_must_stay_unique(family):
    data = good(family)
    path = data["drafts"][0]["path"]
    data["drafts"] = [{"label": "A", "path": path, "axes": {"draft_max": [2]}}, {"label": "A · n_max 2", "path": path}]
    with pytest.raises(ConfigError, match="duplicate label 'A · n_max 2'"):
        parse_config(data)


def test_server_py_rejects_bad_setup_flags(family):
    result = run_script("server.py", "llama-cpp", "--model-path", family["target"], "--draft-p-min", "1.5", "--spec-type", " , ")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--draft-p-min: must be between 0 and 1" in result.stderr and "--spec-type" in result.stderr


def test_plan_groups_setups_that_differ_only_in_axis_values(family):
    from draftbench.sweep.plan import build_plan, request_fields, session_key, shareable

    data = good(family)
    path = data["drafts"][0]["path"]
    data["axes"] = {"draft_max": [1, 2], "draft_p_min": [0, 0.7]}
    data["drafts"] = [
        {"label": "A", "path": path},
        {"label": "B", "path": path, "spec_type": "draft-simple,ngram-mod"},
        {"label": "C", "path": path, "draft_max": 4},
    ]
    plan = build_plan(parse_config(data))
    assert [c.index for c in plan] == list(range(1, 12)) and plan[0].setup.is_baseline
    keys = [session_key(c) for c in plan]
    assert keys[0] is None and len(set(keys[1:5])) == 1 and len(set(keys[5:9])) == 1 and keys[1] != keys[5]
    assert keys[9] == keys[10] == keys[1]  # C (n_max 4, p_min axis) differs from A only in axis values
    assert shareable(plan) == {keys[1]}  # B combines n-gram, which keeps state: never on a shared server
    assert request_fields(plan[4].setup.speculation) == {"speculative.n_max": 2, "speculative.p_min": 0.7}


def test_search_settings_are_checked_and_the_flag_overrides_the_config(family):
    data = good(family)
    data["settings"].update(search="adaptiv", block=1, resolution=1.5)
    with pytest.raises(ConfigError) as info:
        parse_config(data, "cfg.json")
    text = "\n".join(info.value.problems)
    for needle in (
        'settings.search: must be "exhaustive"',
        "settings.block: must be at least 2, got 1",
        "settings.resolution: must be a fraction of speedup between 0 and 1",
    ):
        assert needle in text, needle
    data["settings"].update(search="adaptive", block=3, resolution=0.1)
    cfg = parse_config(data)
    assert (cfg.settings.search, cfg.settings.block, cfg.settings.resolution) == ("adaptive", 3, 0.1)
    assert "search" not in cfg.comparable() and "block" not in cfg.comparable()  # measured numbers stay comparable
    assert parse_config(good(family)).with_search("adaptive").settings.search == "adaptive"


def test_endpoint_is_chat_or_completion_and_part_of_the_comparable_settings():
    from draftbench.setup.settings import parse_settings

    problems: list[str] = []
    assert parse_settings({"endpoint": "completion"}, problems).endpoint == "completion" and not problems
    parse_settings({"endpoint": "raw"}, problems)
    assert len(problems) == 1 and problems[0].startswith('settings.endpoint: must be "chat"')
    assert parse_settings({}, []).comparable()["endpoint"] == "chat"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_numbers_must_be_finite(value):
    from draftbench.setup.settings import parse_settings

    for key in ("temperature", "request_timeout_s", "draft_p_min"):
        problems: list[str] = []
        parse_settings({key: value}, problems)
        assert problems and problems[0].startswith(f"settings.{key}: must be a finite number"), problems


@pytest.mark.parametrize(
    "flag, value",
    [("--request-timeout-s", "nan"), ("--timeout", "inf"), ("--timeout", "0"), ("--temperature", "nan"), ("--temperature", "-1")],
)
def test_bench_flags_must_be_finite(flag, value):
    from conftest import run_script

    out = run_script("bench.py", flag, value)
    shown = "--request-timeout-s/--timeout" if "timeout" in flag else flag  # the old name is an alias
    assert out.returncode == 2 and f"argument {shown}: must be a" in out.stderr and "Traceback" not in out.stderr
