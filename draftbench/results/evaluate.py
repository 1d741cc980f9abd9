"""One evaluation of a results file's runs: every figure computed from measurements, once, in one pure pass.

Each setup is compared with its target's baseline at the same level: speedup (paired on the same prompts, each
request corrected for the baseline's drift when it was sent, the interval widened by the correction's
uncertainty), per-category results, aggregate speedup, output match at temperature 0 and the cost model's parts
(with the runs of the same draft at other lengths). Then the recommendations, the runs never recommended, the
lines by task and by level, and what the adaptive search saved. The sweep's store evaluates after every run and
on load; the console, the HTML report, the exports and ``--compare`` only read the result.

A run's figures depend on itself, its baseline and the runs of its draft at other lengths (``affected_by``): after
one run changes, the store evaluates those again and keeps the rest as they were (``kept``), so a save costs what
changed, not the whole file."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ..core import stats
from . import categories, comparison, conversations, costmodel, depth, distribution, drift, fleet, grouping, traffic
from .explain import WhyGrid, explain_run, why_grid
from .grouping import excluded, length_key
from .jsonfile import load_results
from .lengths import LengthCurve, curves
from .recommend import Recommendation, by_level, category_lines, recommend
from .savings import SearchSavings, search_savings
from .schedules import Schedule, schedules
from .schema import COMPUTED, FileMeta, OutputCheck, RunResult


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation needs of a sweep's settings."""

    greedy: bool = False  # the sweep's one temperature is 0: a setup's text is compared with its baseline's (a run
    # at a temperature of its own, one of several levels, says for itself)
    resolution: float = 0.05  # drift beyond this is worth a warning (and the search's tie)
    budget: int = 0  # requests per setup measured in full (what the adaptive search's savings compare with)
    memory_budget_mib: float | None = None  # setups needing more are never recommended (settings.memory_budget_mib)
    slo: tuple[tuple[str, float], ...] = ()  # latency targets at request rates (settings.slo; results/traffic.py)
    search: str | None = None  # the sweep's search (settings.search; None: the file does not say): only a search stops setups

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> "EvalSettings":
        """From a settings record (a results file's ``settings``, or a config's ``settings_record()``)."""
        temperature, resolution = settings.get("temperature"), settings.get("resolution")
        requests, runs = settings.get("requests"), settings.get("runs") or 1
        memory = settings.get("memory_budget_mib")
        return cls(
            temperature == 0,
            resolution if isinstance(resolution, (int, float)) else 0.05,
            requests * runs if isinstance(requests, int) and isinstance(runs, int) else 0,
            float(memory) if isinstance(memory, (int, float)) and not isinstance(memory, bool) else None,
            tuple(sorted((k, float(v)) for k, v in slo.items() if isinstance(v, (int, float)) and not isinstance(v, bool)))
            if isinstance(slo := settings.get("slo"), dict)
            else (),
            settings.get("search") if isinstance(settings.get("search"), str) else None,
        )


@dataclass(frozen=True)
class Evaluation:
    """Every figure of a set of runs, as computed by :func:`evaluate`."""

    runs: tuple[RunResult, ...]
    recommendations: tuple[Recommendation, ...]
    excluded: tuple[tuple[RunResult, str], ...]
    category_lines: tuple[str, ...]  # where the best setup for a kind of task differs from the overall one
    level_lines: tuple[str, ...]  # where the best setup differs between levels
    crossovers: tuple[depth.Crossover, ...]  # where each setup measured at several depths stops paying
    nodes: tuple[fleet.NodeBaseline, ...]  # a fleet's nodes: each one's baseline against the first's
    savings: SearchSavings | None  # None: nothing was stopped early
    settings: EvalSettings
    schedules: tuple[Schedule, ...] = ()  # per target measured at several concurrency levels (results/schedules.py)
    length_curves: tuple[LengthCurve, ...] = ()  # per setup measured at several draft lengths (results/lengths.py)
    check_points: tuple[drift.CheckPoint, ...] = ()  # each checked baseline's measurements (results/drift.py)

    def computed(self) -> dict[str, tuple[Any, ...]]:
        """What a results file keeps of the evaluation for its readers (computed again whenever it is read): its
        records by name (``jsonfile`` writes them)."""
        return {name: getattr(self, name) for name in COMPUTED if name == "recommendations" or getattr(self, name)}

    @functools.cached_property
    def rate_lines(self) -> list[str]:
        """Per target measured at several request rates: where each answer holds, where speculation stops paying."""
        return traffic.rate_lines(list(self.recommendations))

    @functools.cached_property
    def workload(self) -> str | None:
        """What a conversation workload measured, in one line (None: one-shot requests)."""
        return conversations.workload_line(list(self.runs))

    @functools.cached_property
    def why_grid(self) -> WhyGrid | None:
        """The cost model's grid for the report's why-chart, at the lowest level (computed once, when asked)."""
        return why_grid(grouping.at_level(list(self.runs))) if self.runs else None

    def run(self, key: tuple) -> RunResult | None:
        return next((r for r in self.runs if r.key == key), None)


