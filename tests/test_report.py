"""The report's data and safety rules, the exports, and the published results file."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace

import pytest
from conftest import run_script
from records import evaluated, markdown, rendered

from draftbench.core import stats
from draftbench.records.requests import RequestResult
from draftbench.report import export, lengths_view, sweep_page
from draftbench.results import evaluate, explain, grouping, recommend, savings
from draftbench.results.lengths import curves
from draftbench.results.schema import CategoryResult, RunResult
from draftbench.setup.speculation import Speculation

PUBLISHED = os.path.join(os.path.dirname(__file__), "data", "published-results", "m4max-128gb_llamacpp_qwen25-14b.json")
HOSTILE = "</script><script>window.__xss=1</script><img src=x onerror=window.__xss=2>"


def published_path() -> str:
    return os.path.abspath(PUBLISHED)


@pytest.mark.parametrize(
    "label, size",
    [
        ("0.5B Q8_0", "0.5B"),
        ("1.5B Q4_K_M", "1.5B"),
        ("Qwen2.5-3B-Instruct", "3B"),
        ("SmolLM 135M", "135M"),
        ("14B FP16", "14B"),
        ("7b q4", "7B"),
        ("Q4_K_M only", "other"),
        ("3-layer", "other"),
        (None, "other"),
    ],
)
def test_size_parsing(label, size):
    assert grouping.size_category(label) == size


def test_explicit_size_wins():
    assert grouping.size_category("my tiny draft", "0.5B") == "0.5B"


def test_size_order():
    cats = ["other", "16 layers", "3B", "2 layers", "135M", "0.5B"]
    assert sorted(cats, key=grouping.size_sort_key) == ["135M", "0.5B", "3B", "2 layers", "16 layers", "other"]


def hand_made() -> list[RunResult]:
    return evaluated(
        [
            RunResult("A", None, mean_tps=10.0),
            RunResult("A", "0.5B q8", mean_tps=15.0, acceptance_rate=0.6, decode_tps_ci95=[14.0, 16.0]),
            RunResult("A", "0.5B q4", mean_tps=14.5, acceptance_rate=0.6, decode_tps_ci95=[14.2, 14.8]),
            RunResult("A", "7B q4", mean_tps=8.8, acceptance_rate=0.8),
            RunResult("A", "3B q4", error="server exited with code 1"),
            RunResult("A", "1.5B other-vocab", mean_tps=10.1, speculation_active=False),
            RunResult("B", "0.5B q8", mean_tps=20.0, acceptance_rate=0.5),
        ]
    )


def test_speedups_categories_and_recommendation():
    runs = hand_made()
    recs = {r.target: r for r in recommend.recommend(runs)}
    assert recs["A"].best.draft == "0.5B q8" and recs["A"].best.speedup == pytest.approx(1.5)
    assert recs["A"].within_noise is True  # the two 0.5B intervals overlap
    assert recs["B"].baseline is None and recs["B"].best is None
    assert "no baseline" in recs["B"].sentence()
    assert stats.pct(runs[3].speedup) == "-12%"
    assert stats.pct(1.42) == "+42%" and stats.pct(0.998) == "+0%"
    data = sweep_page.chart_data(runs)
    speed = {t["name"]: t for t in data["speedup"]}
    a = speed["A"]
    assert a["x"] == ["0.5B", "7B"]  # errored 3B and speculation-off 1.5B are not categories' best
    assert a["y"] == [50.0, -12.0] and a["text"] == ["+50%", "-12%"]
    heat = data["heatmap"][0]
    assert len(heat["z"]) == 5 and all(len(row) == 2 for row in heat["z"])
    assert heat["zmid"] == 0 and heat["zmin"] == -heat["zmax"] == -50.0
    assert heat["z"][data["drafts"].index("3B q4")][0] is None
    excluded = {r.draft for r, _ in grouping.excluded(runs)}
    assert excluded == {"3B q4", "1.5B other-vocab"}


def setup_runs() -> list[RunResult]:
    """A draft measured at three lengths and two p-mins, and a model-free setup."""

    def run(label, speedup, n_max=None, p_min=None, path="d.gguf", types=("draft-simple",), ci=None):
        spec = Speculation(path, types, draft_max=n_max, draft_p_min=p_min)
        flags = ["--model-draft", path, "--spec-type", "draft-simple"] if path else ["--spec-type", ",".join(types)]
        return RunResult(
            "T",
            label,
            mean_tps=10 * speedup,
            speedup=speedup,
            speedup_ci95=ci,
            speculation=spec,
            speculation_flags=flags + (["--spec-draft-n-max", str(n_max)] if n_max else []),
            acceptance_rate=0.5,
        )

    return [
        RunResult("T", None, mean_tps=10.0, speculation=Speculation()),
        run("n-gram", 1.05, path=None, types=("ngram-mod",)),
        run("1L · n_max 1 · p_min 0", 1.2, 1, 0.0, ci=[1.1, 1.3]),
        run("1L · n_max 2 · p_min 0", 1.4, 2, 0.0, ci=[1.3, 1.5]),
        run("1L · n_max 8 · p_min 0", 0.9, 8, 0.0),
        run("1L · n_max 1 · p_min 0.7", 1.1, 1, 0.7),
        run("1L · n_max 8 · p_min 0.7", 1.3, 8, 0.7),
    ]


def test_draft_length_chart_has_a_line_per_draft_and_p_min():
    lines = {t["name"]: t for t in sweep_page.chart_data(setup_runs())["draft_length"]}
    assert set(lines) == {"1L · p_min 0: measured", "1L · p_min 0.7: measured"}  # no parts: no model line
    line = lines["1L · p_min 0: measured"]
    assert line["x"] == [1, 2, 8] and line["y"] == [20.0, 40.0, -10.0]
    assert line["error_y"]["array"][:2] == [10.0, 10.0] and line["error_y"]["arrayminus"][2] == 0
    assert sweep_page.chart_data(hand_made())["draft_length"] == []  # no setup measured at two lengths


def test_heatmap_groups_model_free_setups_and_labels_cells():
    data = sweep_page.chart_data(setup_runs())
    assert data["drafts"][-1] == "n-gram"
    heat = data["heatmap"][0]
    assert heat["y"][-1] == "n-gram [no draft model]" and heat["texttemplate"] == "%{text}"
    assert heat["text"][-1] == ["+5%"] and heat["text"][1] == ["+40%"]
    assert "no draft model" in data["speedup"][0]["x"]  # its own category in the by-size chart
    many = [RunResult("T", None, mean_tps=1.0)] + [RunResult("T", f"d{i}", mean_tps=1.0) for i in range(500)]
    assert "texttemplate" not in sweep_page.chart_data(many)["heatmap"][0]


def test_recommendation_names_the_setup_and_its_flags():
    rec = recommend.recommend(setup_runs())[0]
    assert rec.best.draft == "1L · n_max 2 · p_min 0"
    assert "flags: --model-draft d.gguf --spec-type draft-simple --spec-draft-n-max 2" in rec.sentence()
    page = rendered({}, setup_runs())
    assert "--spec-draft-n-max 2" in page and "Speedup vs draft length" in page


def test_speedup_bars_carry_their_interval():
    bars = sweep_page.chart_data(setup_runs())["speedup"][0]
    i = bars["x"].index("other")  # "1L" names no parameter count
    assert bars["error_y"]["array"][i] == 10.0 and bars["error_y"]["arrayminus"][i] == 10.0


def why_runs() -> list[RunResult]:
    """Two drafts at n_max 3 (one also at n_max 2), with every part measured."""
    base = RunResult("T", None, mean_tps=20.0, verify_costs={"1": 1.0, "3": 1.2, "4": 1.3, "9": 2.5}, speculation=Speculation())
    runs = [base]
    for label, path, n_max, alone, accepted in (
        ("small · n_max 3", "s.gguf", 3, 400.0, 30),
        ("small · n_max 2", "s.gguf", 2, 400.0, 28),
        ("big · n_max 3", "b.gguf", 3, 60.0, 45),
    ):
        requests = [RequestResult("p", completion_tokens=60, draft_n=60, draft_n_accepted=accepted)]
        run = RunResult(
            "T",
            label,
            mean_tps=30.0,
            speedup=1.5,
            speculation=Speculation(path, draft_max=n_max),
            requests=requests,
            draft_alone_tps=alone,
            acceptance_rate=accepted / 60,
        )
        runs.append(replace(run, parts=explain.explain_run(run, base)))
    return runs


def test_why_chart_has_one_point_per_draft_and_the_model_curves():
    data = sweep_page.chart_data(why_runs())["why"]
    contour, points = data["traces"]
    assert contour["type"] == "contour" and len(contour["z"]) == len(contour["y"])
    assert sorted(points["text"]) == ["big · n_max 3", "small · n_max 3"]
    assert points["x"][points["text"].index("small · n_max 3")] == pytest.approx(0.05)
    assert "draft length 3" in data["title"]
    page = rendered({}, why_runs())
    assert 'id="why"' in page and 'id="parts"' in page
    lines = sweep_page.chart_data(why_runs())["draft_length"]  # big: one length only
    assert [t["name"] for t in lines] == ["small: measured", "small: cost model"]
    assert lines[1]["x"] == [1, 2, 3] and lines[1]["line"]["dash"] == "dash"  # predicted at every length up to the longest
    notes = lengths_view.notes(curves(why_runs()))
    assert len(notes) == 1 and notes[0].startswith("small: measured best n_max 2 (+50%); the cost model predicts")
    assert sweep_page.chart_data(hand_made())["why"] is None  # no parts (the original tool's files): no chart
    assert 'id="why"' not in rendered({}, hand_made())


def test_hostile_labels_are_text():
    runs = [RunResult(HOSTILE, None, mean_tps=10.0), RunResult(HOSTILE, HOSTILE, mean_tps=12.0)]
    page = rendered({"model_family": HOSTILE, "hardware": "<b>x</b>"}, runs)
    assert "<script>window.__xss" not in page and "<img src=x" not in page
    assert "&lt;/script&gt;" in page  # titles and tables are HTML-escaped
    start = page.index('type="application/json">') + len('type="application/json">')
    embedded = page[start : page.index("</script>", start)]
    assert json.loads(embedded)["targets"] == [HOSTILE]
    md = markdown({}, runs)
    assert "<script>" not in md


def test_published_file_loads_and_charts(tmp_path):
    meta, ev = evaluate.load(published_path())
    runs = list(ev.runs)
    assert meta.schema_version == 1 and len(runs) == 92
    chart = sweep_page.chart_data(runs)
    assert len(chart["targets"]) == 4 and len(chart["drafts"]) == 22
    heat = chart["heatmap"][0]
    assert len(heat["z"]) == 22 and all(len(row) == 4 for row in heat["z"])
    assert {t["name"] for t in chart["throughput"]} == {"baseline", "best 0.5B draft", "best 1.5B draft", "best 3B draft"}
    html = sweep_page.render(meta, ev)  # no per-request data in the original tool's files: said, never invented
    assert "unpaired: no per-request data" in html and "paired request" not in html.split('id="recommendations"')[1][:4000]


def test_chart_only_cli_and_exports(tmp_path):
    src = published_path()
    out = tmp_path / "c.html"
    result = run_script("sweep.py", "--results", src, "--chart", str(out), "--chart-only", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert out.exists() and "plotly-2.35.2.min.js" in out.read_text()
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 92 and rows[1]["speedup"]
    md = run_script("sweep.py", "--results", src, "--chart", str(out), "--chart-only", "--format", "md")
    assert md.stdout.startswith("### draftbench") and "| 14B FP16 |" in md.stdout


@pytest.mark.parametrize(
    "content, needle",
    [
        (None, "not found"),
        ('{"results": [{"target": "a", "mean_tps": 1', "not valid JSON"),
        ("", "empty"),
        ('{"rows": []}', 'no "results" list'),
    ],
)
def test_bad_results_file_is_one_error_and_nothing_written(tmp_path, content, needle):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    chart = tmp_path / "r.html"
    result = run_script("sweep.py", "--results", str(path), "--chart-only")
    assert result.returncode == 2
    assert str(path) in result.stderr and needle in result.stderr and "Traceback" not in result.stderr
    assert not chart.exists()
    if content is not None:
        assert path.read_text() == content


def _searched() -> list[RunResult]:
    def run(draft, tps, **kw):
        n = kw.pop("n_requests", None) or 12
        return RunResult(
            "A",
            draft,
            mean_tps=tps,
            acceptance_rate=0.6 if draft else None,
            decode_tps_ci95=[tps - 1, tps + 1],
            n_requests=n,
            requests=[RequestResult(f"p{i}", decode_tps=tps, completion_tokens=100, total_s=1.0) for i in range(n)],
            **kw,
        )

    return evaluated(
        [
            run(None, 10.0),
            run("best", 15.0),
            run("rival", 14.0),
            run(
                "close",
                15.2,
                n_requests=6,
                pruned=True,
                pruned_as="tied",
                pruned_vs="best",
                pruned_reason="tied with best: 1.01x of best (95.0% interval 0.97x .. 1.04x, 6 paired requests)",
            ),
            run(
                "slow",
                6.0,
                n_requests=3,
                pruned=True,
                pruned_as="slower",
                pruned_vs="best",
                pruned_reason="clearly slower than best: 0.40x of best (95.0% interval 0.30x .. 0.52x, 3 paired requests)",
            ),
        ]
    )


def test_stopped_setups_are_never_recommended_and_ties_are_named():
    runs = _searched()
    rec = recommend.recommend(runs)[0]
    assert rec.best.draft == "best"  # "close" has a higher mean but was stopped as tied: a tie is not a win
    assert [r.draft for r in rec.tied] == ["close"] and rec.stopped_slower == 1
    assert "tied with it within the search's resolution: close" in rec.sentence()
    s = savings.search_savings(runs, 12)
    assert (s.setups, s.slower, s.tied, s.stopped) == (4, 1, 1, 2)
    assert s.tokens == 100 * (12 + 12 + 12 + 6 + 3) and s.full_tokens == 100 * 12 * 5
    assert s.fewer == pytest.approx(1 - 45 / 60)
    assert s.sentence().startswith("2 of 4 setups stopped early (1 slower, 1 tied); 25% fewer tokens")
    assert savings.search_savings(hand_made(), 12) is None


def test_all_setups_stopped_as_slower_means_skip_speculation():
    runs = [r for r in _searched() if r.draft in (None, "slow")]
    rec = recommend.recommend(runs)[0]
    assert rec.best is None and "1 stopped early as clearly slower; skip speculative decoding" in rec.sentence()


def test_the_report_greys_and_hatches_stopped_setups_with_their_intervals():
    runs = _searched()
    data = sweep_page.chart_data(runs)
    full, stopped = data["setups"]
    assert full["name"] == "measured in full" and full["x"] == ["best", "rival"]
    assert stopped["name"] == "stopped early" and stopped["x"] == ["close", "slow"]
    assert stopped["marker"]["pattern"]["shape"] == "/" and stopped["marker"]["color"] != full["marker"]["color"]
    assert "stopped early: clearly slower than best" in stopped["hovertext"][1]
    html = rendered({"settings": {"requests": 12, "runs": 1}}, runs)
    assert "2 of 4 setups stopped early (1 slower, 1 tied); 25% fewer tokens than the full sweep" in html
    assert '<table id="stopped">' in html and "tied with best: 1.01x of best" in html
    texts = [t for row in data["heatmap"][0]["text"] for t in row]
    assert "(-40%)" in texts and "+50%" in texts
    assert "setups" not in rendered({}, hand_made()).split('id="draftbench-data"')[0]


def level_runs() -> list[RunResult]:
    """One stream: the draft wins; four streams: the baseline's batch already uses the spare compute."""
    out = []
    for level, base_agg, draft_agg in ((1, 29.0, 43.0), (2, 50.9, 51.1), (4, 80.0, 70.0)):
        out.append(RunResult("T", None, level, mean_tps=base_agg / level * 1.05, aggregate_tps=base_agg))
        out.append(
            RunResult(
                "T",
                "1-layer",
                level,
                mean_tps=draft_agg / level * 1.05,
                aggregate_tps=draft_agg,
                acceptance_rate=0.7,
                median_ttft_s=0.05,
                p95_ttft_s=0.09,
            )
        )
    return evaluated(out)


