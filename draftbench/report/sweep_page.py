"""The HTML report: one self-contained file, Plotly from its CDN (pinned, with SRI), data embedded as JSON."""

from __future__ import annotations

import json
from typing import Any

from ..core import health, stats
from ..core.files import write_text_atomic
from ..core.redaction import html_text
from ..results import categories, grouping, recommend
from ..results.depth import Crossover
from ..results.evaluate import Evaluation
from ..results.explain import why_grid
from ..results.lengths import curves
from ..results.schema import FileMeta, RunResult
from ..setup.speculation import NO_DRAFT_MODEL
from . import (
    answer_view,
    costmodel_view,
    depth_view,
    fleet_view,
    lengths_view,
    levels_view,
    machine_view,
    memory_view,
    outputs_view,
    page,
    search_view,
    traffic_view,
    turns_view,
)

PLOTLY_URL, PLOTLY_SRI, embed_json = page.PLOTLY_URL, page.PLOTLY_SRI, page.embed_json
WHY_NOTE = (
    "Each pass drafts g tokens (g steps of the draft, each c target steps) and verifies g + 1 in one "
    "batch (v target steps); with per-token acceptance a it yields (1 - a^(g+1)) / (1 - a) tokens. "
    "Predicted speedup = measured tokens per pass / (g c + v). a is fitted to the accepted and drafted "
    "counts; c is the drafting time measured inside the server (else the draft's speed alone); v is "
    "measured in the speculative loop, the setup run again with synthetic acceptance (else from the "
    "target's prompt timings: the table's \"v from\" says which). The best draft length uses acceptance by "
    "draft position where the server counts it. The parts are measured at the sweep's first level (one stream, "
    "no context depth): runs at other levels are measured, not explained."
)
MAX_LABELLED_CELLS = 400  # above this the heatmap's cells show their value on hover only


def best_by_category(runs: list[RunResult]) -> dict[tuple[str, str], RunResult]:
    """(target, size category) -> the eligible draft run with the highest speedup."""
    best: dict[tuple[str, str], RunResult] = {}
    for r in runs:
        if not grouping.eligible(r):
            continue
        key = (r.target, grouping.run_category(r))
        if key not in best or (r.speedup or 0) > (best[key].speedup or 0):
            best[key] = r
    return best


def _errors(r: RunResult | None) -> list[float] | None:
    if r is None or not r.decode_tps_ci95 or r.mean_tps is None:
        return None
    return [round(r.decode_tps_ci95[1] - r.mean_tps, 3), round(r.mean_tps - r.decode_tps_ci95[0], 3)]


def chart_data(all_runs: list[RunResult], crossovers: tuple[Crossover, ...] = (), ev: Evaluation | None = None) -> dict[str, Any]:
    """Plotly traces for the charts, so they can be tested without a browser: the figures are the evaluation's
    (``ev``; for bare runs, the same functions of them). The single-level charts show the lowest level; the
    concurrency and depth charts show them all."""
    runs = grouping.at_level(all_runs)
    targets = list(dict.fromkeys(r.target for r in runs))
    drafts = heatmap_rows(runs)
    throughput, speedup = _bars(runs, targets)
    return {
        "throughput": throughput,
        "speedup": speedup,
        "heatmap": [_heatmap(runs, targets, drafts)],
        "draft_length": lengths_view.traces(ev.length_curves if ev else curves(all_runs)),
        "setups": search_view.chart(runs) if search_view.searched(runs) else [],
        "levels": levels_view.charts(all_runs),
        "depth": depth_view.charts(all_runs, crossovers),
        "turns": turns_view.chart(all_runs),
        "rates": traffic_view.charts(all_runs),
        "categories": _category_heatmap(runs),
        "categories_height": max(300, 26 * len({r.draft for r in runs}) + 160),
        "why": costmodel_view.chart(ev.why_grid if ev else why_grid(runs)),
        "memory": memory_view.chart(runs),
        "heatmap_height": max(360, 26 * len(drafts) + 160),
        "targets": targets,
        "drafts": drafts,
    }


def _bar(name: str, x: list, ys: list, texts: list, hovers: list, errs: list, color: str | None = None) -> dict:
    trace = {
        "type": "bar",
        "name": name,
        "x": x,
        "y": ys,
        "text": texts,
        "textposition": "outside",
        "cliponaxis": False,
        "hovertext": hovers,
        "hoverinfo": "text",
    }
    if color:
        trace["marker"] = {"color": color}
    if any(errs):
        trace["error_y"] = page.error_y(errs)
    return trace


