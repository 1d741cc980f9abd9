"""From runs to answers: baselines, speedups, size categories and the recommended draft per target."""

from __future__ import annotations

import re
from typing import Iterable
from dataclasses import dataclass, field, replace

from ..core import load as machine_load, stats
from ..core.stats import pct  # noqa: F401  (analysis.pct: the report's and the console's format)
from ..measure import health
from ..measure.stream import DraftCounts
from ..setup.speculation import NO_DRAFT_MODEL, Setup
from . import categories, comparison, costmodel, drift
from .schema import RunResult, load_results

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


def levels(runs: list[RunResult]) -> list[int]:
    """The concurrency levels measured, lowest first."""
    return sorted({r.concurrency for r in runs}) or [1]


def at_level(runs: list[RunResult], level: int | None = None) -> list[RunResult]:
    """The runs of one concurrency level (default: the lowest): the single-level views of the report."""
    level = levels(runs)[0] if level is None else level
    return [r for r in runs if r.concurrency == level]


def baselines(runs: list[RunResult]) -> dict[str, RunResult]:
    """Target -> its baseline, for the runs of one level."""
    return {r.target: r for r in runs if r.draft is None and r.error is None and r.mean_tps}


def settle(runs: list[RunResult]) -> list[RunResult]:
    """The runs of a file as this version computes them: a setup's speedup as the file stored it (version 5:
    paired), or for older files over the baseline of the same target and level from their requests (paired),
    or where a file kept none (the original tool's) from the mean tok/s (unpaired, no interval)."""
    base = {level: baselines(at_level(runs, level)) for level in levels(runs)}
    out = []
    for r in runs:
        b = base[r.concurrency].get(r.target)
        if r.draft is None or b is None or r.error is not None:
            out.append(r)
            continue
        older = r.speedup_design is None  # before version 5: recomputed paired where the file kept requests
        fresh = r.speedup is None or (older and bool(r.requests and b.requests))
        out.append(replace(r, **(comparison.speedup_fields(comparison.versus(r, b)) if fresh else
                                 {"speedup_design": r.speedup_design or "unpaired"}),
                           categories=categories.summarise(r, b) if fresh and r.requests else r.categories,
                           aggregate_speedup=r.aggregate_speedup or _ratio(r.aggregate_tps, b.aggregate_tps)))
    return out


def same_draft_explained(run: RunResult, base: RunResult | None, runs: Iterable[RunResult]) -> list[RunResult]:
    """The other runs of ``run``'s draft (:func:`same_draft`) with their cost-model parts computed again now that
    ``run`` is among them (what a sweep stores after each run, so a file's parts are final as saved)."""
    runs = list(runs)
    out = []
    for r in same_draft(run, runs)[1:]:
        parts = explain_run(r, base, [run if o.key == run.key else o for o in runs])
        out.append(replace(r, parts=costmodel.checked(parts, r.speedup) if parts else None))
    return out


def load(path: str) -> dict:
    """A results file of any version, its runs settled (:func:`settle`): what every reader of a file (the
    report, the exports, ``--compare``, a resume) starts from."""
    data = load_results(path)
    data["results"] = settle(data["results"])
    return data


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def speedup_of(run: RunResult) -> stats.Ratio | None:
    """A run's speedup over its baseline as one value (as computed, or as a file of any version stored it)."""
    if run.speedup is None:
        return None
    ci = tuple(run.speedup_ci95) if run.speedup_ci95 and len(run.speedup_ci95) == 2 else None
    return stats.Ratio(run.speedup, ci, run.speedup_n or run.n_requests or 0,  # type: ignore[arg-type]
                       run.speedup_design != "unpaired" and run.speedup_design is not None)


def speedup_text(run: RunResult) -> str:
    """'+89% (95% CI +39% .. +168%, 4 paired requests)': the one way a speedup is written everywhere."""
    ratio = speedup_of(run)
    return stats.ratio_text(ratio) if ratio else "n/a"


def gain(r: RunResult) -> float | None:
    """What a setup is ranked by: decode speedup for one stream; aggregate throughput speedup for several."""
    return r.speedup if r.concurrency <= 1 else (r.aggregate_speedup or r.speedup)


