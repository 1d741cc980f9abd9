"""Axes are declared once: a row added to the table (here, inside the test) reaches every place that reads an axis."""

from __future__ import annotations

import os

import pytest

from draftbench.cli.server import build_parser, speculation_from_args
from draftbench.core.limits import Limit
from draftbench.errors import ConfigError, UnsupportedSetup
from draftbench.report.export import to_csv
from draftbench.results.jsonfile import load_results, save_results
from draftbench.results.schema import FileMeta, RunResult
from draftbench.server.llama_bin import parse_help
from draftbench.server.vllm import speculative_config
from draftbench.setup.config import parse_config
from draftbench.setup.settings import parse_settings
from draftbench.setup.speculation import AXES, Axis, Speculation
from draftbench.sweep.plan import request_fields

HELP = os.path.join(os.path.dirname(__file__), "data", "llama-server-help-b11434.txt")


def config(axes: dict, settings: dict | None = None) -> dict:
    return {
        "name": "x",
        "targets": [{"label": "t", "path": "t.gguf"}],
        "settings": settings or {},
        "drafts": [{"label": "ng", "spec_type": "ngram-mod", "axes": axes}],
    }


@pytest.fixture
def n_match(monkeypatch):
    """ngram-mod's lookup length, a real b11434 flag (--spec-ngram-mod-n-match), as a new axis."""
    axis = Axis("ngram_match", "n_match", Limit(1, 64), ("--spec-{f}-n-match",), (), "n-gram lookup length")
    monkeypatch.setitem(AXES, axis.name, axis)
    return axis


def test_a_new_axis_is_parsed_checked_labelled_and_mapped_onto_flags(n_match, tmp_path):
    cfg = parse_config(config({"ngram_match": [8, 16]}), check_files=False)
    assert [s.label for s in cfg.setups] == ["ng · n_match 8", "ng · n_match 16"]
    spec = cfg.setups[1].speculation
    assert spec.ngram_match == 16 and spec.draft_max is None
    with pytest.raises(ConfigError, match=r"drafts\[0\]\.axes\.ngram_match\[0\]: must be at most 64, got 65"):
        parse_config(config({"ngram_match": [65]}), check_files=False)
    with pytest.raises(ConfigError, match=r"drafts\[0\]\.axes\.n_match: unknown key \(did you mean 'ngram_match'\?\)"):
        parse_config(config({"n_match": [8]}), check_files=False)
    problems: list[str] = []
    assert dict(parse_settings({"ngram_match": 4}, problems).axis_defaults) == {"ngram_match": 4} and not problems
    parse_settings({"ngram_match": 0}, problems)
    assert problems == ["settings.ngram_match: must be at least 1, got 0"]

    with open(HELP) as fh:
        flags = parse_help(fh.read())
    assert flags.speculation_args(spec) == ["--spec-type", "ngram-mod", "--spec-ngram-mod-n-match", "16"]
    assert request_fields(spec) == {"speculative.n_match": 16}
    with pytest.raises(UnsupportedSetup, match="ngram_match"):
        speculative_config(Speculation(spec_type=("ngram-simple",), ngram_match=16))  # no vllm_key: refused by name
    args = build_parser().parse_args(["llama-cpp", "--model-path", "m", "--spec-type", "ngram-mod", "--ngram-match", "12"])
    assert speculation_from_args(args).ngram_match == 12
    with pytest.raises(SystemExit):
        build_parser().parse_args(["llama-cpp", "--model-path", "m", "--ngram-match", "99"])


def test_a_new_axis_is_saved_loaded_and_exported(n_match, tmp_path):
    spec = parse_config(config({"ngram_match": [16]}), check_files=False).setups[0].speculation
    run = RunResult("t", "ng · n_match 16", speculation=spec, mean_tps=10.0)
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta.from_dict({"name": "x"}), [run])
    assert load_results(path)[1][0].speculation == spec
    header, row = to_csv([run]).splitlines()
    assert dict(zip(header.split(","), row.split(",")))["ngram_match"] == "16"


def test_without_the_row_the_axis_is_unknown_everywhere():
    with pytest.raises(ConfigError, match=r"drafts\[0\]\.axes\.ngram_match: unknown key"):
        parse_config(config({"ngram_match": [8]}), check_files=False)
    with pytest.raises(TypeError, match="no axis ngram_match"):
        Speculation(spec_type=("ngram-mod",), ngram_match=3)
