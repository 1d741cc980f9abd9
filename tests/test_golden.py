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
PUBLISHED = os.path.join(os.path.dirname(__file__), "data", "published-results",
                         "m4max-128gb_llamacpp_qwen25-14b.json")
FILES = {**{v: os.path.join(GOLDEN, f"v{v}.json") for v in range(2, 8)}, 1: PUBLISHED}
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
    for old, new in zip(before, now):
        for name in NUMBERS:
            assert (new[name] == "") == (old[name] == ""), (old["draft"], name)
            if old[name]:
                assert float(new[name]) == pytest.approx(float(old[name]), rel=2e-3, abs=1e-4), (old["draft"], name)
        assert new["speedup_design"] == old["speedup_design"] and new["speedup_n"] == old["speedup_n"]
        assert new["mean_ttft_s"] == old.get("mean_ttft", old.get("mean_ttft_s"))  # renamed in version 8
    table = _before(version, "md").split("<details>")[0]
    assert export.to_markdown(meta, ev).split("<details>")[0] == table  # the same recommendation, word for word
    data = sweep_page.chart_data(list(ev.runs))
    assert data["targets"] and data["heatmap"][0]["z"]
    html = sweep_page.render(meta, ev)
    assert "Plotly.newPlot" in html
    if any(r.parts for r in ev.runs) and version < 7:  # no measurements in the loop: the parts table says so
        assert "Fallback: v from prompt batches" in html


@pytest.mark.parametrize("version", range(2, 8))
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
    done = run_script("sweep.py", "--config", str(tmp_path / "c.json"), "--results", str(results),
                      "--chart", str(tmp_path / "r.html"))
    if done.returncode == 0:
        assert "Starting server" not in done.stderr and done.stderr.count("done earlier, skipped") == len(
            evaluate.load(FILES[version])[1].runs)
        # nothing left to measure: the file is as it was (a run measured now would save it at version 8)
        assert hashlib.sha256(results.read_bytes()).hexdigest() == digest
    else:
        assert str(results) in done.stderr and "Traceback" not in done.stderr
        assert hashlib.sha256(results.read_bytes()).hexdigest() == digest