def compared(run: RunResult, base: RunResult | None, greedy: bool, runs: Iterable[RunResult] = ()) -> RunResult:
    """The run with everything computed against its target's baseline: speedup (paired), per-category
    results, aggregate speedup, the cost model's parts and, at temperature 0, the share of requests whose
    text matches the baseline's. A baseline, or a setup without a measured baseline, gets its categories.
    ``runs``: the others of the sweep, whose runs of the same draft at other lengths inform the cost model."""
    measured = run.error is None and run.mean_tps is not None
    if run.draft is None or base is None or not base.done or not measured:
        return replace(run, categories=categories.summarise(run))
    shift = drift.of(base)
    seen = drift.corrected(run, shift)  # each request over the baseline's speed when it was sent
    ratio = comparison.versus(seen, base)
    factor, half = drift.factor_of(run, shift) if shift is not None and seen is not run else (1.0, 0.0)
    raw = comparison.versus(run, base) if seen is not run else None
    parts = explain_run(run, base, runs)
    return replace(run, **comparison.speedup_fields(stats.widened(ratio, half) if ratio else None),
                   drift_factor=factor if raw else None, speedup_uncorrected=raw.value if raw else None,
                   categories=categories.summarise(run, base, seen),
                   aggregate_speedup=_ratio(run.aggregate_tps, base.aggregate_tps * factor if base.aggregate_tps else None),
                   output_match=output_match(run, base) if greedy else None,
                   parts=costmodel.checked(parts, ratio.value if ratio else None) if parts else None)


def output_match(run: RunResult, base: RunResult) -> float | None:
    """Share of the run's requests whose text equals the baseline's on the same prompt."""
    texts = {q.prompt_id: q.text for q in base.requests if not q.error}
    pairs = [(q.text, texts[q.prompt_id]) for q in run.requests if not q.error and q.prompt_id in texts]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


def verify_costs(base: RunResult | None) -> dict[int, float] | None:
    if base is None or not base.verify_costs:
        return None
    return {int(k): float(v) for k, v in base.verify_costs.items()}


def length_key(r: RunResult) -> tuple:
    """What the runs of one draft at several draft lengths share: target, level and the setup but its draft_max."""
    return (r.target, r.concurrency, replace(r.speculation, draft_max=None) if r.speculation else None)


def same_draft(run: RunResult, runs: Iterable[RunResult]) -> list[RunResult]:
    """``run`` and the runs of its target and level whose setup differs from its own only in draft length."""
    mine = length_key(run)
    return [run] + [r for r in runs if r is not run and r.draft != run.draft and r.error is None and length_key(r) == mine]


def loop_model(group: list[RunResult], base: RunResult) -> tuple[tuple[float, ...] | None, dict, str, str]:
    """What a draft's runs (:func:`same_draft`) tell the cost model: acceptance by position (None: unknown),
    v(k) and where each came from. v(k) in the loop comes from the runs' synthetic-acceptance twins, never
    from the runs themselves."""
    step_ms = 1000.0 / base.mean_tps if base.mean_tps else None
    loop = {1.0 + float(r.verify_in_loop["drafted_per_pass"]): float(r.verify_in_loop["verify_ms_per_pass"]) / step_ms
            for r in group if r.verify_in_loop and step_ms}
    costs = costmodel.footprint(verify_costs(base), loop)
    counted = [(r.position_counts["passes"], r.position_counts["accepted"], r.speculation.draft_max
                or len(r.position_counts["accepted"])) for r in group if r.position_counts and r.speculation]
    lengths = {r.speculation.draft_max: DraftCounts.of(r.requests) for r in group if r.speculation.draft_max}
    points = [(n, c.accepted / (c.produced - c.accepted)) for n, c in lengths.items() if c.produced > c.accepted]
    if counted:
        rates, source = costmodel.rates_from_positions(counted), "by position (server counts)"
    elif len(points) > 1:
        rates, source = costmodel.rates_from_lengths(points), "by position (fit across draft lengths)"
    else:
        rates, source = None, "constant rate"
    return rates, costs, "in the loop" if loop else "prompt batches", source


def draft_loop(group: list[RunResult], base: RunResult) -> costmodel.Loop | None:
    """The cost model of one draft (its runs at several lengths, :func:`same_draft`) for any length: what the
    report's draft-length chart and the benchmark predict with. None where its runs have no parts."""
    explained = [r for r in group if r.parts is not None and r.speculation and r.speculation.draft_max]
    if not explained:
        return None
    rates, costs, _, _ = loop_model(group, base)
    n = len(explained)
    return costmodel.Loop(rates or (sum(r.parts.acceptance_per_token for r in explained) / n,),
                          sum(r.parts.draft_cost_ratio for r in explained) / n, costs,
                          min(1.0, sum(r.parts.drafted_per_pass / r.speculation.draft_max for r in explained) / n))


