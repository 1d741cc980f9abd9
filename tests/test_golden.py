"""Golden results files, one per schema version: real sweeps of the test family run by the draftbench of that
version (tests/data/golden/vN.json, the config beside it), and the published file of the original tool (version
1). Each must load, chart and resume, and say the numbers the previous release said of it (vN.before.csv and
vN.before.md: that release's --chart-only --format csv / md of the same file)."""

from __future__ import annotations

import csv
import hashlib
import io
import os

import pytest
from conftest import run_script

from draftbench.report import export, sweep_page
from draftbench.results import evaluate

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden")
PUBLISHED = os.path.join(os.path.dirname(__file__), "data", "published-results", "m4max-128gb_llamacpp_qwen25-14b.json")
FILES = {**{v: os.path.join(GOLDEN, f"v{v}.json") for v in range(2, 14)}, 1: PUBLISHED}
NUMBERS = ("mean_tps", "median_tps", "speedup", "speedup_ci95_low", "speedup_ci95_high", "acceptance_rate")


def _before(version: int, ext: str) -> str:
    name = "v1-published" if version == 1 else f"v{version}"
    with open(os.path.join(GOLDEN, f"{name}.before.{ext}"), encoding="utf-8") as fh:
        return fh.read()


@pytest.mark.parametrize("version", sorted(FILES))
def test_every_version_loads_charts_and_says_the_same_numbers(version):
    meta, ev = evaluate.load(FILES[version])
    assert meta.schema_version == version
    before = list(csv.DictReader(io.StringIO(_before(version, "csv"))))
    now = list(csv.DictReader(io.StringIO(export.to_csv(ev.runs))))
    assert [(r["target"], r["draft"]) for r in now] == [(r["target"], r["draft"]) for r in before]
    # Since issue 33 the reference pools every baseline measurement (versions 6-7 checked theirs): a corrected
    # speedup is the one said before over the drift factor, its interval wider; the rest is unchanged.
    corrected = {(r.target, r.draft or ""): r for r in ev.runs if r.drift_factor is not None}
    for old, new in zip(before, now):
        fixed = corrected.get((new["target"], new["draft"]))
        for name in NUMBERS:
            assert (new[name] == "") == (old[name] == ""), (old["draft"], name)
            if fixed is not None and name == "speedup":
                assert fixed.speedup_uncorrected == pytest.approx(float(old[name]), rel=2e-3)
                assert fixed.speedup == pytest.approx(fixed.speedup_uncorrected / fixed.drift_factor)
            elif old[name] and not (fixed is not None and name.startswith("speedup_ci95")):
                assert float(new[name]) == pytest.approx(float(old[name]), rel=2e-3, abs=1e-4), (old["draft"], name)
        assert new["speedup_design"] == old["speedup_design"] and new["speedup_n"] == old["speedup_n"]
        assert new["mean_ttft_s"] == old.get("mean_ttft", old.get("mean_ttft_s"))  # renamed in version 8
    before_rows = _before(version, "md").split("<details>")[0].splitlines()
    now_rows = export.to_markdown(meta, ev).split("<details>")[0].splitlines()
    assert len(now_rows) == len(before_rows)
    for old, new in zip(before_rows, now_rows):  # the same recommendation, word for word, unless now withheld
        if corrected and new.startswith("| ") and "---" not in new and "Target" not in new:
            assert old.split(" | ")[:2] == new.split(" | ")[:2]  # a corrected speedup: the same target and baseline
        elif "(not recommended: " in new:  # a tie with no speculation is no win (issue 33): same figures, said so
            assert old.split(" | ")[:2] + old.split(" | ")[3:] == new.split(" | ")[:2] + new.split(" | ")[3:]
            assert "95% CI -" in new.split(" | ")[4] or "degenerate" in new
        else:
            assert new == old
    data = sweep_page.chart_data(list(ev.runs))
    assert data["targets"] and data["heatmap"][0]["z"]
    html = sweep_page.render(meta, ev)
    assert "Plotly.newPlot" in html
    if any(r.parts for r in ev.runs) and version < 7:  # no measurements in the loop: the parts table says so
        assert "Fallback: v from prompt batches" in html


@pytest.mark.parametrize("version", range(2, 14))
def test_every_version_resumes_or_is_refused_untouched(version, family, tmp_path):
    """A rerun of the file's own config continues it (every run done: skipped, nothing started) or, where the file
    predates what a resume must compare (its prompts, its settings), is refused naming the file; either way the
    file stays as it was."""
    with open(os.path.join(GOLDEN, f"v{version}.config.json"), encoding="utf-8") as fh:
        config = fh.read().replace("{family}", family["dir"])
    (tmp_path / "c.json").write_text(config)
    results = tmp_path / "r.json"
    results.write_bytes(open(FILES[version], "rb").read())
    digest = hashlib.sha256(results.read_bytes()).hexdigest()
    done = run_script(
        "sweep.py", "--config", str(tmp_path / "c.json"), "--results", str(results), "--chart", str(tmp_path / "r.html")
    )
    if done.returncode == 0:
        assert "Starting server" not in done.stderr and done.stderr.count("done earlier, skipped") == len(
            evaluate.load(FILES[version])[1].runs
        )
        # nothing left to measure: the file is as it was (a run measured now would save it at the current version)
        assert hashlib.sha256(results.read_bytes()).hexdigest() == digest
    else:
        assert str(results) in done.stderr and "Traceback" not in done.stderr
        assert hashlib.sha256(results.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("version", [4, 7])
def test_one_evaluation_feeds_the_console_the_report_and_both_exports(version, monkeypatch):
    """Loaded once and evaluated once (counted): the console summary, the HTML report, the Markdown and the CSV
    show the same speedup, interval and recommendation for every run."""
    from draftbench.core import stats
    from draftbench.results import recommend
    from draftbench.sweep.console import evaluation_lines

    calls = []
    real = evaluate.evaluate
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    meta, ev = evaluate.load(FILES[version])
    console = "\n".join(evaluation_lines(ev))
    md, html = export.to_markdown(meta, ev), sweep_page.render(meta, ev)
    rows = list(csv.DictReader(io.StringIO(export.to_csv(ev.runs))))
    assert calls == [1]
    for run, row in zip(ev.runs, rows):
        assert (row["target"], row["draft"] or None) == (run.target, run.draft)
        if run.draft is None or run.speedup is None:
            continue
        ratio = stats.Ratio(
            float(row["speedup"]),
            (float(row["speedup_ci95_low"]), float(row["speedup_ci95_high"])),
            int(row["speedup_n"]),
            row["speedup_design"] == "paired",
        )
        assert stats.ratio_text(ratio) == recommend.speedup_text(run)  # the CSV says what every page says
        assert f"| {run.target} | {run.draft} | {run.mean_tps:.2f} | {stats.pct(run.speedup)} |" in md
        if run.concurrency == min(r.concurrency for r in ev.runs):
            assert f'"{stats.pct(run.speedup)}"' in html  # the heatmap's label of this run
    table = html[html.index('<table id="recommendations">') :]
    for rec in ev.recommendations:
        assert rec.sentence() in console.replace("Recommended: ", "")
        if rec.best is not None and rec.level == 1:
            assert recommend.speedup_text(rec.best) in md and recommend.speedup_text(rec.best) in console
            assert stats.interval_text(rec.best.speedup_ratio(), label="") in table