def _bars(runs: list[RunResult], targets: list[str]) -> tuple[list[dict], list[dict]]:
    """Throughput per target (baseline and the best setup of each size), and speedup per size (a bar per target)."""
    base, best = grouping.baselines(runs), best_by_category(runs)
    cats = sorted({cat for _, cat in best}, key=grouping.size_sort_key)
    picks = [base.get(t) for t in targets]
    throughput = [
        _bar(
            "baseline",
            targets,
            [p and p.mean_tps for p in picks],
            [page.fmt(p and p.mean_tps, ".1f") for p in picks],
            [f"{t} baseline: {p.mean_tps:.2f} tok/s" if p else f"{t}: no baseline" for t, p in zip(targets, picks)],
            [_errors(p) for p in picks],
            page.GREY,
        )
    ]
    for cat in cats:
        picks = [best.get((t, cat)) for t in targets]
        throughput.append(
            _bar(
                "best setup with no draft model" if cat == NO_DRAFT_MODEL else f"best {cat} draft",
                targets,
                [p and p.mean_tps for p in picks],
                [page.fmt(p and p.mean_tps, ".1f") for p in picks],
                [
                    f"{t} + {p.draft}: {p.mean_tps:.2f} tok/s ({stats.pct(p.speedup)})" if p else ""
                    for t, p in zip(targets, picks)
                ],
                [_errors(p) for p in picks],
            )
        )
    speedup = []
    for t in targets:
        picks = [best.get((t, c)) for c in cats]
        speedup.append(
            _bar(
                t,
                cats,
                [p and page.pct_value(p.speedup) for p in picks],
                [stats.pct(p.speedup) if p else "" for p in picks],
                [f"{t} + {p.draft}: {recommend.speedup_text(p)}" if p else "" for p in picks],
                [page.speedup_errors(p) for p in picks],
            )
        )
    return throughput, speedup


def _hover(r: RunResult) -> str:
    acc = f"{r.acceptance_rate:.0%}" if r.acceptance_rate is not None else "n/a"
    stop = f"<br>stopped early after {r.n_requests} requests: {r.pruned_reason}" if r.pruned else ""
    stop += f"<br>DEGENERATE OUTPUT: {r.degenerate_output}" if r.degenerate_output else ""
    spec = "" if r.speculation_active is not False else " (speculation NOT active)"
    model = f"<br>model: {stats.pct(r.parts.predicted_speedup)}, {r.parts.verdict}" if r.parts else ""
    method = f" ({r.speculation.method})" if r.speculation and r.speculation.method else ""
    return (
        f"{r.target} + {r.draft}{method}<br>speedup {recommend.speedup_text(r)}<br>{r.mean_tps:.2f} tok/s"
        f"<br>acceptance {acc}{spec}{model}{stop}"
    )


def _heatmap(runs: list[RunResult], targets: list[str], drafts: list[str]) -> dict[str, Any]:
    """Speedup of every setup (rows) on every target (columns); a stopped setup's value in parentheses."""
    cell = {(r.target, r.draft): r for r in runs if r.draft is not None}
    z, hover, text = [], [], []
    for d in drafts:
        found = [cell.get((t, d)) for t in targets]
        ok = [r is not None and r.error is None and r.speedup is not None and r.mean_tps is not None for r in found]
        z.append([page.pct_value(r.speedup) if good and r else None for r, good in zip(found, ok)])
        hover.append(
            [
                _hover(r)
                if good and r
                else f"{t} + {d}: "
                + (
                    "not run"
                    if r is None
                    else r.error
                    or (f"not measured: {r.pruned_reason}" if r.pruned_as == "predicted" else "no baseline to compare with")
                )
                for t, r, good in zip(targets, found, ok)
            ]
        )
        text.append(
            [
                "" if not good or not r else f"({stats.pct(r.speedup)})" if r.pruned else stats.pct(r.speedup)
                for r, good in zip(found, ok)
            ]
        )
    free = model_free_labels(runs)
    return page.heatmap(
        targets,
        [f"{d} [{NO_DRAFT_MODEL}]" if d in free else d for d in drafts],
        z,
        hover,
        text if len(drafts) * len(targets) <= MAX_LABELLED_CELLS else None,
    )


