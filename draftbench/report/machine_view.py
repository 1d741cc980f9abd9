"""The report's view of the machine during the sweep: each baseline measured again (its checks, with the drift
they show) and the runs corrected for drift or measured while other processes were busy. Shown only when a sweep
checked its baselines or saw a busy machine."""

from __future__ import annotations

from ..core import load, stats
from ..core.redaction import html_text
from ..results import drift, recommend
from ..results.schema import RunResult
from . import page

NOTE = (
    "Each target's baseline is measured again during the sweep (one block of the first prompts, on a fresh "
    "server; every prompt where its first measurement was on a busy machine). A check's ratio to the first "
    "measurement, request by request, is the machine's speed then. The reference comes from every quiet "
    "measurement (busy ones left out where a quiet one exists): where they moved beyond noise, every setup's "
    "requests are divided by the speed interpolated at the time they ran, else by their pooled level; the "
    "speedups are corrected, their intervals widened by the correction's own uncertainty."
)


def _row(p: drift.CheckPoint) -> list[str]:
    ratio = stats.ratio_text(p.ratio) if p.ratio else "1 (reference)" if p.label == "first" else "n/a"
    return [
        html_text(p.where),
        html_text(p.label),
        page.fmt(p.minutes_in, ".1f"),
        page.fmt(p.mean_tps, ".2f"),
        html_text(ratio),
        page.fmt(p.other_cpu_share, ".0%"),
    ]


def section(runs: list[RunResult], points: tuple[drift.CheckPoint, ...], resolution: float = 0.05) -> str:
    checked = [r for r in runs if r.draft is None and r.baseline_checks]
    busy = [(r, w) for r in runs if (w := load.warning(r.other_cpu_share, r.other_cpu_share_before, r.gpu_busy_before_pct))]
    fixed = [r for r in runs if r.drift_factor is not None]
    if not checked and not busy:
        return ""
    out = ["<h2>The machine during the sweep</h2>", f'<p class="note">{NOTE}</p>']
    for base in checked:
        shift = drift.of(base)
        if shift is not None and shift.exceeds(resolution):
            out.append(f'<p class="warning">{html_text(base.where)}: {html_text(shift.sentence())}</p>')
        elif shift is not None and shift.significant:
            out.append(
                f'<p class="note">{html_text(base.where)}: the baseline moved by '
                f"{html_text(stats.ratio_text(shift.worst))}, within the resolution ({resolution:.0%}): "
                "speedups corrected for it.</p>"
            )
    if checked:
        rows = [_row(p) for p in points]
        out.append(
            '<table id="baseline-checks"><tr><th>Target</th><th>Baseline measured</th><th>Minutes in</th>'
            "<th>tok/s</th><th>Speed vs first</th><th>Other processes' CPU</th></tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>"
        )
    if fixed:
        out.append(
            '<table id="drift-corrected"><tr><th>Target</th><th>Setup</th><th>Baseline speed then</th>'
            "<th>Speedup corrected</th><th>Uncorrected</th></tr>"
            + "".join(
                f"<tr><td>{html_text(r.where)}</td><td>{html_text(r.draft)}</td><td>{r.drift_factor:.2f}x</td>"
                f"<td>{html_text(recommend.speedup_text(r))}</td><td>{stats.pct(r.speedup_uncorrected)}</td></tr>"
                for r in fixed
            )
            + "</table>"
        )
    if busy:
        out.append(
            '<ul id="busy-runs">'
            + "".join(f"<li>{html_text(r.where)} + {html_text(r.draft or 'baseline')}: {html_text(w)}</li>" for r, w in busy)
            + f'</ul><p class="note">A run is flagged when other processes used {load.BUSY_SHARE:.0%} or more of '
            "the CPUs while it was measured or just before.</p>"
        )
    return "\n".join(out)
