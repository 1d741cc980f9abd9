"""The one comparison (stats.compare and comparison.versus) on hand-computed cases, and every place a
speedup is written reading the same numbers."""

from __future__ import annotations

import csv
import io
import math

import pytest
from records import evaluated

from draftbench.core import stats
from draftbench.records.requests import RequestResult
from draftbench.report import export, sweep_page
from draftbench.results import categories, compare, comparison, evaluate, recommend
from draftbench.results.jsonfile import dump_results, save_results
from draftbench.results.schema import FileMeta, RunResult
from draftbench.sweep.console import Accounting, SweepOutcome, summary_lines

PROMPTS = [("p0", "code"), ("p1", "json"), ("p2", "math"), ("p3", "summary")]


def keyed(values: list[float]) -> list[tuple[str, float]]:
    return [(f"{i}:{pid}", v) for i, ((pid, _), v) in enumerate(zip(PROMPTS, values))]


def run(label: str | None, tps: list[float], cats: list[str] | None = None) -> RunResult:
    reqs = [
        RequestResult(f"p{i % 4}", cats[i] if cats else PROMPTS[i % 4][1], decode_tps=v, completion_tokens=64, total_s=64 / v)
        for i, v in enumerate(tps)
    ]
    return RunResult(
        "T",
        label,
        mean_tps=sum(tps) / len(tps),
        requests=reqs,
        n_requests=len(tps),
        acceptance_rate=None if label is None else 0.7,
    )


def test_constant_speedup_over_prompts_of_very_different_speeds():
    base = [5.0, 20.0, 80.0, 200.0]
    paired = stats.compare(keyed([1.5 * v for v in base]), keyed(base))
    assert paired.paired and paired.n == 4
    assert paired.value == pytest.approx(1.5)
    assert paired.ci95[1] - paired.ci95[0] < 1e-9  # every pair says 1.5: no doubt left
    unpaired = stats.unpaired_ratio([1.5 * v for v in base], base)
    assert not unpaired.paired and unpaired.value == pytest.approx(1.5)
    assert unpaired.ci95[1] - unpaired.ci95[0] > 1.0  # the prompts' own spread swamps the unpaired interval


def test_per_prompt_ratios_of_the_demo_are_separated():
    ratios = [1.14, 1.04, 1.05, 1.07]
    other = [10.0, 30.0, 12.0, 50.0]
    r = stats.compare(keyed([a * b for a, b in zip(ratios, other)]), keyed(other))
    logs = [math.log(x) for x in ratios]
    mean = sum(logs) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 3)
    half = 3.182446 * sd / 2  # t(0.975, 3) * sd / sqrt(4)
    assert r.value == pytest.approx(math.exp(mean))
    assert r.ci95 == pytest.approx((math.exp(mean - half), math.exp(mean + half)), rel=1e-6)
    assert r.ci95[0] == pytest.approx(1.0060, abs=5e-4) and r.ci95[1] == pytest.approx(1.1473, abs=5e-4)  # by hand
    assert not r.includes(1.0) and r.ci95[0] <= r.value <= r.ci95[1]


def test_pairs_need_the_same_prompt_at_the_same_position():
    a = [("0:p0", 10.0), ("1:p1", None), ("2:p2", 30.0)]
    b = [("0:p0", 5.0), ("1:p1", 10.0), ("2:px", 10.0), ("3:p3", 9.0)]
    assert stats.pairs(a, b) == [(10.0, 5.0)]  # p1 failed in a, position 2 holds another prompt in b
    one = stats.paired_ratio(a, b)
    assert one.n == 1 and one.ci95 is None and one.value == pytest.approx(2.0)
    no_pairs = stats.compare([("0:q", 10.0), ("1:q", 12.0)], [("0:r", 5.0), ("1:r", 6.0)])
    assert not no_pairs.paired and no_pairs.value == pytest.approx(2.0)  # other prompts: unpaired, and says so


def test_ratio_text_says_n_and_design():
    assert stats.ratio_text(stats.Ratio(1.89, (1.39, 2.68), 4, True)) == "+89% (95% CI +39% .. +168%, 4 paired requests)"
    assert stats.ratio_text(stats.Ratio(3.23, None, 0, False)) == "+223% (no interval, unpaired: no per-request data)"


