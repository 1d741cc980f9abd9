"""A save costs what changed: after a run enters the store, only the runs whose figures it enters are evaluated again
and only changed runs are serialised again; the evaluation and the file are the same as from scratch."""

from __future__ import annotations

import glob
import json
import os
from dataclasses import replace

import pytest

from draftbench.results.evaluate import affected_by, evaluate
from draftbench.results.jsonfile import RunTexts, load_results, save_results
from draftbench.setup.config import load_config
from draftbench.sweep.plan import build_plan
from draftbench.sweep.store import ResultsStore

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden")
FILES = sorted(glob.glob(os.path.join(GOLDEN, "v*.json"))) + glob.glob(
    os.path.join(os.path.dirname(__file__), "data", "published-results", "*.json")
)


@pytest.mark.parametrize("path", [p for p in FILES if not p.endswith(".config.json")], ids=os.path.basename)
def test_the_file_written_from_cached_texts_is_byte_for_byte_the_plain_one(path, tmp_path):
    meta, runs = load_results(path)
    computed = evaluate(runs).computed()
    texts = RunTexts()
    for name, cache in (("plain.json", None), ("cached.json", texts), ("again.json", texts)):
        save_results(str(tmp_path / name), meta, runs, computed, cache)
    plain = (tmp_path / "plain.json").read_bytes()
    assert plain == (tmp_path / "cached.json").read_bytes() == (tmp_path / "again.json").read_bytes()
    save_results(str(tmp_path / "none.json"), meta, [], computed, RunTexts())
    save_results(str(tmp_path / "none-plain.json"), meta, [], computed)
    assert (tmp_path / "none.json").read_bytes() == (tmp_path / "none-plain.json").read_bytes()


def test_a_run_enters_the_figures_of_its_baselines_setups_or_its_drafts_other_lengths():
    _, runs = load_results(os.path.join(GOLDEN, "v11.json"))
    base = next(r for r in runs if r.draft is None and r.concurrency == 1)
    setup = next(r for r in runs if r.draft is not None and r.concurrency == 1)
    assert affected_by(base, runs) == {base.key} | {r.key for r in runs if r.baseline_key == base.key}
    mine = affected_by(setup, runs)
    assert setup.key in mine and base.key not in mine
    assert all(runs_by.speculation.draft_path == setup.speculation.draft_path for runs_by in runs if runs_by.key in mine)


def test_the_store_evaluated_run_by_run_says_what_a_whole_evaluation_says(tmp_path):
    """The golden sweep's runs put one by one (a baseline checked again too): after each, the store's evaluation
    is the one computed from scratch over the same runs."""
    cfg = load_config(os.path.join(GOLDEN, "v11.config.json"), check_files=False)
    _, runs = load_results(os.path.join(GOLDEN, "v11.json"))
    store = ResultsStore(str(tmp_path / "r.json"), cfg, build_plan(cfg), "box")
    store.start()
    base = next(r for r in runs if r.draft is None)
    for run in [*runs, replace(base, mean_tps=(base.mean_tps or 1) * 0.9)]:
        store.put(run)
        whole = evaluate(store.ordered(), store.settings)
        assert store.evaluation.runs == whole.runs and store.evaluation.recommendations == whole.recommendations
        store.save()
    _, back = load_results(str(tmp_path / "r.json"))
    assert [r.key for r in back] == [r.key for r in whole.runs]


def test_a_field_renamed_for_its_unit_is_read_under_its_old_name():
    """``peak_rss_mb`` always held MiB: files before the rename are read as ``peak_rss_mib``, and written so."""
    _, runs = load_results(os.path.join(GOLDEN, "v11.json"))
    assert runs and all(r.peak_rss_mib for r in runs if r.done)
    assert "peak_rss_mib" in runs[0].to_dict() and "peak_rss_mb" not in runs[0].to_dict()


def test_the_machine_during_the_sweep_is_evaluated_once_and_kept_in_the_file(tmp_path):
    """A checked baseline's measurements (results/drift.check_points): the report's table and the file's
    ``check_points`` are the evaluation's, read back without a second copy in the file's unknown fields."""
    meta, runs = load_results(os.path.join(GOLDEN, "v6.json"))
    ev = evaluate(runs)
    assert ev.check_points and ev.check_points[0].label == "first" and ev.check_points[0].ratio is None
    assert all(p.label.startswith("check ") for p in ev.check_points[1:])
    save_results(str(tmp_path / "r.json"), meta, list(ev.runs), ev.computed())
    again, _ = load_results(str(tmp_path / "r.json"))
    assert "check_points" not in again.other and "length_curves" not in again.other
    assert len(json.loads((tmp_path / "r.json").read_text())["check_points"]) == len(ev.check_points)
