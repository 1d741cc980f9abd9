"""The report's draft-length view: per setup measured at several draft lengths, the measured speedups and the
cost model's prediction at every length beside them, and the best length each says."""

from __future__ import annotations

import re
from typing import Any

from ..core import stats
from ..results import costmodel, explain, grouping, recommend
from ..results.schema import RunResult
from . import page

_LENGTH_SEGMENT = re.compile(r"\s*·\s*n_max \d+")


def lines(runs: list[RunResult]) -> list[tuple[str, list[RunResult]]]:
    """(name, runs by draft length) per target and setup measured at two or more draft lengths
    (setups that differ only in draft_max)."""
    lines: dict[tuple, list[RunResult]] = {}
    for r in runs:
        if grouping.eligible(r) and r.speculation is not None and r.speculation.draft_max is not None:
            lines.setdefault(grouping.length_key(r), []).append(r)
    lines = {key: group for key, group in lines.items() if len({r.speculation.draft_max for r in group}) > 1}
    several_targets = len({key[0] for key in lines}) > 1
    out = []
    for (target, _, shard, _), group in lines.items():
        group.sort(key=lambda r: r.speculation.draft_max)
        name = (_LENGTH_SEGMENT.sub("", group[0].draft or "") or "setup") + (f" (shard {shard})" if shard is not None else "")
        out.append((f"{target}: {name}" if several_targets else name, group))
    return out


def _draft_model(group: list[RunResult], runs: list[RunResult]) -> costmodel.Loop | None:
    base = grouping.baseline_of(group[0], runs)
    return explain.draft_loop(group, base) if base else None


def traces(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Per draft-length line: the measured speedups, and the cost model's prediction at every length beside
    them (dashed; none where the runs have no parts)."""
    traces = []
    for name, group in lines(runs):
        errs = [page.speedup_errors(r) for r in group]
        traces.append({
            "type": "scatter", "mode": "lines+markers", "name": f"{name}: measured", "legendgroup": name,
            "x": [r.speculation.draft_max for r in group], "y": [page.pct_value(r.speedup) for r in group],
            "hovertext": [f"{r.draft}: {recommend.speedup_text(r)}" for r in group], "hoverinfo": "text",
            "error_y": page.error_y(errs)})
        model = _draft_model(group, runs)
        if model is not None:
            xs = list(range(1, group[-1].speculation.draft_max + 1))
            traces.append({"type": "scatter", "mode": "lines", "name": f"{name}: cost model", "legendgroup": name,
                           "x": xs, "y": [page.pct_value(model.speedup(n)) for n in xs],
                           "line": {"dash": "dash"}, "hovertemplate": "n_max %{x}: predicted %{y:+.0f}%"})
    return traces


def notes(runs: list[RunResult]) -> list[str]:
    """Per draft-length line: the measured best length, and the cost model's over its draft's runs, with the
    methods behind it."""
    notes = []
    for name, group in lines(runs):
        best = max(group, key=lambda r: r.speedup or 0)
        text = f"{name}: measured best n_max {best.speculation.draft_max} ({stats.pct(best.speedup)})"
        model = _draft_model(group, runs)
        parts = next((r.parts for r in group if r.parts), None)
        if model is not None and parts is not None:
            top = model.best(max(16, group[-1].speculation.draft_max))
            text += (f"; the cost model predicts n_max {top} ({stats.pct(model.speedup(top))}; v(k): "
                     f"{parts.verify_source}, acceptance: {parts.acceptance_source})")
        notes.append(text)
    return notes