def explain_run(run: RunResult, base: RunResult | None, runs: Iterable[RunResult] = ()) -> costmodel.Parts | None:
    """The cost model's parts of ``run``, from its counts, its drafting time (in-process where the server
    reported it, else from the draft's own speed) and v(k) and acceptance by position from the runs of its
    draft (:func:`loop_model`); None where a part was not measured (files of the original tool)."""
    spec = run.speculation
    if spec is None or run.error is not None or run.mean_tps is None or base is None or not base.mean_tps:
        return None
    rates, costs, verify_source, acceptance_source = loop_model(same_draft(run, runs), base)
    if not costs:
        return None
    in_process = run.draft_ms_per_pass / (1000.0 / base.mean_tps) if run.draft_ms_per_pass is not None else None
    if spec.uses_head:  # MTP, EAGLE-3, DFlash, DSpark: no draft-alone run exists, drafting is timed in-process or not at all
        c, source = None, "in-process"
    elif spec.draft_path:
        c, source = (base.mean_tps / run.draft_alone_tps if run.draft_alone_tps else None), "draft alone"
    else:  # n-gram lookups: next to nothing next to a model's step
        c, source = 0.0, "n-gram"
    n = DraftCounts.of(run.requests)
    return costmodel.explain(n.produced, n.drafted, n.accepted, c, costs, spec.draft_max, in_process, source,
                             rates, verify_source, acceptance_source)


def eligible(r: RunResult) -> bool:
    """Can this run be recommended? Drafted, no error, speculation not known to be off, not stopped early
    by the adaptive search (a tie is never a win)."""
    return (r.draft is not None and r.error is None and r.mean_tps is not None and r.speedup is not None
            and r.speculation_active is not False and not r.pruned)


def _overlap(a: RunResult, b: RunResult) -> bool | None:
    if not a.ci95_tps or not b.ci95_tps:
        return None
    return a.ci95_tps[0] <= b.ci95_tps[1] and b.ci95_tps[0] <= a.ci95_tps[1]


def by_task(run: RunResult) -> str | None:
    """'by task +60% (json) .. +131% (code)' when the run's per-category speedups differ by more than their
    own intervals (the slowest category's interval lies wholly below the fastest's); else None."""
    cats = [(c, v) for c, v in (run.categories or {}).items() if v.get("speedup") and v.get("speedup_ci95")]
    if len(cats) < 2:
        return None
    low = min(cats, key=lambda cv: cv[1]["speedup"])
    high = max(cats, key=lambda cv: cv[1]["speedup"])
    if low[1]["speedup_ci95"][1] >= high[1]["speedup_ci95"][0]:
        return None
    return f"by task {pct(low[1]['speedup'])} ({low[0]}) .. {pct(high[1]['speedup'])} ({high[0]})"