def _category_heatmap(runs: list[RunResult]) -> dict[str, Any] | None:
    """Speedup (%) per task category (columns) of each setup (rows), for runs of one level; None without any."""
    shown = [
        r
        for r in runs
        if r.draft is not None
        and r.error is None
        and not r.pruned
        and any(v.speedup is not None for v in (r.categories or {}).values())
    ]
    cats = categories.names(shown)
    if not shown or not cats:
        return None
    several = len({r.target for r in shown}) > 1
    rows = [f"{r.target}: {r.draft}" if several else str(r.draft) for r in shown]
    values = [[(r.categories or {}).get(c) for c in cats] for r in shown]
    return page.heatmap(
        cats,
        rows,
        [[page.pct_value(v.speedup if v else None) for v in row] for row in values],
        [
            [
                f"{row}, {c}: "
                + (
                    "not measured"
                    if v is None or v.speedup is None
                    else f"{stats.pct(v.speedup)}, "
                    f"{v.n_requests} requests, acceptance {page.fmt(v.acceptance_rate, '.0%', 'n/a')}"
                )
                for c, v in zip(cats, vals)
            ]
            for row, vals in zip(rows, values)
        ],
        [["" if v is None or v.speedup is None else stats.pct(v.speedup) for v in row] for row in values],
    )


def model_free_labels(runs: list[RunResult]) -> set[str]:
    return {r.draft for r in runs if r.draft is not None and grouping.run_category(r) == NO_DRAFT_MODEL}


def heatmap_rows(runs: list[RunResult]) -> list[str]:
    """Setups in run order, the model-free ones last as their own group."""
    labels = list(dict.fromkeys(r.draft for r in runs if r.draft is not None))
    free = model_free_labels(runs)
    return [d for d in labels if d not in free] + [d for d in labels if d in free]


def _interval_cell(r: RunResult) -> str:
    """The 95% CI column: the interval with its n and design, as the console writes it."""
    ratio = r.speedup_ratio()
    return stats.interval_text(ratio, label="") if ratio else ""


def _recommendation_rows(recs: tuple[recommend.Recommendation, ...]) -> str:
    """One row per target and level; above one stream, tok/s and speedup are aggregate throughput's."""
    rows = []
    for rec in recs:
        b, many = rec.best, rec.level.streams > 1

        def tps(r: RunResult) -> str:
            return page.fmt(r.aggregate_tps if many else r.mean_tps, ".2f")  # noqa: B023 (called in this iteration)

        cells = [rec.where, tps(rec.baseline) if rec.baseline else "no baseline"]
        if b is None:
            cells += ["none", "", "", "", "", "", "", "", "", ""]
        else:
            gain = grouping.gain(b)
            ci = _interval_cell(b) if not many else ""
            mem = recommend.memory_text(b) or page.fmt(b.peak_vram_mib or b.peak_rss_mib, ".0f")
            notes = (
                ["skip speculation"]
                if (gain or 0) <= 1
                else [f"NOT RECOMMENDED: {rec.withheld()}"]
                if rec.withheld()
                else rec.notes()
            )
            if rec.caution():  # the fix is in the box above the table
                notes.insert(0, f"WARNING: {rec.caution()}: see Output warnings above")
            if rec.machine():
                notes.insert(0, f"WARNING: {rec.machine()}")
            cells += [
                b.draft or "",
                (b.speculation.method or "") if b.speculation else "",
                tps(b),
                stats.pct(gain),
                ci,
                page.fmt(b.acceptance_rate, ".0%"),
                page.fmt(b.mean_accepted_length, ".2f"),
                mem,
                "; ".join(notes),
                recommend.copy_text(b) if rec.use() is not None else "",
            ]
        rows.append("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows)


def _category_section(lines: tuple[str, ...], data: dict[str, Any]) -> str:
    if not data.get("categories"):
        return ""
    items = (
        "".join(f"<li>{html_text(line)}</li>" for line in lines)
        or "<li>The overall best is also the best in every category.</li>"
    )
    return (
        '<h2>By kind of task</h2>\n<p class="note">Speedup per prompt category (one stream), each against the '
        "baseline on the same prompts, request by request. Few requests per category give wide intervals: hover "
        "a cell for its count.</p>\n"
        f'<ul id="by-task">{items}</ul>\n<div id="categories" class="chart"></div>'
    )


def _output_warnings(meta: FileMeta, runs: tuple[RunResult, ...]) -> str:
    """The box at the top of the page: targets without a chat template, every run measured on degenerate
    output, and what to do."""
    bad = [r for r in runs if r.degenerate_output]
    told = [w for w in meta.warnings if isinstance(w, str)]
    if not bad and not told:
        return ""
    items = "".join(f"<li>{html_text(w)}</li>" for w in told) + "".join(
        f"<li>{html_text(r.where)} + {html_text(r.draft or 'baseline')}: {html_text(r.degenerate_output)}</li>" for r in bad
    )
    return (
        f'<div class="warning" id="output-warnings"><strong>Output warnings</strong>: a speedup measured on text no '
        f"user wants (an echo of the prompt, template markers, a loop) describes nothing, and an n-gram draft "
        f"predicts such text perfectly. "
        f"{html_text(health.FIX[0].upper() + health.FIX[1:])}.<ul>{items}</ul></div>"
    )


def _excluded_rows(excluded: tuple[tuple[RunResult, str], ...]) -> str:
    return "\n".join(
        f"<tr><td>{html_text(r.target)}</td><td>{html_text(r.draft or 'baseline')}"
        f"{html_text(f' @ {r.level.text()}') if r.level.text() else ''}</td>"
        f"<td>{html_text(why)}</td></tr>"
        for r, why in excluded
    )


def _meta_rows(meta: FileMeta) -> str:
    items = [
        ("Hardware", meta.hardware),
        ("Backend", meta.backend),
        ("Model family", meta.model_family),
        ("Server", meta.server_version),
        ("Date", meta.timestamp),
        ("draftbench", meta.draftbench_version),
        ("Shard", f"{meta.shard.name} of the plan: a part; merge the shards with --merge" if meta.shard else None),
        ("Merged from", ", ".join(f"shard {s.index} on {s.host or '?'}" for s in meta.shards) or None),
        ("Settings", ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in meta.settings.items() if k != "llama_bin")),
    ]
    return "\n".join(f"<tr><th>{html_text(k)}</th><td>{html_text(v)}</td></tr>" for k, v in items if v)


