"""How docs/report.png is taken: the demo's real report (sweep.py --demo), its answer card and two charts,
in headless Chromium with Plotly served from a local copy. Usage: python docs/report_picture.py REPORT.html OUT.png
PLOTLY.min.js"""

import sys
from playwright.sync_api import sync_playwright
html, out, plotly = sys.argv[1], sys.argv[2], sys.argv[3]
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = b.new_page(viewport={"width": 1150, "height": 900})
    page.route("https://cdn.plot.ly/plotly-2.35.2.min.js", lambda r: r.fulfill(path=plotly, content_type="application/javascript", headers={"Access-Control-Allow-Origin": "*"}))
    page.goto("file://" + html)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=30000)
    page.wait_for_timeout(1000)
    page.evaluate("""() => {
      const keep = new Set(['answer', 'speedup', 'draft-length']);
      const kids = [...document.body.children];
      kids.forEach((e, i) => {
        const next = kids[i + 1];
        const heading = /^H[12]$/.test(e.tagName) && next && (keep.has(next.id) || next.querySelector && [...keep].some(k => next.id === k));
        const show = e.tagName === 'H1' || keep.has(e.id) || (e.querySelector && [...keep].some(k => e.querySelector('#' + k))) || heading;
        if (!show && e.tagName !== 'SCRIPT') e.style.display = 'none';
      });
    }""")
    page.wait_for_timeout(500)
    page.screenshot(path=out, full_page=True)
    b.close()
