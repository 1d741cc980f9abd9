"""Temperature as a level, draft sampling as an axis, and the distribution check, on a real llama-server with
the test-size family."""

from __future__ import annotations

import json

from conftest import run_script
from sweep_helpers import write_config

from draftbench.measure import distribution as sampler
from draftbench.records.distribution import TOKENS
from draftbench.results import distribution, evaluate
from draftbench.server import llamacpp, process
from draftbench.setup.levels import Level
from draftbench.setup.prompts import BUILTIN
from draftbench.setup.speculation import Speculation


def test_temperatures_are_levels_and_a_broken_sampler_is_flagged(llama_server, family, tmp_path, no_new_servers):
    """Temperatures [0, 0.8]; the 1-layer draft verified greedy and probabilistic, and once with the server's
    default top-k forced to 1 (a sampler that is not the baseline's): the correct setups keep the baseline's
    distribution, the broken one is flagged and never recommended; at temperature 0 the outputs are compared."""
    config = write_config(family, tmp_path, requests=3, max_tokens=16, temperature=[0, 0.8], check_distribution=True, drafts=[])
    data = json.loads(open(config).read())
    data["drafts"] = [
        {"label": "1-layer", "path": family["draft-1"], "axes": {"draft_sampling": ["greedy", "probabilistic"]}},
        {"label": "broken", "path": family["draft-1"], "draft_sampling": "probabilistic", "extra_args": ["--top-k", "1"]},
    ]
    open(config, "w").write(json.dumps(data))
    results = tmp_path / "r.json"
    done = run_script("sweep.py", "--config", config, "--results", str(results))
    assert done.returncode == 0, done.stderr
    assert "+ 1-layer · sampling probabilistic @ temperature 0.8" in done.stderr
    meta, ev = evaluate.load(str(results))
    flags = {r.draft: " ".join(r.speculation_flags or []) for r in ev.runs}
    assert "--spec-draft-sampling probabilistic" in flags["1-layer · sampling probabilistic"]
    assert "--spec-draft-sampling greedy" in flags["1-layer · sampling greedy"]
    assert meta.settings["temperature"] == [0.0, 0.8]
    levels = {r.level for r in ev.runs}
    assert levels == {Level(1, 0.0), Level(1, 0.8)}
    runs = {(r.draft, r.temperature): r for r in ev.runs}
    for label in ("1-layer · sampling greedy", "1-layer · sampling probabilistic"):
        hot = runs[(label, 0.8)]
        assert hot.distribution_check is not None and not hot.distribution_check.flagged, hot.distribution_check
        assert hot.distribution_check.n_samples == sampler.SAMPLES and hot.output_check is None
        cold = runs[(label, 0.0)]
        assert cold.distribution_samples is None and cold.output_check is not None and cold.output_check.n == 3
    broken = runs[("broken", 0.8)]
    assert broken.distribution_check.flagged and broken.distribution_check.p_value < distribution.ALPHA
    assert any(r is broken for r, _ in ev.excluded)
    hot = next(rec for rec in ev.recommendations if rec.level == Level(1, 0.8))
    assert hot.best is None or hot.best.draft != "broken"  # at temperature 0 top-k 1 changes nothing: not flagged
    assert {rec.level for rec in ev.recommendations} == levels
    page = (tmp_path / "r.html").read_text() if (tmp_path / "r.html").exists() else ""
    assert not page or "<th>Temperature</th>" in page


def test_the_baseline_against_itself_on_two_servers_passes(llama_server, family):
    options = process.ServerOptions(port=0, gpu_layers=0, ctx_size=1024, ready_timeout_s=60)
    started = []
    try:
        for _ in range(2):
            started.append(
                llamacpp.launch(process.ServerSpec(family["target"], Speculation(), options), warn=lambda m: None).start()
            )
        drawn = [sampler.draw(s.url, "/completion", BUILTIN, 0.8, 7, None, 60) for s in started]
    finally:
        for s in started:
            s.stop()
    same = distribution.check(drawn[0], drawn[1])
    assert same is not None and not same.flagged and same.n_tests >= sampler.PREFIXES * TOKENS - 1
    assert drawn[0].samples == drawn[1].samples  # same build, same seeds: the very same draws
