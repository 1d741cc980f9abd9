"""No measured request may profit from an earlier one (issue 33): a setup that keeps state across requests (the
n-gram types but ngram-simple) gets a server of its own per level, never shares one with other setups, and never sees a measured
prompt twice; warm-ups never send a measured prompt, for any method."""

from __future__ import annotations

import json

import pytest
from conftest import run_script
from sweep_helpers import load, write_config

from draftbench.errors import ConfigError
from draftbench.measure.bench import BenchConfig, run_bench
from draftbench.setup.config import parse_config
from draftbench.setup.prompts import BUILTIN, WARMUP, schedule
from draftbench.setup.speculation import Speculation
from draftbench.sweep.plan import build_plan, check_setups, shareable, traffic


def _config(family, drafts: list[dict], **settings) -> dict:
    data = json.loads(json.dumps(family["config"]))
    data["drafts"] = drafts
    data["settings"].update(settings)
    return data


def test_the_ngram_types_that_keep_state_across_requests_are_stateful_and_nothing_else():
    for kind in ("ngram-mod", "ngram-cache", "ngram-map-k", "ngram-map-k4v"):
        assert Speculation(spec_type=(kind,)).stateful, kind
    assert Speculation(spec_type=("draft-mtp", "ngram-mod")).stateful  # a combination keeps what its part keeps
    assert not Speculation(spec_type=("ngram-simple",)).stateful  # drafts from the current request's tokens only
    assert not Speculation(draft_path="d.gguf", spec_type=("draft-simple",)).stateful
    assert not Speculation(spec_type=("draft-mtp",)).stateful and not Speculation().stateful


def test_a_prompt_set_too_small_for_a_stateful_setup_is_refused_naming_the_numbers(family):
    cfg = parse_config(
        _config(family, [{"label": "ngram", "spec_type": "ngram-mod"}], requests=5, warmup=1, categories=["code"]), "c.json"
    )  # four code prompts for five requests
    with pytest.raises(ConfigError) as info:
        check_setups(cfg)
    text = "\n".join(info.value.problems)
    assert "'ngram' (ngram-mod) keeps what it has seen across requests" in text
    assert "its 5 measured requests (runs x requests)" in text and "the prompt set has 4" in text
    fine = parse_config(
        _config(family, [{"label": "1-layer", "path": family["draft-1"]}], requests=5, categories=["code"]), "c.json"
    )
    check_setups(fine)  # a draft model keeps nothing between requests: repeats are allowed (and paired)


def test_stateful_setups_never_share_a_server(family):
    data = _config(
        family,
        [
            {"label": "ngram", "spec_type": "ngram-mod", "axes": {"draft_max": [2, 4]}},
            {"label": "1-layer", "path": family["draft-1"], "axes": {"draft_max": [2, 4]}},
        ],
    )
    keys = shareable(build_plan(parse_config(data, "c.json")))
    assert len(keys) == 1 and "ngram-mod" not in str(keys)  # the draft model's lengths may share; n-gram's never


def test_warm_ups_never_send_a_measured_prompt(llama_server, family, tmp_path):
    from draftbench.server import llamacpp, process
    from draftbench.setup.settings import ServerOptions

    options = ServerOptions(port=0, gpu_layers=0, ctx_size=1024)
    with llamacpp.launch(process.ServerSpec(family["target"], options=options, log_path=str(tmp_path / "s.log"))) as server:
        done = run_bench(BenchConfig(server.url, requests=2, max_tokens=4, warmup=3, prompts=BUILTIN[:2]))
    assert [q.prompt_id for q in done.requests] == [p.id for p in BUILTIN[:2]]
    assert not {p.id for p in WARMUP} & {p.id for p in BUILTIN} and not {p.text for p in WARMUP} & {p.text for p in BUILTIN}


