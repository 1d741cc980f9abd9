"""``sweep.py --compare``: several results files, the original tool's included, on one page."""

from __future__ import annotations

import json

import pytest
from conftest import run_script
from test_report import published_path

from draftbench.results import compare
from draftbench.results.schema import RunResult


def _file(tmp_path, name: str, hardware: str, targets: dict[str, tuple[float, dict[str, float]]]) -> str:
    results = []
    for target, (base, drafts) in targets.items():
        results.append({"target": target, "draft": None, "mean_tps": base, "decode_tps_ci95": [base * 0.98, base * 1.02]})
        for label, tps in drafts.items():
            results.append({"target": target, "draft": label, "mean_tps": tps, "acceptance_rate": 0.6})
    path = tmp_path / name
    path.write_text(json.dumps({"name": name, "hardware": hardware, "results": results}), encoding="utf-8")
    return str(path)


def entry(speed: float, speedup: float, label: str) -> compare.Entry:
    best = RunResult("t", label, mean_tps=speed * speedup, speedup=speedup)
    return compare.Entry("hw", f"t{speed}", "f.json", speed, None, best, label.split()[0])


def test_the_choosing_table_buckets_targets_at_the_data_quantiles():
    rows = [
        entry(5, 1.8, "3B q4"),
        entry(6, 1.7, "3B q4"),
        entry(7, 1.6, "1.5B q4"),
        entry(20, 1.4, "1.5B q4"),
        entry(22, 1.3, "1.5B q4"),
        entry(25, 1.35, "0.5B q8"),
        entry(60, 1.1, "0.5B q8"),
        entry(70, 0.95, "0.5B q8"),
        entry(80, 1.05, "0.5B q8"),
    ]
    table = compare.choosing_table(rows)
    assert [b.targets for b in table] == [3, 3, 3]  # tertiles of nine speeds
    assert [compare.bucket_line(b) for b in table] == [
        "< 15.7 tok/s: 3B draft, +70% to +80% (best in 2 of 3 targets)",  # 33rd percentile: 7 + 2/3 x 13
        "15.7-36.7 tok/s: 1.5B draft, +30% to +40% (best in 2 of 3 targets)",
        ">= 36.7 tok/s: 0.5B draft, +5% to +10% (best in 2 of 3 targets)",
    ]
    (few,) = compare.choosing_table(rows[:2])
    assert compare.bucket_line(few) == "any speed: 2 target(s), too few to say (need 3)"
    tie = compare.choosing_table([entry(5, 1.8, "3B"), entry(6, 1.7, "1.5B"), entry(7, 1.6, "0.5B")])
    assert compare.bucket_line(tie[0]) == "any speed: 3B or 1.5B or 0.5B draft, +60% to +80% (best in 1 each of 3 targets)"


def test_a_trend_of_speedup_against_baseline_speed():
    rows = [entry(5, 1.8, "3B"), entry(50, 1.2, "0.5B"), entry(500, 0.6, "0.5B")]
    slope, intercept = compare.trend(rows)
    assert slope == pytest.approx(-60.0) and intercept == pytest.approx(80 + 60 * 0.69897, rel=1e-3)
    assert compare.trend(rows[:2]) is None


def test_duplicates_are_flagged_when_they_disagree(tmp_path):
    a = _file(tmp_path, "a.json", "box", {"T": (10.0, {"0.5B": 15.0})})
    b = _file(tmp_path, "b.json", "box", {"T": (20.0, {"0.5B": 25.0})})
    good, bad = compare.load([a, b])
    rows = compare.entries(good)
    assert len(rows) == 2 and all("baseline tok/s intervals do not overlap" in e.disagrees for e in rows)
    assert bad == []


def test_compare_cli_on_a_folder_with_a_broken_file(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "broken.json").write_text("{nope", encoding="utf-8")
    _file(folder, "mac.json", "mac", {"7B": (20.0, {"0.5B q8": 30.0}), "14B": (9.0, {"1.5B q4": 15.0})})
    page = tmp_path / "cmp.html"
    done = run_script("sweep.py", "--compare", str(folder), published_path(), "--chart", str(page), "--format", "md")
    assert done.returncode == 1, done.stderr  # a file was left out: said, and the rest compared
    assert "left out" in done.stderr and "broken.json" in done.stderr and "Traceback" not in done.stderr
    assert "| mac | 14B | 9.00 | 1.5B q4 | +67% (no interval, unpaired: no per-request data) |" in done.stdout
    assert "Choosing a draft" in done.stdout
    html = page.read_text(encoding="utf-8")
    assert '<ul id="broken">' in html and "14B Q4_K_M" in html and html.count("<tr>") >= 1 + 2 + 4
