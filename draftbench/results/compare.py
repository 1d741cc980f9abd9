"""Several results files side by side (the original tool's included): the best setup of each (hardware,
target), whether slower targets gain more, and a "choosing a draft" table derived from the data. Pure:
loaded files in, rows and figures out."""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from typing import Any

from ..core import stats
from ..errors import DraftbenchError
from . import comparison, drift, evaluate
from .grouping import levels, run_category
from .schema import FileMeta, RunResult

Loaded = tuple[str, FileMeta, "evaluate.Evaluation"]  # a file's path, its metadata and its evaluation

MIN_PER_BUCKET = 3  # fewer targets than this in a speed bucket: the table says so instead of guessing


@dataclass
class Entry:
    """One (hardware, target) of one file: its baseline and best setup (one stream)."""

    hardware: str
    target: str
    source: str
    baseline_tps: float | None
    baseline_ci: list[float] | None
    best: RunResult | None
    category: str | None  # the best setup's draft size category
    disagrees: str = ""  # set when the same (hardware, target) in another file disagrees beyond the intervals
    baseline: RunResult | None = None

    @property
    def speedup(self) -> float | None:
        return self.best.speedup if self.best else None


def expand(paths: list[str]) -> list[str]:
    """Files, globs and folders (their *.json) -> files, in order, without repeats."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(glob.glob(os.path.join(p, "*.json")))
        elif any(ch in p for ch in "*?["):
            out += sorted(glob.glob(p))
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def load(paths: list[str]) -> tuple[list[Loaded], list[tuple[str, str]]]:
    """(path, metadata, evaluation) of every readable file and (path, why) of the others."""
    good, bad = [], []
    for path in expand(paths):
        try:
            good.append((path, *evaluate.load(path)))
        except DraftbenchError as exc:
            bad.append((path, str(exc).splitlines()[0]))
    return _without_merged_shards(good), bad


def _without_merged_shards(files: list[Loaded]) -> list[Loaded]:
    """A fleet's folder holds its shards' files and their merge: the shards are left out where their merged file
    is given too (else each target would count once per shard and once more)."""
    merged = {(s.config_hash, s.plan_hash) for _, meta, _ in files for s in meta.shards or []}
    return [f for f in files if f[1].shard is None or (f[1].shard.config_hash, f[1].shard.plan_hash) not in merged]


def entries(files: list[Loaded]) -> list[Entry]:
    out = []
    for path, meta, evaluation in files:
        hardware = str(meta.hardware or os.path.splitext(os.path.basename(path))[0])
        lowest = levels(evaluation.runs)[0]
        for rec in (r for r in evaluation.recommendations if r.level == lowest):
            best = rec.best if rec.best is not None and (rec.best.speedup or 0) > 0 and not rec.withheld() else None
            base = rec.baseline
            out.append(
                Entry(
                    hardware,
                    rec.target,
                    path,
                    base.mean_tps if base else None,
                    base.decode_tps_ci95 if base else None,
                    best,
                    run_category(best) if best else None,
                    baseline=base,
                )
            )
    _flag_disagreements(out)
    return out


def _speedups_differ(a: Entry, b: Entry) -> list[str]:
    """Do the two best speedups differ? Paired on the prompts both files measured (their best setups' per-prompt
    speedups over their own baselines), else by whether their intervals overlap (unpaired)."""
    if a.best and b.best and a.baseline and b.baseline:
        ratio = comparison.versus_speedup(
            (drift.corrected(a.best, drift.of(a.baseline)), a.baseline),
            (drift.corrected(b.best, drift.of(b.baseline)), b.baseline),
        )
        if ratio is not None:
            return [] if ratio.includes(1.0) else [f"best speedups differ, paired on the same prompts: {stats.ratio_text(ratio)}"]
    if a.best and b.best and stats.apart(a.best.speedup_ci95, b.best.speedup_ci95):
        return ["best-speedup intervals do not overlap (unpaired)"]
    return []


def _flag_disagreements(rows: list[Entry]) -> None:
    """Same (hardware, target) measured twice: flag both when baseline or best speedup intervals do not overlap."""
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            if (a.hardware, a.target) != (b.hardware, b.target):
                continue
            why = []
            if stats.apart(a.baseline_ci, b.baseline_ci):
                why.append("baseline tok/s intervals do not overlap")
            if a.best and b.best:
                why += _speedups_differ(a, b)
            if why:
                note = "; ".join(why)
                a.disagrees = f"{note} ({os.path.basename(b.source)})"
                b.disagrees = f"{note} ({os.path.basename(a.source)})"


def trend(rows: list[Entry]) -> tuple[float, float] | None:
    """Least-squares line of best speedup (%) against log10(baseline tok/s): (slope, intercept)."""
    pts = [
        (math.log10(e.baseline_tps), stats.percent(e.speedup))
        for e in rows
        if e.baseline_tps and e.baseline_tps > 0 and e.speedup is not None
    ]
    if len(pts) < 3 or len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return slope, my - slope * mx


@dataclass(frozen=True)
class Bucket:
    low: float  # baseline tok/s, inclusive
    high: float  # exclusive (inf for the last)
    targets: int
    pick: str | None  # the draft size best most often (None: too few targets)
    wins: int
    gains: tuple[float, float] | None  # min and max speedup of that pick where it won

    def speed(self) -> str:
        if self.low <= 0 and math.isinf(self.high):
            return "any speed"
        if math.isinf(self.high):
            return f">= {self.low:.1f} tok/s"
        if self.low <= 0:
            return f"< {self.high:.1f} tok/s"
        return f"{self.low:.1f}-{self.high:.1f} tok/s"


def choosing_table(rows: list[Entry]) -> list[Bucket]:
    """Targets bucketed by baseline tok/s at the data's own quantiles (tertiles with 9+ targets, halves
    with 4+, one bucket below that); per bucket the draft size that won most often and its gains."""
    usable = sorted((e for e in rows if e.baseline_tps and e.best is not None), key=lambda e: e.baseline_tps or 0)
    if not usable:
        return []
    n = len(usable)
    parts = 3 if n >= 3 * MIN_PER_BUCKET else 2 if n >= 2 * MIN_PER_BUCKET - 2 else 1
    speeds = [e.baseline_tps or 0.0 for e in usable]
    cuts = [stats.percentile(speeds, 100 * k / parts) or 0.0 for k in range(1, parts)]
    edges = [0.0, *cuts, math.inf]
    out = []
    for low, high in zip(edges, edges[1:]):
        mine = [e for e in usable if low <= (e.baseline_tps or 0) < high]
        if not mine:
            continue
        wins: dict[str, list[float]] = {}
        for e in mine:
            if (e.speedup or 0) > 1:
                wins.setdefault(e.category or "?", []).append(e.speedup or 0)
            else:
                wins.setdefault("no draft", []).append(e.speedup or 0)
        if len(mine) < MIN_PER_BUCKET:
            out.append(Bucket(low, high, len(mine), None, 0, None))
            continue
        most = max(len(g) for g in wins.values())
        tops = [c for c, g in wins.items() if len(g) == most]
        gains = [v for c in tops for v in wins[c]]
        out.append(Bucket(low, high, len(mine), " or ".join(tops), most, (min(gains), max(gains))))
    return out


def bucket_line(b: Bucket) -> str:
    if b.pick is None:
        return f"{b.speed()}: {b.targets} target(s), too few to say (need {MIN_PER_BUCKET})"
    if b.pick == "no draft":
        return f"{b.speed()}: no draft (best in {b.wins} of {b.targets} targets)"
    lo, hi = b.gains or (1.0, 1.0)
    gains = stats.pct(lo) if round(lo, 2) == round(hi, 2) else f"{stats.pct(lo)} to {stats.pct(hi)}"
    each = " each" if " or " in b.pick else ""
    what = b.pick if "no draft" in b.pick else f"{b.pick} draft"
    return f"{b.speed()}: {what}, {gains} (best in {b.wins}{each} of {b.targets} targets)"


def table_rows(rows: list[Entry]) -> list[dict[str, Any]]:
    return [
        {
            "hardware": e.hardware,
            "target": e.target,
            "baseline_tps": e.baseline_tps,
            "best": e.best.draft if e.best else None,
            "speedup": e.speedup,
            "acceptance_rate": e.best.acceptance_rate if e.best else None,
            "category": e.category,
            "file": os.path.basename(e.source),
            "disagrees": e.disagrees,
        }
        for e in rows
    ]