def test_ngram_acceptance_at_two_streams_is_that_of_a_fresh_server(llama_server, family, tmp_path, no_new_servers):
    """Concurrency [1, 2] used to measure level 2 on the server that had just completed level 1's prompts: the
    n-gram pool predicted them (acceptance 2% -> 100% on the demo family). Each level now has a server of its
    own: level 2 drafts as it does on a fresh server."""
    drafts = [{"label": "ngram", "spec_type": "ngram-mod", "draft_max": 4}]
    both = write_config(family, tmp_path, name="both", drafts=[], requests=4, max_tokens=48, concurrency=[1, 2])
    fresh = write_config(family, tmp_path, name="fresh", drafts=[], requests=4, max_tokens=48, concurrency=[2])
    for path in (both, fresh):
        data = json.load(open(path))
        data["drafts"] = drafts
        json.dump(data, open(path, "w"))
        done = run_script("sweep.py", "--config", path, "--results", path.replace(".json", "-r.json"))
        assert done.returncode == 0, done.stderr
    at_two = {
        name: next(
            r for r in load(str(tmp_path / f"{name}-r.json"))["results"] if r["draft"] == "ngram" and r["concurrency"] == 2
        )
        for name in ("both", "fresh")
    }
    rates = {name: (r["draft_n_accepted"] or 0) / r["draft_n"] if r["draft_n"] else 0.0 for name, r in at_two.items()}
    assert abs(rates["both"] - rates["fresh"]) <= 0.1, rates  # the same prompts, the same fresh pool
    assert at_two["both"]["log_path"] != next(
        r["log_path"] for r in load(str(tmp_path / "both-r.json"))["results"] if r["draft"] == "ngram" and r["concurrency"] == 1
    )


def test_four_prompts_and_an_ngram_setup_measure_no_repeat_or_are_refused(llama_server, family, tmp_path, no_new_servers):
    """A prompt file of 4 prompts, warmup 1: 4 requests of an n-gram setup are 4 different prompts (the warm-up
    is none of them); 5 would repeat one, and the sweep refuses before any server starts, naming the numbers."""
    prompts = tmp_path / "four.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": f"Write a short story number {i} about a {w}."}) + "\n"
            for i, w in enumerate(("cat", "ship", "tree", "lamp"))
        )
    )
    drafts = [{"label": "ngram", "spec_type": "ngram-mod", "draft_max": 4}]
    for requests in (4, 5):
        path = write_config(
            family, tmp_path, name=f"r{requests}", drafts=[], requests=requests, warmup=1, max_tokens=16, prompts=str(prompts)
        )
        data = json.load(open(path))
        data["drafts"] = drafts
        json.dump(data, open(path, "w"))
        done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / f"r{requests}-r.json"))
        if requests == 4:
            assert done.returncode == 0, done.stderr
            run = next(r for r in load(str(tmp_path / "r4-r.json"))["results"] if r["draft"] == "ngram")
            ids = [q["prompt_id"] for q in run["requests"]]
            assert sorted(ids) == ["p0", "p1", "p2", "p3"]  # each once; the warm-up was none of them
        else:
            assert done.returncode != 0 and "Traceback" not in done.stderr and "Starting server" not in done.stderr
            assert "its 5 measured requests (runs x requests) need 5 different prompts, and the prompt set has 4" in done.stderr
            assert not (tmp_path / "r5-r.json").exists()


def test_a_warm_pool_is_a_separate_labelled_result_after_other_prompts(llama_server, family, tmp_path, no_new_servers):
    """warm_pool 3: the n-gram setup is measured twice, fresh and after 3 requests of prompts it never measures,
    labelled so; the plain one stays the default answer's input, the warm one says what it was."""
    path = write_config(family, tmp_path, name="warm", drafts=[], requests=4, max_tokens=16, warm_pool=3)
    data = json.load(open(path))
    data["drafts"] = [{"label": "ngram", "spec_type": "ngram-mod", "draft_max": 4}]
    json.dump(data, open(path, "w"))
    cfg = parse_config(data, path)
    cells = build_plan(cfg)
    assert [c.setup.label for c in cells] == [None, "ngram", "ngram · warm pool 3"]
    measured = {p.id for p in schedule(cfg.prompts, 4, offset=cfg.settings.seed)}
    sent = traffic(cfg, cells[2])
    assert len(sent) == 3 and not {p.id for p in sent} & measured and traffic(cfg, cells[1]) == ()
    done = run_script("sweep.py", "--config", path, "--results", str(tmp_path / "warm-r.json"))
    assert done.returncode == 0, done.stderr
    runs = {r["draft"]: r for r in load(str(tmp_path / "warm-r.json"))["results"]}
    assert runs["ngram · warm pool 3"]["warm_pool_requests"] == 3 and runs["ngram"]["warm_pool_requests"] is None
    assert [q["prompt_id"] for q in runs["ngram · warm pool 3"]["requests"]] == [
        q["prompt_id"] for q in runs["ngram"]["requests"]
    ]  # the same measured prompts: paired
    assert runs["ngram · warm pool 3"]["log_path"] != runs["ngram"]["log_path"]  # a server of its own
