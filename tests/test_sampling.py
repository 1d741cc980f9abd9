"""Temperature levels, the draft_sampling axis and the output checks on hand-built values (their real-server
counterparts are in test_sampling_real.py)."""

from __future__ import annotations

import json
import random

import pytest
from records import evaluated

from draftbench.core import homogeneity as stats
from draftbench.errors import ConfigError
from draftbench.records.distribution import DistributionSamples
from draftbench.records.requests import RequestResult
from draftbench.results import distribution, recommend
from draftbench.results.schema import RunResult
from draftbench.setup.config import parse_config
from draftbench.setup.levels import Level
from draftbench.sweep.plan import build_plan


def _config(family, **settings) -> dict:
    data = json.loads(json.dumps(family["config"]))
    data["drafts"] = [{"label": "1-layer", "path": family["draft-1"], "axes": {"draft_sampling": ["greedy", "probabilistic"]}}]
    data["settings"].update(settings)
    return data


def test_chi_square_and_holm_by_hand():
    assert stats.chi2_sf(3.841, 1) == pytest.approx(0.05, abs=1e-3)
    assert stats.chi2_sf(11.07, 5) == pytest.approx(0.05, abs=1e-3)
    assert stats.chi2_sf(50, 10) == pytest.approx(2.669e-7, rel=1e-3)
    assert stats.chi2_sf(0, 3) == 1.0
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    stat, df, p = stats.chi_square(["a"] * 30 + ["b"] * 30, ["a"] * 30 + ["b"] * 30)
    assert stat == 0 and df == 1 and p == 1.0
    assert stats.chi_square(["a"] * 60, ["b"] * 60)[2] < 1e-10
    assert stats.total_variation(["a", "b"], ["a", "a"]) == 0.5


def test_a_temperature_list_is_a_level_and_sampling_an_axis(family):
    cfg = parse_config(_config(family, temperature=[0.8, 0]), "c.json")
    assert cfg.settings.temperature == (0.0, 0.8) and cfg.settings.to_dict()["temperature"] == [0.0, 0.8]
    cells = build_plan(cfg)
    assert [(c.setup.label, c.level) for c in cells] == [
        (label, Level(1, t))
        for label in (None, "1-layer · sampling greedy", "1-layer · sampling probabilistic")
        for t in (0.0, 0.8)
    ]
    assert cells[3].title.endswith("+ 1-layer · sampling greedy @ temperature 0.8")
    one = parse_config(_config(family, temperature=0.7), "c.json")
    assert one.settings.levels() == [Level(1, None)] and one.settings.to_dict()["temperature"] == 0.7
    for bad, said in (
        ([0, 0], "a list of different ones such as [0, 0.8]"),
        (-1, "from 0 to 10"),
        ("hot", "must be a number or a list"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_config(_config(family, temperature=bad), "c.json")
        assert any(said in p and "settings.temperature" in p for p in info.value.problems), info.value.problems
    data = _config(family)
    data["drafts"][0]["axes"]["draft_sampling"] = ["greedy", "random"]
    with pytest.raises(ConfigError) as info:
        parse_config(data, "c.json")
    assert any("must be 'greedy' or 'probabilistic', got 'random'" in p for p in info.value.problems)


def _reqs(tps: list[float], texts: list[str]) -> list[RequestResult]:
    return [
        RequestResult(f"p{i}", "code", decode_tps=v, completion_tokens=32, text=t) for i, (v, t) in enumerate(zip(tps, texts))
    ]


def test_each_temperature_is_compared_with_its_own_baseline_and_said_so():
    texts = ["alpha beta", "gamma delta", "epsilon"]
    runs = []
    for t, gain in ((0.0, 2.0), (0.8, 1.0)):
        runs.append(RunResult("T", None, 1, t, mean_tps=10, n_requests=3, requests=_reqs([10, 11, 9], texts)))
        runs.append(
            RunResult(
                "T",
                "d",
                1,
                t,
                mean_tps=10 * gain,
                n_requests=3,
                speculation_active=True,
                acceptance_rate=0.5,
                requests=_reqs([10 * gain, 11 * gain, 9 * gain], ["alpha beta", "gamma dELTA", "epsilon"]),
            )
        )
    done = {(r.draft, r.temperature): r for r in evaluated(runs)}
    assert done[("d", 0.0)].speedup == pytest.approx(2.0) and done[("d", 0.8)].speedup == pytest.approx(1.0)
    check = done[("d", 0.0)].output_check  # temperature 0: the texts compared, where they first differ
    assert (check.n, check.identical, check.first_difference_chars) == (3, 2, (7,))
    assert done[("d", 0.0)].output_match == pytest.approx(2 / 3) and done[("d", 0.8)].output_check is None
    said = [r.sentence() for r in recommend.recommend(list(done.values()))]
    assert said[0].startswith("T @ temperature 0: use d") and said[1].startswith("T @ temperature 0.8: no speculation")


def _samples(seed: int, weights: list[float]) -> DistributionSamples:
    rng = random.Random(seed)
    draw = [[" ".join(rng.choices(["1", "2", "3", "4"], weights)[0] for _ in range(3)) for _ in range(60)] for _ in range(4)]
    return DistributionSamples(0.8, ("p0", "p1", "p2", "p3"), tuple(draw))


def test_the_distribution_check_passes_the_same_sampler_and_flags_another():
    same = distribution.check(_samples(1, [4, 3, 2, 1]), _samples(2, [4, 3, 2, 1]))
    assert not same.flagged and same.n_tests == 12 and same.n_samples == 60 and same.p_value >= distribution.ALPHA
    other = distribution.check(_samples(1, [1, 0, 0, 0]), _samples(2, [4, 3, 2, 1]))  # top-k 1 against sampling
    assert other.flagged and other.p_value < 1e-6 and other.tvd > 0.5 and "CHANGES the output distribution" in other.text()
    base = RunResult(
        "T",
        None,
        1,
        0.8,
        mean_tps=10,
        n_requests=3,
        requests=_reqs([10, 11, 9], ["a", "b", "c"]),
        distribution_samples=_samples(2, [4, 3, 2, 1]),
    )
    bad = RunResult(
        "T",
        "d",
        1,
        0.8,
        mean_tps=30,
        n_requests=3,
        speculation_active=True,
        acceptance_rate=0.9,
        requests=_reqs([30, 33, 27], ["a", "b", "c"]),
        distribution_samples=_samples(1, [1, 0, 0, 0]),
    )
    runs = evaluated([base, bad])
    assert runs[1].distribution_check.flagged
    rec = recommend.recommend(runs)[0]
    assert rec.best is None and rec.use() is None  # 3x faster, never recommended


def test_a_command_measures_one_level_a_sweep_takes_a_list():
    from draftbench.cli.bench import build_parser

    args = build_parser().parse_args(["--url", "http://x"])
    assert args.temperature == 0.0 and isinstance(args.temperature, float)
    assert build_parser().parse_args(["--url", "http://x", "--temperature", "0.7"]).temperature == 0.7
