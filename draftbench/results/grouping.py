"""Which runs belong together: levels (concurrency, temperature), baselines, a draft's runs at several lengths, size
categories of the charts, and which runs may be recommended. Pure: runs in, runs or labels out."""

from __future__ import annotations

import re
from typing import Iterable

from ..core import stats
from ..setup.levels import Level
from ..setup.speculation import NO_DRAFT_MODEL, Setup
from .schema import RunResult

_SIZE_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([KMBT])(?![a-zA-Z])", re.IGNORECASE)
_UNIT = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
OTHER = "other"


def size_category(label: str | None, explicit: str | None = None) -> str:
    """'0.5B', '135M', ... taken from ``explicit`` or parsed from the label; else 'other'."""
    if explicit:
        return explicit.strip()
    m = _SIZE_RE.search(label or "")
    if not m:
        return OTHER
    number = m.group(1).rstrip("0").rstrip(".") if "." in m.group(1) else m.group(1)
    return f"{number}{m.group(2).upper()}"


def setup_category(setup: Setup) -> str | None:
    """The chart category of a setup: its draft's size, 'no draft model' for model-free speculation,
    None for the baseline."""
    if setup.is_baseline:
        return None
    if not setup.speculation.draft_path:
        return NO_DRAFT_MODEL
    return size_category(setup.label, setup.size)


def run_category(r: RunResult) -> str:
    """A run's chart category, for files of every version."""
    if r.draft_size:
        return r.draft_size
    if r.speculation is not None and not r.speculation.draft_path:
        return NO_DRAFT_MODEL
    return size_category(r.draft)


def size_sort_key(category: str) -> tuple[int, float, str]:
    """Parameter counts in size order, then other sizes by their leading number ('2 layers'), then 'other'."""
    m = _SIZE_RE.fullmatch(category)
    if m:
        return (0, float(m.group(1)) * _UNIT[m.group(2).upper()], category)
    lead = re.match(r"\d+(?:\.\d+)?", category)
    if lead:
        return (1, float(lead.group(0)), category)
    return (3 if category == NO_DRAFT_MODEL else 2, 0.0, category)


def levels(runs: Iterable[RunResult]) -> list[Level]:
    """The levels measured, lowest first (fewest streams, then lowest temperature)."""
    return sorted({r.level for r in runs}, key=lambda lv: lv.sort_key) or [Level()]


def at_level(runs: list[RunResult], level: Level | None = None) -> list[RunResult]:
    """The runs of one level (default: the lowest): the single-level views of the report."""
    level = levels(runs)[0] if level is None else level
    return [r for r in runs if r.level == level]


def baselines(runs: Iterable[RunResult]) -> dict[str, RunResult]:
    """Target -> its baseline, for the runs of one level (a merged fleet's: the first shard's)."""
    out: dict[str, RunResult] = {}
    for r in runs:
        if r.draft is None and r.error is None and r.mean_tps:
            out.setdefault(r.target, r)
    return out


def baseline_of(run: RunResult, runs: Iterable[RunResult]) -> RunResult | None:
    """``run``'s own baseline: its target, level and shard."""
    return next((r for r in runs if r.key == run.baseline_key and r.error is None and r.mean_tps), None)


def length_key(r: RunResult) -> tuple:
    """What the runs of one draft at several draft lengths share (``RunResult.length_key``)."""
    return r.length_key


def same_draft(run: RunResult, runs: Iterable[RunResult]) -> list[RunResult]:
    """``run`` and the runs of its target and level whose setup differs from its own only in draft length."""
    mine = length_key(run)
    return [run] + [r for r in runs if r is not run and r.draft != run.draft and r.error is None and length_key(r) == mine]


def gain(r: RunResult) -> float | None:
    """What a setup is ranked by: goodput over the baseline's at a request rate; decode speedup for one stream (the
    turn latency's, for a replayed conversation workload: what a user waits for); aggregate throughput speedup for
    several."""
    if r.traffic is not None and r.traffic.goodput_ratio is not None:  # at a request rate: what a server delivers
        return r.traffic.goodput_ratio
    if r.concurrency > 1:
        return r.aggregate_speedup or r.speedup
    return r.turns.overall.latency_speedup if r.turns is not None and r.turns.overall.latency_speedup else r.speedup


def ranked_ratio(r: RunResult) -> stats.Ratio | None:
    """``gain`` with its interval: goodput's at a request rate, else the turn latency's speedup (a conversation
    workload), else the decode speedup."""
    served = r.traffic.ratio() if r.traffic is not None else None
    if served is not None:
        return served
    wait = r.turns.overall.latency_ratio() if r.turns is not None else None
    return wait if wait is not None else r.speedup_ratio()


def eligible(r: RunResult) -> bool:
    """Can this run be recommended? Drafted, no error, speculation not known to be off, not stopped early
    by the adaptive search (a tie is never a win), its output distribution not found changed."""
    return (
        r.draft is not None
        and r.error is None
        and r.mean_tps is not None
        and r.speedup is not None
        and r.speculation_active is not False
        and not r.pruned
        and not (r.distribution_check is not None and r.distribution_check.flagged)
    )


def excluded(runs: Iterable[RunResult]) -> list[tuple[RunResult, str]]:
    """Runs that are never recommended, with why."""
    out = []
    for r in runs:
        if r.error is not None:
            out.append((r, f"error: {r.error}"))
        elif r.draft is not None and r.speculation_active is False:
            out.append((r, "speculation was not active (draft tokens never proposed)"))
        elif r.distribution_check is not None and r.distribution_check.flagged:
            out.append((r, r.distribution_check.text()))
    return out
