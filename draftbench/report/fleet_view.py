"""The report's view of a fleet: which node measured which setups, and each node's baseline against the first
node's, so a slow node shows. Shown only for a merged file (its shards are listed in its metadata)."""

from __future__ import annotations

from ..core import stats
from ..core.redaction import html_text
from ..results.fleet import NodeBaseline
from ..results.schema import FileMeta, RunResult
from ..setup.levels import where

NOTE = (
    "Each shard ran on a node of its own and measured, besides its setups, the baseline of every target it "
    "measured setups for: every speedup is against its own node's baseline, never a ratio across nodes. Where "
    "two nodes measured the same baseline, the later one is compared with the first, request by request on "
    "the same prompts."
)


def section(meta: FileMeta, runs: list[RunResult], nodes: tuple[NodeBaseline, ...], resolution: float) -> str:
    if not meta.shards:
        return ""
    hosts = {s.index: s.host or "?" for s in meta.shards}
    rows = []
    for s in meta.shards:
        mine = [r for r in runs if r.shard == s.index]
        setups = sorted({f"{r.target} + {r.draft}" for r in mine if r.draft is not None})
        bases = sorted({r.where for r in mine if r.draft is None})
        rows.append(
            f"<tr><td>{s.index}</td><td>{html_text(s.host or '?')}</td><td>{html_text(s.job or '')}</td>"
            f"<td>{html_text(', '.join(setups) or 'none')}</td><td>{html_text(', '.join(bases) or 'none')}</td></tr>"
        )
    out = [
        f"<h2>The fleet: {len(meta.shards)} shards</h2>",
        f'<p class="note">{NOTE}</p>',
        '<table id="shards"><tr><th>Shard</th><th>Node</th><th>Job</th><th>Setups measured</th>'
        "<th>Baselines measured</th></tr>" + "".join(rows) + "</table>",
    ]
    for n in nodes:
        if n.slower(resolution):
            out.append(
                f'<p class="warning">Slower node: {html_text(n.sentence())} (node '
                f"{html_text(hosts.get(n.shard, '?'))}): its speedups are against its own baseline, but "
                "check that node before trusting its absolute speeds.</p>"
            )
    if any(n.ratio is not None for n in nodes):
        out.append(
            '<table id="node-baselines"><tr><th>Target</th><th>Shard</th><th>Node</th><th>Baseline tok/s</th>'
            "<th>vs the first node's baseline</th></tr>"
            + "".join(
                f"<tr><td>{html_text(where(n.target, n.level))}</td><td>{n.shard}</td>"
                f"<td>{html_text(hosts.get(n.shard, '?'))}</td><td>{n.decode_tps:.2f}</td>"
                f"<td>{html_text(stats.ratio_text(n.ratio)) if n.ratio else f'reference (shard {n.reference})'}</td></tr>"
                for n in nodes
            )
            + "</table>"
        )
    return "\n".join(out)