def evaluate(
    runs: Iterable[RunResult],
    settings: EvalSettings = EvalSettings(),
    kept: Mapping[tuple, RunResult] | None = None,
    memo: dict | None = None,
) -> Evaluation:
    """The runs with every figure computed from their measurements, and what follows from them. ``kept``: runs
    (by key) already evaluated from exactly these inputs, taken as they are (``affected_by`` says which are not);
    ``memo``: the figures made from them earlier (``lengths.curves``)."""
    runs, kept = [r if r.key in (kept or {}) else _decided(r, settings) for r in runs], kept or {}
    bases = {r.key: r for r in runs if r.draft is None}
    keys = [length_key(r) for r in runs]
    groups: dict[tuple, list[RunResult]] = {}
    for r, key in zip(runs, keys):
        groups.setdefault(key, []).append(r)
    done = [
        kept[r.key]
        if r.key in kept
        else _evaluated(
            r,
            bases.get(r.baseline_key),
            settings.greedy if r.temperature is None else r.temperature == 0,
            groups[key],
            settings.slo,
        )
        for r, key in zip(runs, keys)
    ]
    recs = recommend(done, settings.resolution, settings.memory_budget_mib, dict(settings.slo))
    return Evaluation(
        tuple(done),
        tuple(recs),
        tuple(excluded(done)),
        tuple(category_lines(done, recs)),
        tuple(by_level(recs)),
        tuple(depth.crossovers(done)),
        tuple(fleet.nodes(done)),
        search_savings(done, settings.budget) if settings.budget else None,
        settings,
        tuple(schedules(done, recs)),
        curves(done, memo),
        drift.check_points(done),
    )


def affected_by(changed: RunResult, runs: Iterable[RunResult]) -> set[tuple]:
    """The keys of the runs whose figures ``changed`` enters: itself; for a baseline, every run compared with it;
    for a setup, the runs of its draft at other lengths (the cost model reads them)."""
    mine = length_key(changed)
    if changed.draft is None:
        return {changed.key} | {r.key for r in runs if r.baseline_key == changed.key}
    return {changed.key} | {r.key for r in runs if r.draft is not None and length_key(r) == mine}


def load(path: str) -> tuple[FileMeta, Evaluation]:
    """A results file of any version, evaluated with its own settings: what every reader of a file (the report,
    the exports, ``--compare``, a resume) starts from."""
    meta, runs = load_results(path)
    return meta, evaluate(runs, EvalSettings.of(meta.settings))


def _decided(run: RunResult, settings: EvalSettings) -> RunResult:
    """``run`` with a stored early stop it cannot have had cleared, and said: a stop in a sweep without a search,
    a prediction on a measured run, a "slower" or "tied" stop after every request was measured."""
    if not (run.pruned or run.pruned_as):
        return run
    why = (
        f"its sweep's search is {settings.search!r}, which stops nothing"
        if settings.search == "exhaustive"
        else "it was measured: a prediction is never measured"
        if run.pruned_as == "predicted" and run.requests
        else f"all {settings.budget} of its requests were measured"
        if run.pruned_as in ("slower", "tied") and settings.budget and len(run.requests) >= settings.budget
        else ""
    )
    if not why:
        return run
    return replace(
        run,
        pruned=False,
        pruned_as=None,
        pruned_vs=None,
        pruned_reason=None,
        pruned_interval=None,
        warnings=[*run.warnings, f"the file says this run was stopped early ({run.pruned_as}), but {why}: ignored"],
    )