def test_each_level_gets_its_recommendation_and_the_line_across_levels():
    recs = recommend.recommend(level_runs())
    assert [(r.level.streams, r.best.draft) for r in recs] == [(1, "1-layer"), (2, "1-layer"), (4, "1-layer")]
    assert recs[2].best.aggregate_speedup == pytest.approx(70 / 80)
    assert (
        "T @ 4 streams: no setup beats the baseline (80.0 tok/s aggregate); best was 1-layer at -12%: no draft"
        == recs[2].sentence()
    )
    assert recs[1].sentence().startswith("T @ 2 streams: use 1-layer, 51.1 tok/s aggregate, +0% vs 50.9")
    assert recommend.by_level(recs) == ["T: 1 stream: 1-layer +48%; 2 streams: 1-layer +0%; 4 streams: no draft"]
    assert recommend.by_level(recommend.recommend(level_runs()[:2])) == []  # one level: nothing to contrast


def test_concurrency_charts_have_a_line_per_setup_and_the_single_level_views_show_one_stream():
    runs = level_runs()
    data = sweep_page.chart_data(runs)
    (draft,) = data["levels"]["speedup"]
    assert draft["name"] == "1-layer" and draft["x"] == [1, 2, 4] and draft["y"] == [48.3, 0.4, -12.5]
    assert [t["name"] for t in data["levels"]["aggregate"]] == ["baseline (no draft)", "1-layer"]
    assert len(data["heatmap"][0]["z"]) == 1 and data["heatmap"][0]["z"][0] == [48.3]  # the lowest level only
    html = rendered({}, runs)
    assert '<table id="levels">' in html and "T @ 4 streams" in html
    assert "1 stream: 1-layer +48%; 2 streams: 1-layer +0%; 4 streams: no draft" in html
    assert sweep_page.chart_data(hand_made())["levels"] == {"speedup": [], "aggregate": []}


