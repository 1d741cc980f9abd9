"""The answer per target and level (concurrency, temperature): the best eligible setup, the runner-up and the margin between
them (paired), ties and early stops, and the answer in words, with what a reader must know (degenerate output, a
drifting or busy machine). Pure: evaluated runs in, recommendations out."""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core import health, stats
from ..core import load as machine_load
from ..core.stats import pct
from ..setup.levels import Level, varying, where
from . import categories, comparison, conversations, drift, traffic
from .grouping import at_level, baseline_of, baselines, eligible, gain, levels, ranked_ratio
from .schema import RunResult


def speedup_text(run: RunResult) -> str:
    """'+89% (95% CI +39% .. +168%, 4 paired requests)': the one way a speedup is written everywhere."""
    ratio = run.speedup_ratio()
    return stats.ratio_text(ratio) if ratio else "n/a"


def _overlap(a: RunResult, b: RunResult) -> bool | None:
    if not a.decode_tps_ci95 or not b.decode_tps_ci95:
        return None
    return a.decode_tps_ci95[0] <= b.decode_tps_ci95[1] and b.decode_tps_ci95[0] <= a.decode_tps_ci95[1]


def by_task(run: RunResult) -> str | None:
    """'by task +60% (json) .. +131% (code)' when the run's per-category speedups differ by more than their
    own intervals (the slowest category's interval lies wholly below the fastest's); else None."""
    cats = [(c, v) for c, v in (run.categories or {}).items() if v.speedup and v.speedup_ci95]
    if len(cats) < 2:
        return None
    low = min(cats, key=lambda cv: cv[1].speedup or 0.0)
    high = max(cats, key=lambda cv: cv[1].speedup or 0.0)
    # next line's type: ignore: checked in the same expression or by the caller
    if low[1].speedup_ci95[1] >= high[1].speedup_ci95[0]:  # type: ignore[index]
        return None
    return f"by task {pct(low[1].speedup)} ({low[0]}) .. {pct(high[1].speedup)} ({high[0]})"