def test_the_search_and_the_sweep_share_the_interval():
    d = [math.log(x) for x in (1.14, 1.04, 1.05, 1.07)]
    mean, lo, hi = stats.log_interval(d, 0.95)
    decision = __import__("draftbench.sweep.stopping", fromlist=["decide"]).decide(
        [1.14, 1.04, 1.05, 1.07], [1.0] * 4, "x", 0.025, resolution=0.0
    )
    assert decision.interval == pytest.approx((math.exp(lo), math.exp(hi)))


def demo_like() -> list[RunResult]:
    """The issue's case: two setups on the same 4 prompts, the first ahead of the second on every one."""
    base = run(None, [20.0, 30.0, 25.0, 40.0] * 2)
    second = [2.0, 1.5, 1.5, 2.0] * 2
    first = [a * b for a, b in zip(second, [1.14, 1.04, 1.05, 1.07] * 2)]
    return evaluated(
        [
            base,
            run("1-layer", [a * b for a, b in zip(first, base_tps(base))]),
            run("2-layer", [a * b for a, b in zip(second, base_tps(base))]),
        ]
    )


def base_tps(r: RunResult) -> list[float]:
    return [q.decode_tps for q in r.requests]


def test_a_winner_ahead_on_every_prompt_is_not_within_noise():
    runs = demo_like()
    rec = recommend.recommend(runs)[0]
    assert rec.best.draft == "1-layer" and rec.runner_up.draft == "2-layer"
    assert rec.margin.paired and rec.margin.ci95[0] > 1.0 and rec.within_noise is False
    sentence = rec.sentence()
    assert "within noise" not in sentence and "ahead of 2-layer" in sentence
    assert stats.ratio_text(rec.margin) in sentence
    assert rec.best.speedup_design == "paired" and rec.best.speedup_n == 8


def test_equal_setups_are_within_noise_and_a_tie_is_no_win():
    runs = demo_like()
    noisy = [1.0, 1.1, 0.92, 1.0, 1.05, 0.95, 1.02, 0.98]
    runs[2] = run("2-layer", [a * b for a, b in zip(base_tps(runs[1]), noisy)])
    rec = recommend.recommend(evaluated(runs))[0]
    assert rec.within_noise is True and "within noise of" in rec.sentence()


def test_variation_by_task_is_shown_when_categories_differ_beyond_their_intervals():
    base = run(None, [20.0, 30.0, 25.0, 40.0] * 3)
    fast = {"code": 2.3, "json": 1.6, "math": 1.62, "summary": 2.31}
    jitter = [1.0, 1.01, 0.99] * 4
    setup = run("1-layer", [q.decode_tps * fast[q.category] * j for q, j in zip(base.requests, jitter)])
    rec = recommend.recommend(evaluated([base, setup]))[0]
    assert "by task +60% (json) .. +131% (summary)" in rec.sentence()
    flat = run("flat", [q.decode_tps * 1.5 * j for q, j in zip(base.requests, jitter)])
    assert recommend.by_task(recommend.recommend(evaluated([base, flat]))[0].best) is None


def test_categories_are_paired():
    base = run(None, [5.0, 20.0, 80.0, 200.0] * 2)
    setup = run("s", [1.5 * v for v in base_tps(base)])
    rows = categories.summarise(setup, base)
    assert rows["code"].speedup == pytest.approx(1.5) and rows["code"].speedup_design == "paired"
    assert rows["code"].speedup_ci95[1] - rows["code"].speedup_ci95[0] < 1e-9


def test_compare_flags_differing_speedups_paired():
    base = run(None, [5.0, 20.0, 80.0, 200.0] * 2)
    a = run("s", [1.5 * v for v in base_tps(base)])
    b = run("s", [1.3 * v * j for v, j in zip(base_tps(base), [1.0, 1.02, 0.98, 1.0] * 2)])
    assert not comparison.versus_speedup((a, base), (b, base)).includes(1.0)
    same = comparison.versus_speedup((a, base), (a, base))
    assert same.includes(1.0)
    files = [
        (name, FileMeta(hardware="hw"), evaluate.evaluate(runs))
        for name, runs in (("one.json", [base, a]), ("two.json", [base, b]))
    ]
    rows = compare.entries(files)
    assert all("paired on the same prompts" in e.disagrees for e in rows)