def test_the_category_heatmap_and_lines_appear_when_runs_have_categories():
    runs = hand_made()[:3]
    runs[1] = replace(
        runs[1],
        categories={
            "code": CategoryResult(speedup=1.2, speedup_ci95=[1.1, 1.3], n_requests=4),
            "prose": CategoryResult(speedup=1.7, speedup_ci95=[1.6, 1.8], n_requests=4, acceptance_rate=0.5),
        },
    )
    runs[2] = replace(
        runs[2],
        categories={
            "code": CategoryResult(speedup=1.6, speedup_ci95=[1.5, 1.7], n_requests=4),
            "prose": CategoryResult(speedup=1.3, speedup_ci95=[1.2, 1.4], n_requests=4),
        },
    )
    data = sweep_page.chart_data(runs)
    heat = data["categories"]
    assert heat["x"] == ["code", "prose"] and heat["y"] == ["0.5B q8", "0.5B q4"]
    assert heat["z"] == [[20.0, 70.0], [60.0, 30.0]] and heat["text"][1][0] == "+60%"
    html = rendered({}, runs)
    assert '<div id="categories"' in html and "A, for code: 0.5B q4 +60% (95% CI +50% .. +70%, unpaired, n 4)" in html
    assert sweep_page.chart_data(hand_made())["categories"] is None