@dataclass
class Recommendation:
    target: str
    baseline: RunResult | None
    best: RunResult | None
    runner_up: RunResult | None
    within_noise: bool | None
    tied: list[RunResult] = field(default_factory=list)  # stopped early by the adaptive search as tied with best
    stopped_slower: int = 0  # setups the adaptive search stopped as clearly slower (than the baseline or a leader)
    level: Level = Level()
    margin: stats.Ratio | None = None  # best over runner-up, request by request (None: no pairs)
    drift: drift.Drift | None = None  # the baseline's drift over the sweep (None: never checked)
    resolution: float = 0.05  # drift beyond this (and beyond noise) is worth a warning
    over_budget: list[RunResult] = field(default_factory=list)  # faster than the baseline, but over the memory budget
    budget_mib: float | None = None

    def budget_text(self) -> str:
        """'' or which setups faster than the baseline the memory budget left out, each with what it needs."""
        if not self.over_budget or self.budget_mib is None:
            return ""
        named = ", ".join(f"{r.draft} ({pct(gain(r))}, needs {memory_text(r)})" for r in self.over_budget)
        return f"not recommended for memory: {named}, over the budget of {self.budget_mib:,.0f} MiB"

    def caution(self) -> str:
        """'' or why the outputs this recommendation was measured on are not text a user wants (the baseline's
        or the best's), or may not be (a target without a chat template behind the chat endpoint)."""
        for r in (self.baseline, self.best):
            if r is not None and r.degenerate_output:
                return f"measured on degenerate output ({r.draft or 'baseline'}: {r.degenerate_output})"
        if self.baseline is not None and any("has no chat template" in w for w in self.baseline.warnings):
            return "measured through a fallback chat template (the target's GGUF has none, so llama-server used ChatML)"
        return ""

    def warning(self) -> str:
        """'' or the caution with how to fix it: what every such recommendation carries."""
        caution = self.caution()
        return f"{caution}: {health.FIX}" if caution and not self.withheld() else ""

    def use(self) -> RunResult | None:
        """The setup to use: the fastest, where it beats the baseline and nothing withholds it; else None."""
        b = self.best
        return b if b is not None and (gain(b) or 0) > 1.0 and not self.withheld() else None

    def withheld(self) -> str:
        """'' or why the fastest setup, faster than the baseline as measured, is not recommended: its outputs (or
        the baseline's) are degenerate, or its paired interval against the baseline includes no gain (a tie with
        no speculation is never a win). Files without per-request data have no interval and are not withheld."""
        b = self.best
        if b is None or (gain(b) or 0) <= 1.0:
            return ""
        bad = next((r for r in (self.baseline, b) if r is not None and r.degenerate_output), None)
        if bad is not None:
            return (
                f"the outputs are degenerate ({bad.draft or 'baseline'}: {bad.degenerate_output}): "
                "fix the template or use the completion endpoint"
            )
        ratio = ranked_ratio(b)
        if ratio is not None and ties_baseline(b):
            said = traffic.traffic_text(b) or (
                f"turn latency {stats.ratio_text(ratio)}" if b.turns is not None else speedup_text(b)
            )
            return f"{b.draft} is not separated from no speculation on this data ({said}): {_more_requests(ratio)}"
        return ""

    def machine(self) -> str:
        """'' or what the machine did meanwhile that a reader must know: the baseline drifted beyond the
        resolution, or other processes were busy while the baseline or the best setup ran."""
        notes = [self.drift.sentence()] if self.drift is not None and self.drift.exceeds(self.resolution) else []
        busy = [
            r.draft or "baseline"
            for r in (self.baseline, self.best)
            if r is not None and machine_load.warning(r.other_cpu_share, r.other_cpu_share_before, r.gpu_busy_before_pct)
        ]
        if busy:
            notes.append(
                f"busy machine while measuring {', '.join(busy)} (other processes used a large share of it): "
                "rerun on a quieter machine to confirm"
            )
        return "; ".join(notes)

    def notes(self) -> list[str]:
        """What a table says beside the best setup: its spread by task (one stream), its margin, its ties."""
        task = by_task(self.best) if self.best is not None and self.level.streams <= 1 else None
        tied = "tied with " + ", ".join(str(r.draft) for r in self.tied) if self.tied else None
        return [n for n in (task, self.margin_text(), tied) if n]

    def margin_text(self) -> str:
        """'within noise of X (...)' or 'ahead of X by +7% (...)', or '' without a runner-up."""
        r = self.runner_up
        if r is None:
            return ""
        if self.margin is None:
            return f"within noise of {r.draft} ({pct(gain(r))}; unpaired intervals overlap)" if self.within_noise else ""
        if self.within_noise:
            return (
                f"within noise of {r.draft} ({pct(gain(r))}): {stats.ratio_text(self.margin)} over it, "
                "rerun with more requests to separate them"
            )
        return f"ahead of {r.draft} ({pct(gain(r))}) by {stats.ratio_text(self.margin)}"

    def sentence(self) -> str:
        text, budget = self._sentence(), self.budget_text()
        text += f"; {budget}" if budget else ""
        fixes = self.fixes_text()
        text += f"; {fixes}" if fixes else ""
        for warning in (self.warning(), self.machine()):
            text += f"; WARNING: {warning}" if warning else ""
        return text

    def fixes_text(self) -> str:
        """'' or what the answer was measured with beyond its setup (``server_fixes``: ``--no-repack``)."""
        ran = self.use() or self.baseline
        if ran is None or not ran.server_fixes:
            return ""
        return (
            f"measured with {' '.join(ran.server_fixes)} (its server crashed at start-up without it): start your "
            "llama-server with it too"
        )

    def _sentence(self) -> str:
        if self.baseline is not None and self.withheld():
            return f"{self.where}: no recommendation: {self.withheld()}; until then, skip speculative decoding"
        if self.level.streams > 1 and self.level.request_rate is None:  # at a rate: goodput, said below
            return self._level_sentence()
        where = self.where
        if self.baseline is None:
            return f"{where}: no baseline measured, so no speedup can be computed"
        if self.best is None and self.stopped_slower:
            return (
                f"{where}: no speculation setup beats the baseline ({self.baseline.mean_tps:.2f} tok/s): "
                f"{self.stopped_slower} stopped early as clearly slower; skip speculative decoding"
            )
        if self.best is None and self.over_budget:
            return f"{where}: no faster setup fits the memory budget; skip speculative decoding"
        if self.best is None:
            return f"{where}: no setup ran with speculation active; nothing to recommend"
        b = self.best
        said = traffic.traffic_text(b) or conversations.turns_text(b) or speedup_text(b)
        if (gain(b) or 0) <= 1.0:
            return (
                f"{where}: no speculation setup beats the baseline ({self.baseline.mean_tps:.2f} tok/s); "
                f"best was {b.draft} at {said}: skip speculative decoding"
            )
        text = f"{where}: use {b.draft}, {b.mean_tps:.2f} tok/s, {said} vs baseline"
        if b.acceptance_rate is not None:
            text += f", acceptance {b.acceptance_rate:.0%}"
        if b.extra_memory_mib is not None:
            text += f", {stats.mib(b.extra_memory_mib)} MiB of memory"
        task = by_task(b)
        if task:
            text += f"; {task}"
        if self.tied:
            text += f"; tied with it within the search's resolution: {', '.join(str(r.draft) for r in self.tied)}"
        margin = self.margin_text()
        if margin:
            text += f"; {margin}"
        used = b.speculation.draft_max if b.speculation else None
        if b.parts and used and b.parts.predicted_best_draft_max and b.parts.predicted_best_draft_max != used:
            text += f"; the cost model predicts n_max {b.parts.predicted_best_draft_max} would be faster"
        copy = to_copy(b)
        return text + (f"; {copy}" if copy else "")

    @property
    def where(self) -> str:
        """'T' or 'T @ 4 streams, temperature 0.8'."""
        return where(self.target, self.level)

    def _level_sentence(self) -> str:
        where = self.where
        if self.baseline is None:
            return f"{where}: no baseline at this level, so no speedup"
        agg = f"{self.baseline.aggregate_tps:.1f}" if self.baseline.aggregate_tps else "?"
        b = self.best
        if b is None or (gain(b) or 0) <= 1.0:
            best = f"; best was {b.draft} at {pct(gain(b))}" if b is not None else ""
            return f"{where}: no setup beats the baseline ({agg} tok/s aggregate){best}: no draft"
        margin = self.margin_text()
        return (
            f"{where}: use {b.draft}, {b.aggregate_tps or 0:.1f} tok/s aggregate, {pct(gain(b))} vs {agg} "
            f"without a draft; per stream {b.mean_tps or 0:.1f} tok/s"
            + (f", acceptance {b.acceptance_rate:.0%}" if b.acceptance_rate is not None else "")
            + (f"; per stream {margin}" if margin else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """The answer as a results file says it: where, the setup to use (None: none, or withheld, and why) with
        its speedup, and the sentence every reader prints."""
        use, b = self.use(), self.best
        return {
            "target": self.target,
            **asdict(self.level),
            "use": use.draft if use is not None else None,
            "speedup": gain(use) if use is not None else None,
            "speedup_ci95": use.speedup_ci95 if use is not None else None,
            "speedup_n": use.speedup_n if use is not None else None,
            "best_measured": b.draft if b is not None else None,
            "withheld": self.withheld() or None,
            "flags": use.flags if use is not None else None,
            "command": serve_command(use) if use is not None else None,
            "extra_memory_mib": use.extra_memory_mib if use is not None else None,
            "over_budget": [r.draft for r in self.over_budget] or None,
            "sentence": self.sentence(),
        }

    def short(self) -> str:
        """'1-layer +48%' or 'no draft': for the line across levels."""
        b = self.use()
        return f"{b.draft} {pct(gain(b))}" if b is not None else "no draft"


def _more_requests(ratio: stats.Ratio) -> str:
    """How many more paired requests would separate a gain of this size from none, from the spread observed."""
    assert ratio.ci95 is not None
    if not (ratio.value > 0 and math.isfinite(ratio.log_half)):
        return "more paired requests would tell"
    n, gain_log = max(ratio.n, 2), math.log(ratio.value)
    sd = ratio.log_half * math.sqrt(n) / stats.t_quantile_975(n - 1)
    needed = n
    while needed < 100_000 and stats.t_quantile_975(needed - 1) * sd / math.sqrt(needed) >= gain_log:
        needed = math.ceil(needed * 1.25)
    if needed <= n:  # an interval that touches no gain without spreading past it (a bootstrap's, on few requests)
        return "more paired requests would tell"
    return (
        f"about {needed - n} more paired requests would tell, from the spread observed"
        if needed < 100_000
        else "no number of requests would separate a gain this small from the spread observed"
    )


def category_lines(runs: list[RunResult], recs: list["Recommendation"]) -> list[str]:
    """Per target (one stream): categories whose best setup differs from the overall recommendation."""
    out = []
    for rec in recs:
        if rec.level == levels(runs)[0]:
            mine = [drift.corrected(r, rec.drift) for r in at_level(runs, rec.level) if r.target == rec.target and eligible(r)]
            out += categories.lines(rec.target, mine, rec.use())
    return out


def by_level(recs: list["Recommendation"]) -> list[str]:
    """One line per target measured at several levels, when the best differs between them:
    '1 stream: 1-layer +48%; 4 streams: no draft'."""
    out = []
    for target in dict.fromkeys(r.target for r in recs):
        mine = sorted((r for r in recs if r.target == target), key=lambda r: r.level.sort_key)
        picks = {r.use().draft if r.use() is not None else None for r in mine}  # type: ignore[union-attr]  # checked
        if len(mine) > 1 and len(picks) > 1:
            shown = varying([r.level for r in mine])
            out.append(f"{target}: " + "; ".join(f"{r.level.text(shown)}: {r.short()}" for r in mine))
    return out


def recommend(
    runs: list[RunResult], resolution: float = 0.05, budget_mib: float | None = None, slo: dict[str, float] | None = None
) -> list[Recommendation]:
    """Per target and level: the best eligible setup within the memory budget, the runner-up, ties (of runs whose
    speedups are set: measured by a sweep, or read with :func:`load`); drift beyond ``resolution`` is said."""
    out = []
    for target in dict.fromkeys(r.target for r in runs):
        for level in levels([r for r in runs if r.target == target]):
            out.append(_recommend(target, at_level(runs, level), level, resolution, budget_mib, slo or {}))
    return out


def ties_baseline(run: RunResult) -> bool:
    """Is ``run``'s paired interval against its baseline (of what it is ranked by) one that includes no gain (a tie
    with no speculation, never a win)? Runs without an interval (files that kept no requests) are not."""
    ratio = ranked_ratio(run)
    return ratio is not None and ratio.ci95 is not None and ratio.ci95[0] <= 1.0


def over_budget(run: RunResult, budget_mib: float | None) -> bool:
    """Does ``run``'s server need more memory than the budget (unknown: it fits)?"""
    need = run.memory.needed_mib if run.memory else None
    return budget_mib is not None and need is not None and need > budget_mib


def memory_text(run: RunResult) -> str:
    """'1,234 MiB (+210 MiB over the baseline)', or '' where unknown."""
    need = run.memory.needed_mib if run.memory else None
    if need is None:
        return ""
    extra = f" ({stats.mib(run.extra_memory_mib)} MiB over the baseline)" if run.extra_memory_mib is not None else ""
    return f"{need:,.0f} MiB{extra}"


def _recommend(
    target: str, runs: list[RunResult], level: Level, resolution: float, budget_mib: float | None = None, slo: dict | None = None
) -> Recommendation:
    fits = sorted((r for r in runs if r.target == target and eligible(r)), key=lambda r: gain(r) or 0.0, reverse=True)
    ranked = [r for r in fits if not over_budget(r, budget_mib)]
    over = [r for r in fits if over_budget(r, budget_mib) and (gain(r) or 0.0) > 1.0]  # each named with its need
    best = ranked[0] if ranked else None
    runner = ranked[1] if len(ranked) > 1 else None
    base = baseline_of(best, runs) if best is not None else baselines(runs).get(target)  # a fleet's: the best's node's
    shift = drift.of(base)  # both setups' requests as if measured when the baseline was
    margin = _margin(best, runner, base, runs, slo or {}) if best and runner else None
    if margin is not None and not margin.paired:
        margin = None
    noise = margin.includes(1.0) if margin is not None else (_overlap(best, runner) if best and runner else None)
    tied = [r for r in runs if r.target == target and r.pruned_as == "tied" and best is not None and r.pruned_vs == best.draft]
    slower = sum(r.target == target and r.pruned_as == "slower" for r in runs)
    return Recommendation(target, base, best, runner, noise, tied, slower, level, margin, shift, resolution, over, budget_mib)


def _margin(
    best: RunResult, runner: RunResult, mine: RunResult | None, runs: list[RunResult], slo: dict[str, float]
) -> stats.Ratio | None:
    """Best over runner-up, request by request: their speeds as if measured when their baseline (``mine``, the
    best's) was; runs of two nodes of a fleet compare their speedups, each over its own node's baseline, on the
    same prompts."""
    theirs = mine if best.shard == runner.shard else baseline_of(runner, runs)
    shift = drift.of(mine)
    if best.turns is not None and runner.turns is not None:  # a conversation workload: ranked by the wait
        return conversations.versus(best, runner)
    if best.traffic is not None and runner.traffic is not None:  # a request rate: ranked by goodput
        return traffic.versus(best, runner, slo)
    if theirs is mine or mine is None or theirs is None:
        return comparison.versus(drift.corrected(best, shift), drift.corrected(runner, shift))
    return comparison.versus_speedup((drift.corrected(best, shift), mine), (drift.corrected(runner, drift.of(theirs)), theirs))


def serve_command(run: RunResult) -> list[str] | None:
    """vLLM takes a setup as one --speculative-config argument: the whole ``vllm serve`` line that serves the
    target with it (None for llama-server, whose flags are added to the user's own command line)."""
    flags = list(run.speculation_flags or [])
    return ["vllm", "serve", run.target_path, *flags] if flags[:1] == ["--speculative-config"] and run.target_path else None


def copy_text(run: RunResult) -> str:
    """What a user copies to use ``run``'s setup: vLLM's whole command, or llama-server's flags ("": none)."""
    command = serve_command(run)
    return shlex.join(command) if command else " ".join(run.flags)


def to_copy(run: RunResult) -> str:
    """``copy_text`` said with what it is: "command: ..." or "flags: ..."."""
    text = copy_text(run)
    return f"{'command' if serve_command(run) else 'flags'}: {text}" if text else ""