def render(meta: FileMeta, ev: Evaluation) -> str:
    """The page of one evaluation (:func:`evaluate.evaluate`): it computes no figure of its own."""
    all_runs = list(ev.runs)
    data = chart_data(all_runs, ev.crossovers, ev)
    runs = grouping.at_level(all_runs)
    excluded = _excluded_rows(ev.excluded)
    return _TEMPLATE.format(
        title=html_text(f"draftbench: {meta.title('results')}"),
        plotly_url=PLOTLY_URL,
        plotly_sri=PLOTLY_SRI,
        data=embed_json(data),
        meta=_meta_rows(meta),
        recs=_recommendation_rows(ev.recommendations),
        answer=answer_view.section(ev),
        turns=turns_view.section(all_runs, ev.workload) + traffic_view.section(all_runs, dict(ev.settings.slo), ev.rate_lines),
        memory=memory_view.table(all_runs),
        memory_chart=('<h2>Speedup against extra memory</h2>\n<div id="memory" class="chart"></div>' if data["memory"] else ""),
        warnings=_output_warnings(meta, ev.runs),
        levels=levels_view.section(all_runs, ev.level_lines),
        depth=depth_view.section(all_runs, ev.crossovers, ev.recommendations),
        outputs=outputs_view.section(all_runs),
        machine=machine_view.section(all_runs, ev.check_points, ev.settings.resolution),
        fleet=fleet_view.section(meta, all_runs, ev.nodes, ev.settings.resolution),
        by_task=_category_section(ev.category_lines, data),
        excluded=(
            f"<h2>Not recommended</h2><table><tr><th>Target</th><th>Draft</th><th>Why</th></tr>{excluded}</table>"
            if excluded
            else ""
        ),
        n_runs=len(all_runs),
        search=search_view.section(runs, ev.savings),
        draft_length=lengths_view.section(ev.length_curves) if data["draft_length"] else "",
        why=(
            f'<h2>Why: the cost model</h2>\n<p class="note">{WHY_NOTE}</p>\n<div id="why" class="chart"></div>\n'
            f"{costmodel_view.table(runs)}"
            if data["why"]
            else ""
        ),
    )


def write_report(path: str, meta: FileMeta, ev: Evaluation) -> str:
    write_text_atomic(path, render(meta, ev), "--chart")
    return path


_TEMPLATE = page.template("sweep.html")
