"""The report in a real headless Chromium, with the CDN request served from the pinned npm package."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess

import pytest
from conftest import ROOT, unavailable
from records import rendered, written
from test_report import HOSTILE, _searched, level_runs, published_path, setup_runs, why_runs

from draftbench.report import sweep_page
from draftbench.results import evaluate
from draftbench.results.schema import RunResult

CHROMIUM = "/usr/bin/chromium"
PLOTLY_JS = os.path.join(ROOT, ".cache", "npm", "node_modules", "plotly.js-dist-min", "plotly.min.js")


def _missing(why: str):
    unavailable(why, f"CI needs the browser test: {why}")


@pytest.fixture(scope="module")
def plotly_js() -> str:
    if not os.path.exists(PLOTLY_JS):
        if shutil.which("npm") is None:
            _missing("npm is needed to fetch plotly.js-dist-min")
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--silent",
                "--prefix",
                os.path.join(ROOT, ".cache", "npm"),
                "plotly.js-dist-min@2.35.2",
            ],
            check=True,
            timeout=300,
        )
    return PLOTLY_JS


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        _missing("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install '.[browser]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_report(browser, plotly_js: str, html_path: str, shot: str, plots: int = 3):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(
        sweep_page.PLOTLY_URL,
        lambda route: route.fulfill(
            path=plotly_js, content_type="application/javascript", headers={"Access-Control-Allow-Origin": "*"}
        ),
    )
    page.goto("file://" + html_path)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {plots}", timeout=20000)
    page.screenshot(path=shot, full_page=True)
    return page, errors


def test_sri_matches_the_served_file(plotly_js):
    with open(plotly_js, "rb") as fh:
        digest = "sha384-" + base64.b64encode(hashlib.sha384(fh.read()).digest()).decode()
    page = rendered({}, [RunResult("t", None, mean_tps=1.0)])
    assert re.search(r'integrity="([^"]+)"', page).group(1) == digest == sweep_page.PLOTLY_SRI
    assert 'crossorigin="anonymous"' in page


def test_published_report_renders(browser, plotly_js, tmp_path):
    html_path = str(tmp_path / "published.html")
    sweep_page.write_report(html_path, *evaluate.load(published_path()))
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "published.png"))
    assert errors == []
    z = page.evaluate("document.getElementById('heatmap').data[0].z")
    assert len(z) == 22 and all(len(row) == 4 for row in z)
    assert page.locator("#recommendations tr").count() == 5
    assert os.path.getsize(tmp_path / "published.png") > 10000


def test_hostile_label_is_text_in_browser(browser, plotly_js, tmp_path):
    runs = [RunResult(HOSTILE, None, mean_tps=10.0), RunResult(HOSTILE, HOSTILE, mean_tps=12.0, acceptance_rate=0.5)]
    html_path = str(tmp_path / "hostile.html")
    written(html_path, {"model_family": HOSTILE, "hardware": "box"}, runs)
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "hostile.png"))
    assert errors == []
    assert page.evaluate("window.__xss") is None
    assert HOSTILE in page.inner_text("#recommendations")


def test_setups_report_renders_the_draft_length_chart(browser, plotly_js, tmp_path):
    html_path = str(tmp_path / "setups.html")
    written(html_path, {"model_family": "setups", "hardware": "box"}, setup_runs())
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "setups.png"), plots=4)
    assert errors == []
    names = page.evaluate("document.getElementById('draft-length').data.map(t => t.name)")
    assert sorted(names) == ["1L · p_min 0.7: measured", "1L · p_min 0: measured"]
    texts = page.evaluate("Array.from(document.querySelectorAll('#heatmap text')).map(t => t.textContent)")
    assert {"+20%", "+40%", "-10%", "+5%"} <= set(texts)  # values printed in the cells, not only on hover
    assert "--spec-draft-n-max 2" in page.inner_text("#recommendations")


def test_why_chart_renders_one_point_per_draft(browser, plotly_js, tmp_path):
    html_path = str(tmp_path / "why.html")
    written(html_path, {"model_family": "why", "hardware": "box"}, why_runs())
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "why.png"), plots=5)
    assert errors == []
    assert page.evaluate("document.getElementById('why').data[1].x.length") == 2
    assert page.locator("#parts tr").count() == 4


def test_stopped_setups_render_grey_and_hatched(browser, plotly_js, tmp_path):
    html_path = str(tmp_path / "searched.html")
    written(html_path, {"settings": {"requests": 12, "runs": 1}}, _searched())
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "searched.png"), plots=4)
    assert errors == []
    names = page.evaluate("document.getElementById('setups').data.map(t => t.name)")
    assert names == ["measured in full", "stopped early"]
    assert page.evaluate("document.getElementById('setups').data[1].marker.pattern.shape") == "/"
    assert "2 of 4 setups stopped early" in page.inner_text("#search-summary")
    assert page.locator("#stopped tr").count() == 3


def test_concurrency_charts_render(browser, plotly_js, tmp_path):
    html_path = str(tmp_path / "levels.html")
    written(html_path, {"model_family": "levels", "hardware": "box"}, level_runs())
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "levels.png"), plots=5)
    assert errors == []
    assert page.evaluate("document.getElementById('level-speedup').data[0].x") == [1, 2, 4]
    assert page.evaluate("document.getElementById('level-aggregate').data.length") == 2
    assert page.locator("#levels tr").count() == 7
    assert "4 streams: no draft" in page.inner_text("#by-level")


def test_compare_page_renders(browser, plotly_js, tmp_path):
    from test_compare import _file

    from draftbench.report import compare_page
    from draftbench.results import compare

    mine = _file(tmp_path, "mine.json", "my-box", {"7B": (20.0, {"0.5B q8": 30.0}), "14B": (9.0, {"1.5B q4": 15.0})})
    good, bad = compare.load([published_path(), mine])
    html_path = str(tmp_path / "compare.html")
    compare_page.write(html_path, compare.entries(good), [p for p, _, _ in good], bad)
    page, errors = open_report(browser, plotly_js, html_path, str(tmp_path / "compare.png"), plots=2)
    assert errors == []
    names = page.evaluate("document.getElementById('scatter').data.map(t => t.name)")
    assert names[:2] == ["m4max-128gb", "my-box"] and names[2].startswith("trend")
    assert page.locator("#compare tr").count() == 1 + 4 + 2
    assert page.locator("#derived li").count() >= 1