@dataclass
class Recommendation:
    target: str
    baseline: RunResult | None
    best: RunResult | None
    runner_up: RunResult | None
    within_noise: bool | None
    tied: list[RunResult] = field(default_factory=list)  # stopped early by the adaptive search as tied with best
    stopped_slower: int = 0  # setups the adaptive search stopped as clearly slower (than the baseline or a leader)
    level: int = 1
    margin: stats.Ratio | None = None  # best over runner-up, request by request (None: no pairs)
    drift: drift.Drift | None = None  # the baseline's drift over the sweep (None: never checked)
    resolution: float = 0.05  # drift beyond this (and beyond noise) is worth a warning

    def caution(self) -> str:
        """'' or why the outputs this recommendation was measured on are not text a user wants (the baseline's
        or the best's), or may not be (a target without a chat template behind the chat endpoint)."""
        for r in (self.baseline, self.best):
            if r is not None and r.degenerate_output:
                return f"measured on degenerate output ({r.draft or 'baseline'}: {r.degenerate_output})"
        if self.baseline is not None and any("has no chat template" in w for w in self.baseline.warnings):
            return ("measured through a fallback chat template (the target's GGUF has none, so llama-server used "
                    "ChatML)")
        return ""

    def warning(self) -> str:
        """'' or the caution with how to fix it: what every such recommendation carries."""
        caution = self.caution()
        return f"{caution}: {health.FIX}" if caution else ""

    def machine(self) -> str:
        """'' or what the machine did meanwhile that a reader must know: the baseline drifted beyond the
        resolution, or other processes were busy while the baseline or the best setup ran."""
        notes = [self.drift.sentence()] if self.drift is not None and self.drift.exceeds(self.resolution) else []
        busy = [r.draft or "baseline" for r in (self.baseline, self.best) if r is not None and
                machine_load.warning(r.other_cpu_share, r.other_cpu_share_before, r.gpu_busy_before_pct)]
        if busy:
            notes.append(f"busy machine while measuring {', '.join(busy)} (other processes used a large share of it): "
                         "rerun on a quieter machine to confirm")
        return "; ".join(notes)

    def margin_text(self) -> str:
        """'within noise of X (...)' or 'ahead of X by +7% (...)', or '' without a runner-up."""
        r = self.runner_up
        if r is None:
            return ""
        if self.margin is None:
            return (f"within noise of {r.draft} ({pct(gain(r))}; unpaired intervals overlap)"
                    if self.within_noise else "")
        if self.within_noise:
            return (f"within noise of {r.draft} ({pct(gain(r))}): {stats.ratio_text(self.margin)} over it, "
                    "rerun with more requests to separate them")
        return f"ahead of {r.draft} ({pct(gain(r))}) by {stats.ratio_text(self.margin)}"

    def sentence(self) -> str:
        text = self._sentence()
        for warning in (self.warning(), self.machine()):
            text += f"; WARNING: {warning}" if warning else ""
        return text

    def _sentence(self) -> str:
        if self.level > 1:
            return self._level_sentence()
        if self.baseline is None:
            return f"{self.target}: no baseline measured, so no speedup can be computed"
        if self.best is None and self.stopped_slower:
            return (f"{self.target}: no speculation setup beats the baseline ({self.baseline.mean_tps:.2f} tok/s): "
                    f"{self.stopped_slower} stopped early as clearly slower; skip speculative decoding")
        if self.best is None:
            return f"{self.target}: no setup ran with speculation active; nothing to recommend"
        b = self.best
        if (b.speedup or 0) <= 1.0:
            return (f"{self.target}: no speculation setup beats the baseline ({self.baseline.mean_tps:.2f} tok/s); "
                    f"best was {b.draft} at {speedup_text(b)}: skip speculative decoding")
        text = f"{self.target}: use {b.draft}, {b.mean_tps:.2f} tok/s, {speedup_text(b)} vs baseline"
        if b.acceptance_rate is not None:
            text += f", acceptance {b.acceptance_rate:.0%}"
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
        if b.speculation_flags:
            text += f"; flags: {' '.join(b.speculation_flags)}"
        return text

    def _level_sentence(self) -> str:
        where = f"{self.target} @ {self.level} streams"
        if self.baseline is None:
            return f"{where}: no baseline at this level, so no speedup"
        agg = f"{self.baseline.aggregate_tps:.1f}" if self.baseline.aggregate_tps else "?"
        b = self.best
        if b is None or (gain(b) or 0) <= 1.0:
            best = f"; best was {b.draft} at {pct(gain(b))}" if b is not None else ""
            return f"{where}: no setup beats the baseline ({agg} tok/s aggregate){best}: no draft"
        margin = self.margin_text()
        return (f"{where}: use {b.draft}, {b.aggregate_tps or 0:.1f} tok/s aggregate, {pct(gain(b))} vs {agg} "
                f"without a draft; per stream {b.mean_tps or 0:.1f} tok/s"
                + (f", acceptance {b.acceptance_rate:.0%}" if b.acceptance_rate is not None else "")
                + (f"; per stream {margin}" if margin else ""))

    def short(self) -> str:
        """'1-layer +48%' or 'no draft': for the line across levels."""
        b = self.best
        if b is None or (gain(b) or 0) <= 1.0:
            return "no draft"
        return f"{b.draft} {pct(gain(b))}"


def category_lines(runs: list[RunResult], recs: list["Recommendation"]) -> list[str]:
    """Per target (one stream): categories whose best setup differs from the overall recommendation."""
    out = []
    for rec in recs:
        if rec.level == levels(runs)[0]:
            mine = [drift.corrected(r, rec.drift) for r in at_level(runs, rec.level) if r.target == rec.target and eligible(r)]
            out += categories.lines(rec.target, mine, rec.best if rec.best and (rec.best.speedup or 0) > 1 else None)
    return out


