"""The model search on real servers (the test family): each draft calibrated once, every other setup measured or
saved as a prediction that could not beat the measured leader, the answer a measured setup, a resume that measures
nothing twice, and a deliberately wrong model that falls back to measuring and still finds the exhaustive answer."""

from __future__ import annotations

import json
import signal

from conftest import run_script
from sweep_helpers import load, sweep_until, write_config

from draftbench.results import predict
from draftbench.setup.config import load_config
from draftbench.sweep.runner import Sweep

LENGTHS = [1, 2, 4, 10]


def grid(family, tmp_path, name: str = "m", **settings) -> str:
    path = write_config(
        family,
        tmp_path,
        name=name,
        drafts=[("1-layer", "draft-1"), ("4-layer", "draft-4")],
        requests=9,
        block=3,
        max_tokens=24,
        search="model",
        **settings,
    )
    data = json.load(open(path))
    data["axes"] = {"draft_max": LENGTHS}
    json.dump(data, open(path, "w"))
    return path


def test_each_draft_is_calibrated_once_and_the_rest_measured_or_predicted(llama_server, family, tmp_path, no_new_servers):
    path, results = grid(family, tmp_path), str(tmp_path / "r.json")
    done = run_script("sweep.py", "--config", path, "--results", results)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    runs = load(results)["results"]
    setups = [r for r in runs if r["draft"] is not None]
    assert len(setups) == 8
    for draft in ("1-layer", "4-layer"):
        mine = [r for r in setups if r["draft"].startswith(draft)]
        calibrated = [r for r in mine if r["requests"] and r["predicted_speedup"] is None]
        assert len(calibrated) == 1, [(r["draft"], r["predicted_speedup"]) for r in mine]  # one length measured first
    measured = {r["draft"]: r for r in setups if r["requests"]}
    for r in setups:
        if not r["requests"]:  # never measured: its prediction could not beat a measured leader
            lead = 1.0 if r["pruned_vs"] == "baseline" else measured[r["pruned_vs"]]["speedup"]
            assert r["pruned_as"] == "predicted" and r["predicted_ci95"][1] < lead
    rec = load(results)["recommendations"][0]
    assert rec["use"] is None or rec["use"] in measured  # the answer is a measured setup, or no speculation
    assert rec["best_measured"] is None or rec["best_measured"] in measured
    assert "Model search: " in err and "setups measured (" in err

    before = {r["draft"]: r["requests"] for r in runs if r["requests"]}
    again = run_script("sweep.py", "--config", path, "--results", results)
    assert again.returncode == 0, again.stderr
    assert "Starting server" not in again.stderr  # predictions made again from the same measurements: nothing to run
    after = {r["draft"]: r for r in load(results)["results"]}
    assert {d: r["requests"] for d, r in after.items() if r["requests"]} == before


def test_a_wrong_model_falls_back_to_measuring_and_finds_the_exhaustive_answer(
    llama_server, family, tmp_path, no_new_servers, monkeypatch
):
    """The 4-layer draft's model perturbed: every length but the one measured predicted three times as fast as it is.
    The search measures the prediction that looks best, sees it miss, measures the draft's other lengths, and its
    answer is the exhaustive sweep's (or tied with it on the exhaustive numbers)."""
    real = predict.predict

    def perturbed(target, level, spec, runs):
        p = real(target, level, spec, runs)
        if p is None or "draft-4" not in (spec.draft_path or ""):
            return p
        return predict.Prediction(p.speedup * 3, (p.ci95[0] * 3, p.ci95[1] * 3), p.source, p.n)

    monkeypatch.setattr(predict, "predict", perturbed)
    path = grid(family, tmp_path, "w")
    quiet = {"echo": lambda *a, **k: None}
    model = Sweep(load_config(path), str(tmp_path / "model.json"), fresh=True, **quiet).run()
    checked = [r for r in model.runs if r.requests and predict.saved(r) is not None and "4-layer" in (r.draft or "")]
    assert any(predict.saved(r).misses(r.speedup_ratio()) for r in checked)  # the perturbed model missed
    four = [r for r in model.runs if "4-layer" in (r.draft or "")]
    assert all(r.requests for r in four)  # so every length of that draft was measured, none left to the prediction
    full = Sweep(load_config(path).with_search("exhaustive"), str(tmp_path / "full.json"), fresh=True, **quiet).run()
    best, ours = full.evaluation.recommendations[0].use(), model.evaluation.recommendations[0].use()
    if ours is None or best is None:  # no speculation is the answer: both must say it
        assert ours is best is None, (ours, best)
    else:  # the same setup, or one the exhaustive numbers cannot separate from its best
        there = next(r for r in full.runs if r.draft == ours.draft)
        assert ours.draft == best.draft or (best.speedup_ci95 and there.speedup >= best.speedup_ci95[0])


def test_an_interrupted_model_search_resumes_without_measuring_a_setup_again(llama_server, family, tmp_path, no_new_servers):
    path, results = grid(family, tmp_path, "i"), str(tmp_path / "r.json")
    code, err = sweep_until(
        ["--config", path, "--results", results], ["Paused after", "Paused after", "continuing after"], sig=signal.SIGINT
    )
    assert code == 130, err
    kept = {r["draft"]: r["requests"] for r in load(results)["results"] if r["requests"]}
    assert len(kept) >= 3  # the baseline and both calibrations
    resumed = run_script("sweep.py", "--config", path, "--results", results)
    assert resumed.returncode == 0, resumed.stderr
    after = {r["draft"]: r["requests"] for r in load(results)["results"]}
    for draft, reqs in kept.items():
        assert after[draft][: len(reqs)] == reqs  # continued, never measured again from the start
