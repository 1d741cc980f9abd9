"""Markdown and CSV exports of a results file, for pasting into issues and spreadsheets."""

from __future__ import annotations

import csv
import io
from typing import Iterable

from ..core import stats
from ..core.redaction import csv_cell, md_cell, visible
from ..results import recommend
from ..results.evaluate import Evaluation
from ..results.schema import FileMeta, RunResult
from ..setup.speculation import AXES
from .page import fmt

CSV_FIELDS = (
    "target",
    "draft",
    "spec_type",
    "method",
    "mean_tps",
    "median_tps",
    "stdev_tps",
    "speedup",
    "speedup_ci95_low",
    "speedup_ci95_high",
    "speedup_n",
    "speedup_design",
    "acceptance_rate",
    "mean_accepted_length",
    "mean_ttft_s",
    "mean_total_time_s",
    "speculation_active",
    "output_match",
    "peak_rss_mib",
    "n_requests",
    "pruned",
    "pruned_as",
    "pruned_reason",
    "predicted_speedup",
    "shard",
    "engine_mean_batch",
    "memory_mib",
    "extra_memory_mib",
    "error",
)


def to_markdown(meta: FileMeta, ev: Evaluation) -> str:
    """The recommendation per target and level and every run, as evaluated."""
    title = meta.title("draftbench")
    out = [
        f"### draftbench: {md_cell(title)}",
        "",
        "| Target | Baseline tok/s | Best draft | tok/s | Speedup | Acceptance |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for rec in ev.recommendations:
        b = rec.best
        base = fmt(rec.baseline.mean_tps, ".2f") if rec.baseline else "none"
        if b is None:
            out.append(f"| {md_cell(rec.target)} | {base} | none | | | |")
        else:
            notes = [f"not recommended: {rec.withheld()}"] if rec.withheld() else rec.notes()
            note = "".join(f" ({n})" for n in notes)
            out.append(
                f"| {md_cell(rec.target)} | {base} | {md_cell(b.draft)}{md_cell(note)} | {b.mean_tps:.2f} | "
                f"{recommend.speedup_text(b)} | {fmt(b.acceptance_rate, '.0%')} |"
            )
    out += [
        "",
        "<details><summary>All runs</summary>",
        "",
        "| Target | Draft | tok/s | Speedup | Acceptance | TTFT s | Note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in ev.runs:
        note = r.error or ("speculation not active" if r.draft and r.speculation_active is False else "")
        if r.pruned:
            note = (
                f"not measured: {r.pruned_reason}"
                if r.pruned_as == "predicted" and not r.requests
                else f"stopped early after {r.n_requests} requests: {r.pruned_reason}"
            )
        shard = f" (shard {r.shard})" if r.shard is not None else ""
        out.append(
            f"| {md_cell(r.target)} | {md_cell(r.draft or 'baseline')}{shard} | {fmt(r.mean_tps, '.2f')} | "
            f"{stats.pct(r.speedup) if r.draft else ''} | {fmt(r.acceptance_rate, '.0%')} | "
            f"{fmt(r.mean_ttft_s, '.3f')} | {md_cell(note)} |"
        )
    out += ["", "</details>"]
    memory = [r for r in ev.runs if r.memory is not None and r.memory.needed_mib is not None]
    if memory:
        out += ["", "| Target | Setup | Memory MiB | Extra vs baseline MiB | Estimate MiB |", "|---|---|---:|---:|---:|"]
        out += [
            f"| {md_cell(r.target)} | {md_cell(r.draft or 'baseline')} | {fmt(r.memory.needed_mib, ',.1f')} | "
            f"{fmt(r.extra_memory_mib, '+,.1f')} | {fmt(r.memory.estimate_mib, ',.1f')} |"
            for r in memory
            if r.memory is not None
        ]
    for schedule in ev.schedules:
        # in a fence: a label's line breaks and control characters made visible, so no label line can close it
        out += ["", "```", *(visible(line) for line in schedule.lines()), "```"]
    if ev.length_curves:
        out += [
            "",
            "| Setup across draft lengths | Measured best n_max | Speedup | Cost model's best n_max | Predicted |",
            "|---|---:|---:|---:|---:|",
        ]
        out += [
            f"| {md_cell(c.name)} | {c.measured_best.draft_max} | {stats.pct(c.measured_best.speedup)} | "
            f"{c.predicted_best or ''} | {stats.pct(c.predicted_best_speedup) if c.predicted_best else ''} |"
            for c in ev.length_curves
        ]
    return "\n".join(out) + "\n"


def to_csv(runs: Iterable[RunResult], recs: Iterable[recommend.Recommendation] = ()) -> str:
    """Every run, a column per field; ``recommended`` is true for the setup each recommendation says to use."""
    # next line's type: ignore: use() is not None: filtered in the same expression
    chosen = {rec.use().key for rec in recs if rec.use() is not None}  # type: ignore[union-attr]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = (*CSV_FIELDS[:4], *AXES, *CSV_FIELDS[4:], "recommended")
    writer.writerow(columns)
    for r in runs:
        row = r.to_dict()
        ci = r.speedup_ci95
        row["speedup_ci95_low"], row["speedup_ci95_high"] = (ci[0], ci[1]) if ci else (None, None)
        row["method"] = r.speculation.method if r.speculation else None
        row["engine_mean_batch"] = r.engine.mean_batch if r.engine else None
        row["memory_mib"] = r.memory.needed_mib if r.memory else None
        row["recommended"] = r.key in chosen
        writer.writerow(["" if row.get(f) is None else csv_cell(row[f]) for f in columns])
    return buf.getvalue()