def _evaluated(
    run: RunResult, base: RunResult | None, greedy: bool, group: list[RunResult], slo: tuple[tuple[str, float], ...] = ()
) -> RunResult:
    """One run with everything computed against its target's baseline (see the module note). A baseline, or a
    setup without a finished baseline, gets its categories; a file that kept no requests (the original
    tool's) keeps its speedup, else the ratio of mean tok/s, unpaired."""
    measured = run.error is None and run.mean_tps is not None
    if run.draft is None or base is None or not base.done or not (base.mean_tps or 0) > 0 or not measured:
        # no baseline to compare with (removed, failed, at 0 tok/s): no speedup, whatever the file stored
        # (the original tool's files, which kept no requests, keep theirs)
        gone = dict.fromkeys(
            ("speedup", "speedup_ci95", "speedup_n", "speedup_design", "aggregate_speedup", "drift_factor", "speedup_uncorrected")
        )
        return replace(
            run,
            categories=categories.summarise(run) or run.categories,
            turns=conversations.scores(run, None) if run.draft is None else None,
            traffic=traffic.score(run, None, dict(slo)) if run.draft is None else None,
            **(gone if run.draft is not None and run.requests else {}),
        )
    if not (run.requests and base.requests):
        fields = comparison.speedup_fields(comparison.versus(run, base)) if run.speedup is None else {}
        return replace(
            run,
            **{"speedup_design": "unpaired", **fields},
            extra_memory_mib=_extra_memory(run, base),
            aggregate_speedup=run.aggregate_speedup or _ratio(run.aggregate_tps, base.aggregate_tps),
            turns=None,  # computed from requests only: a file without them cannot have had them
            traffic=None,
        )
    shift = drift.of(base)
    seen = drift.corrected(run, shift)  # each request over the baseline's speed when it was sent
    ratio = comparison.versus(seen, base)
    factor, half = drift.factor_of(run, shift) if shift is not None and seen is not run else (1.0, 0.0)
    raw = comparison.versus(run, base) if seen is not run else None
    parts = explain_run(run, base, group)  # the runs of its draft at other lengths are in its group
    return replace(
        run,
        **comparison.speedup_fields(stats.widened(ratio, half) if ratio else None),
        extra_memory_mib=_extra_memory(run, base),
        drift_factor=factor if raw else None,
        speedup_uncorrected=raw.value if raw else None,
        categories=categories.summarise(run, base, seen),
        turns=conversations.scores(run, base),
        traffic=traffic.score(run, base, dict(slo)),
        aggregate_speedup=_ratio(run.aggregate_tps, base.aggregate_tps * factor if base.aggregate_tps else None),
        **(_outputs(run, base) if greedy else {}),
        distribution_check=distribution.check(run.distribution_samples, base.distribution_samples)
        if run.distribution_samples and base.distribution_samples
        else None,
        parts=costmodel.checked(parts, ratio.value if ratio else None) if parts else run.parts,
    )


def _extra_memory(run: RunResult, base: RunResult) -> float | None:
    """What the setup's server needs beyond its baseline's (MiB), where both are known."""
    mine, theirs = (r.memory.needed_mib if r.memory else None for r in (run, base))
    return round(mine - theirs, 1) if mine is not None and theirs is not None else None


def output_check(run: RunResult, base: RunResult) -> OutputCheck | None:
    """The run's completions against the baseline's on the same prompt (see :class:`OutputCheck`)."""
    texts = {q.prompt_id: q.text for q in base.requests if not q.error}
    pairs = [(q.text, texts[q.prompt_id]) for q in run.requests if not q.error and q.prompt_id in texts]
    if not pairs:
        return None
    differ = tuple(next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b))) for a, b in pairs if a != b)
    return OutputCheck(len(pairs), len(pairs) - len(differ), differ)


def _outputs(run: RunResult, base: RunResult) -> dict[str, Any]:
    check = output_check(run, base)
    return {"output_check": check, "output_match": check.identical / check.n if check else None}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None
