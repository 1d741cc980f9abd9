"""The report's output checks: per setup, its completions against the baseline's at temperature 0 (identical
share, where they first differ) and the distribution check at temperature > 0 (p-value, distance, verdict)."""

from __future__ import annotations

from ..core.redaction import html_text
from ..results.schema import RunResult

NOTE = (
    "At temperature 0 exact speculative decoding gives the target's own completions: a difference early in a "
    "completion points at the setup, a late one at numerics. Above 0, the distribution check samples short "
    "continuations of fixed prefixes from the setup and from the baseline (same seeds) and tests each position "
    "for the same token distribution; a flagged setup is never recommended."
)


def section(runs: list[RunResult]) -> str:
    checked = [r for r in runs if r.output_check is not None or r.distribution_check is not None]
    if not checked:
        return ""
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html_text(c)}</td>"
            for c in (
                r.target,
                r.draft or "baseline",
                r.level.text() or "one stream",
                r.output_check.text() if r.output_check else "",
                r.distribution_check.text() if r.distribution_check else "",
            )
        )
        + "</tr>"
        for r in checked
    )
    return (
        f'<h2>Outputs: does the setup change what the target says?</h2>\n<p class="note">{NOTE}</p>\n'
        '<table id="output-checks"><tr><th>Target</th><th>Setup</th><th>Level</th><th>Temperature 0: vs baseline'
        f"</th><th>Distribution check</th></tr>{rows}</table>"
    )