def test_console_exports_and_report_read_the_same_speedup(tmp_path, monkeypatch):
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta(name="n", hardware="hw"), demo_like())
    calls = []
    real = evaluate.evaluate
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    meta, ev = evaluate.load(path)
    best = ev.recommendations[0].best
    text = recommend.speedup_text(best)  # '+x% (95% CI +a% .. +b%, 8 paired requests)'
    console = "\n".join(summary_lines(SweepOutcome(path, ev, Accounting())))
    assert text in console
    assert text in export.to_markdown(meta, ev)
    row = next(r for r in csv.DictReader(io.StringIO(export.to_csv(ev.runs))) if r["draft"] == best.draft)
    ratio = stats.Ratio(
        float(row["speedup"]),
        (float(row["speedup_ci95_low"]), float(row["speedup_ci95_high"])),
        int(row["speedup_n"]),
        row["speedup_design"] == "paired",
    )
    assert stats.ratio_text(ratio) == text
    html = sweep_page.render(meta, ev)
    table = html[html.index('<table id="recommendations">') :]
    table = table[: table.index("</table>")]
    interval = text.split(" (95% CI ")[1].rstrip(")")  # '+a% .. +b%, 8 paired requests'
    assert f"<td>{stats.pct(best.speedup)}</td><td>{interval}</td>" in table


def test_older_files_are_recomputed_paired_or_labelled_unpaired():
    runs = demo_like()
    old = dump_results(FileMeta.from_dict({}), runs)
    for item in old["results"]:  # as version 4 wrote it: mean over mean, no design
        item.pop("speedup_design"), item.pop("speedup_n")
        if item["draft"]:
            item["speedup"] = item["mean_tps"] / old["results"][0]["mean_tps"]
    loaded = [RunResult.from_dict(x) for x in old["results"]]
    loaded = evaluated(loaded)
    assert loaded[1].speedup_design == "paired" and loaded[1].speedup == pytest.approx(runs[1].speedup)
    assert loaded[1].speedup != pytest.approx(old["results"][1]["speedup"])  # not the stored mean over mean
    v1 = [RunResult("T", None, mean_tps=10.0), RunResult("T", "d", mean_tps=15.0)]
    v1 = evaluated(v1)
    assert v1[1].speedup == pytest.approx(1.5) and v1[1].speedup_design == "unpaired"
    assert "unpaired" in recommend.speedup_text(v1[1])


def test_a_setup_not_separated_from_no_speculation_is_never_recommended(tmp_path):
    """+23% on average, but slower on two of four prompts: its interval against the baseline includes no gain,
    so no page says "use" it (issue 33); a setup ahead on every prompt is recommended as before."""
    base = run(None, [20.0, 30.0, 25.0, 40.0])
    noisy = run("ngram", [a * b for a, b in zip(base_tps(base), [2.2, 0.8, 1.6, 0.7])])
    meta = FileMeta(name="n", hardware="hw")
    ev = evaluate.evaluate([base, noisy])
    rec = ev.recommendations[0]
    assert rec.best.draft == "ngram" and rec.best.speedup > 1 and rec.best.speedup_ci95[0] < 1
    assert rec.use() is None and "more paired requests would tell" in rec.withheld()
    sentence = rec.sentence()
    assert sentence.startswith("T: no recommendation: ngram is not separated from no speculation")
    assert "use ngram" not in sentence and "flags:" not in sentence
    row = next(line for line in export.to_markdown(meta, ev).splitlines() if line.startswith("| T | "))
    assert "(not recommended: ngram is not separated" in row
    html = sweep_page.render(meta, ev)
    table = html[html.index('<table id="recommendations">') : html.index("</table>", html.index('id="recommendations"'))]
    assert "NOT RECOMMENDED: ngram is not separated" in table and "--spec-type" not in table
    assert compare.entries([("f.json", meta, ev)])[0].best is None  # --compare's table names no setup either
    assert {r["recommended"] for r in csv.DictReader(io.StringIO(export.to_csv(ev.runs, ev.recommendations)))} == {"False"}
    clear = evaluate.evaluate([base, run("ngram", [1.5 * v for v in base_tps(base)])]).recommendations[0]
    assert clear.use() is not None and clear.sentence().startswith("T: use ngram")
    ev = evaluate.evaluate([base, clear.use()])
    rows = {r["draft"]: r["recommended"] for r in csv.DictReader(io.StringIO(export.to_csv(ev.runs, ev.recommendations)))}
    assert rows == {"": "False", "ngram": "True"}