def test_a_chart_path_that_is_a_folder_is_refused_before_anything_runs(family, tmp_path):
    from sweep_helpers import write_config

    out = run_script(
        "sweep.py",
        "--config",
        write_config(family, tmp_path, drafts=[]),
        "--results",
        str(tmp_path / "r.json"),
        "--chart",
        str(tmp_path),
    )
    assert out.returncode != 0 and "is a folder" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r.json").exists() and "Starting server" not in out.stderr


def test_the_method_of_each_setup_is_shown_and_exported():
    page = rendered({}, setup_runs())
    assert "<th>Best setup</th><th>Method</th>" in page and "<td>1L · n_max 2 · p_min 0</td><td>draft model</td>" in page
    rows = list(csv.DictReader(io.StringIO(export.to_csv(setup_runs()))))
    assert [r["method"] for r in rows[:3]] == ["", "n-gram", "draft model"]


def test_draft_length_curves_are_evaluated_once_and_every_output_carries_them(tmp_path):
    """The curves are the evaluation's (results/lengths.py): the chart, the notes, the Markdown export and the results
    file say the same best lengths, and a file read back and written again keeps one copy of them."""
    from draftbench.report import export
    from draftbench.results import evaluate as evaluation
    from draftbench.results.jsonfile import load_results, save_results
    from draftbench.results.schema import FileMeta

    ev = evaluation.evaluate(setup_runs())
    assert [c.name for c in ev.length_curves] == ["1L · p_min 0", "1L · p_min 0.7"]
    best = ev.length_curves[0].measured_best
    assert (best.draft_max, best.speedup) == (2, 1.4)  # the measured best, not the longest
    assert sweep_page.chart_data(list(ev.runs), ev=ev)["draft_length"] == sweep_page.chart_data(list(ev.runs))["draft_length"]
    assert "| 1L · p_min 0 | 2 | +40% |" in export.to_markdown(FileMeta(name="x"), ev)
    assert "1L · p_min 0: measured best n_max 2 (+40%)" in lengths_view.notes(ev.length_curves)
    path = str(tmp_path / "r.json")
    save_results(path, FileMeta(name="x"), list(ev.runs), ev.computed())
    meta, runs = load_results(path)
    assert "length_curves" not in meta.other  # computed again on every load, never carried as an unknown field
    saved = json.loads(open(path).read())["length_curves"]
    assert [c["measured"][1]["draft_max"] for c in saved] == [2, 8]