def by_level(recs: list["Recommendation"]) -> list[str]:
    """One line per target measured at several levels, when the best differs between them:
    '1 stream: 1-layer +48%; 4 streams: no draft'."""
    out = []
    for target in dict.fromkeys(r.target for r in recs):
        mine = sorted((r for r in recs if r.target == target), key=lambda r: r.level)
        picks = {r.best.draft if r.best and (gain(r.best) or 0) > 1 else None for r in mine}
        if len(mine) > 1 and len(picks) > 1:
            out.append(f"{target}: " + "; ".join(f"{r.level} stream{'s' if r.level > 1 else ''}: {r.short()}"
                                                 for r in mine))
    return out


def recommend(runs: list[RunResult], resolution: float = 0.05) -> list[Recommendation]:
    """Per target and concurrency level: the best eligible setup, the runner-up, ties (of runs whose speedups
    are set: measured by a sweep, or read with :func:`load`); drift beyond ``resolution`` is said."""
    out = []
    for target in dict.fromkeys(r.target for r in runs):
        for level in levels([r for r in runs if r.target == target]):
            out.append(_recommend(target, at_level(runs, level), level, resolution))
    return out


def _recommend(target: str, runs: list[RunResult], level: int, resolution: float) -> Recommendation:
    base = baselines(runs)
    ranked = sorted((r for r in runs if r.target == target and eligible(r)),
                    key=lambda r: gain(r) or 0.0, reverse=True)
    best = ranked[0] if ranked else None
    runner = ranked[1] if len(ranked) > 1 else None
    shift = drift.of(base.get(target))  # both setups' requests as if measured when the baseline was
    margin = comparison.versus(drift.corrected(best, shift), drift.corrected(runner, shift)) if best and runner else None
    if margin is not None and not margin.paired:
        margin = None
    noise = margin.includes(1.0) if margin is not None else (_overlap(best, runner) if best and runner else None)
    tied = [r for r in runs if r.target == target and r.pruned_as == "tied" and best is not None
            and r.pruned_vs == best.draft]
    slower = sum(r.target == target and r.pruned_as == "slower" for r in runs)
    return Recommendation(target, base.get(target), best, runner, noise, tied, slower, level, margin, shift,
                          resolution)


@dataclass(frozen=True)
class SearchSavings:
    """What the adaptive search saved: measured requests only (warm-ups and probes are the same either way)."""

    setups: int
    slower: int
    tied: int
    tokens: int
    full_tokens: int
    generation_s: float
    full_generation_s: float

    @property
    def stopped(self) -> int:
        return self.slower + self.tied

    @property
    def fewer(self) -> float:
        return 1.0 - self.tokens / self.full_tokens if self.full_tokens else 0.0

    def sentence(self) -> str:
        return (f"{self.stopped} of {self.setups} setups stopped early ({self.slower} slower, {self.tied} tied); "
                f"{self.fewer:.0%} fewer tokens than the full sweep ({self.tokens:,} generated, about "
                f"{self.full_tokens:,} for every setup in full; generation {self.generation_s:.0f} s, about "
                f"{self.full_generation_s:.0f} s in full)")


def search_savings(runs: list[RunResult], budget: int) -> SearchSavings | None:
    """Tokens and generation time of the measured requests, and the same for every run at ``budget``
    requests (a stopped run's own per-request averages scaled up). None when nothing stopped early."""
    if not any(r.pruned for r in runs):
        return None
    tokens = full = 0
    seconds = full_s = 0.0
    setups = 0
    for r in runs:
        ok = [q for q in r.requests if not q.error]
        if not ok:
            continue
        setups += r.draft is not None
        t = sum(q.completion_tokens or 0 for q in ok)
        g = sum(q.total_s or 0.0 for q in ok)
        scale = max(1.0, budget / len(ok)) if r.pruned else 1.0
        tokens, seconds = tokens + t, seconds + g
        full, full_s = full + round(t * scale), full_s + g * scale
    return SearchSavings(setups, sum(r.pruned_as == "slower" for r in runs), sum(r.pruned_as == "tied" for r in runs),
                         tokens, full, seconds, full_s)


def excluded(runs: list[RunResult]) -> list[tuple[RunResult, str]]:
    """Runs that are never recommended, with why."""
    out = []
    for r in runs:
        if r.error is not None:
            out.append((r, f"error: {r.error}"))
        elif r.draft is not None and r.speculation_active is False:
            out.append((r, "speculation was not active (draft tokens never proposed)"))
    return out
