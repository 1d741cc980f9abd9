"""A serving schedule checked by running it: for each level of a results file's concurrency schedule, the
scheduled setup (a llama-server with that many slots and that draft length), the best fixed setup (the answer at
the lowest level, at every level) and no speculation are measured again, on the file's prompts, across the ramp of
levels the schedule was made from (so every threshold is crossed). Per level: what the file promised (the
scheduled setup's aggregate speedup there, with its interval) against what it delivers now (its decode against no
speculation measured now, paired by request, and its aggregate tok/s); a level where it delivers less than no
speculation is a collapse. llama-server only: a vLLM file's schedule is said, not run."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Callable

from ..core import stats
from ..errors import ConfigError, ServerStartError
from ..measure.bench import BenchConfig, BenchSummary, run_bench
from ..results import comparison, evaluate
from ..results.evaluate import Evaluation
from ..results.schedules import Schedule
from ..results.schema import FileMeta, RunResult
from ..server import llamacpp, process, vllm
from ..setup import prompt_files
from ..setup.settings import ServerOptions
from ..setup.speculation import Speculation


@dataclass(frozen=True)
class LevelCheck:
    """One level of the ramp: the schedule's setup there, what the file promised and what was measured now."""

    streams: int
    scheduled: str  # the scheduled setup's label ("no speculation": off at this level)
    promised: stats.Ratio | None  # the file's aggregate speedup there (its decode speedup's interval)
    measured: stats.Ratio | None  # now: decode against no speculation, paired by request
    measured_tps: float | None  # now: aggregate tok/s of the scheduled setup
    promised_tps: float | None  # the file's
    fixed: stats.Ratio | None  # now: the best fixed setup against no speculation

    @property
    def collapse(self) -> bool:
        """The schedule speculates here and its paired interval now lies wholly below no speculation."""
        m = self.measured
        return self.scheduled != "no speculation" and m is not None and m.ci95 is not None and m.ci95[1] < 1.0

    def row(self) -> str:
        def said(r: stats.Ratio | None) -> str:
            return stats.ratio_text(r) if r is not None else "n/a"

        verdict = "COLLAPSE: slower than no speculation" if self.collapse else self._kept()
        return (
            f"| {self.streams} | {self.scheduled} | {said(self.promised)} | {said(self.measured)} | "
            f"{self.promised_tps or 0:.1f} -> {self.measured_tps or 0:.1f} | {said(self.fixed)} | {verdict} |"
        )

    def _kept(self) -> str:
        m, f = self.measured, self.fixed
        if self.scheduled == "no speculation":
            pays = f is not None and f.ci95 is not None and f.ci95[0] > 1.0
            return "off, and the best fixed setup now pays here: the schedule leaves a gain" if pays else "off, as scheduled"
        if m is None or m.ci95 is None:
            return "not comparable (no interval)"
        if m.ci95[0] <= 1.0:
            return "not separated from no speculation now: measure with more requests"
        if self.promised is not None and self.promised.ci95 is not None and stats.apart(self.promised.ci95, m.ci95):
            return "pays, but differs from the promise"
        return "delivers"


def _prompts(meta: FileMeta, path: str) -> tuple:
    source = meta.settings.get("prompts", prompt_files.BUILTIN_NAME)
    where = os.path.dirname(meta.config_path) if meta.config_path else os.path.dirname(os.path.abspath(path))
    try:
        return prompt_files.load(str(source), where, tuple(meta.settings.get("categories") or ()), "settings.prompts")
    except ConfigError as exc:
        raise ConfigError(path, [*exc.problems, "--check-schedule reads the prompts the file was measured on"]) from exc


def _options(meta: FileMeta) -> ServerOptions:
    s = meta.settings
    extra = tuple(str(a) for a in s.get("extra_args") or ())
    gpu, ctx = int(s.get("gpu_layers", 99)), int(s.get("ctx_size", 4096))
    return ServerOptions(port=0, gpu_layers=gpu, ctx_size=ctx, extra_args=extra, ready_timeout_s=900.0)


def _bench(url: str, streams: int, meta: FileMeta, prompts: tuple, speculates: bool) -> BenchSummary:
    s = meta.settings
    return run_bench(
        BenchConfig(
            url,
            requests=int(s.get("requests", 5)) * int(s.get("runs", 1)),
            max_tokens=int(s.get("max_tokens", 512)),
            warmup=int(s.get("warmup", 1)),
            prompts=prompts,
            seed=int(s.get("seed", 0)),
            concurrency=streams,
            endpoint=str(s.get("endpoint", "chat")),
            expect_draft=speculates,
        )
    )


def _measure(
    run: RunResult | None, target: str, streams: int, meta: FileMeta, prompts: tuple, echo: Callable[[str], None]
) -> BenchSummary:
    speculation = run.speculation if run is not None and run.speculation else Speculation(None)
    spec = process.ServerSpec(target, speculation, _options(meta), parallel=streams)
    echo(f"  {streams} stream{'s' if streams > 1 else ''}: {run.draft if run is not None else 'no speculation'} ...")
    with llamacpp.launch(spec, warn=echo).start() as server:
        return _bench(server.url, streams, meta, prompts, run is not None)


def _ramp(
    spec: process.ServerSpec, levels: list[int], meta: FileMeta, prompts: tuple, echo: Callable[[str], None], what: str
) -> dict[int, BenchSummary]:
    """One vLLM server measured at every level of the ramp (lowest first): {streams: summary}."""
    echo(f"  {what}: one server, {', '.join(map(str, levels))} streams ...")
    with vllm.launch(spec, warn=echo).start() as server:
        return {n: _bench(server.url, n, meta, prompts, not spec.speculation.is_baseline) for n in levels}


def _promised(run: RunResult | None) -> stats.Ratio | None:
    """What the file promised at a level: the scheduled run's aggregate speedup, with its decode interval."""
    ratio = run.speedup_ratio() if run is not None else None
    return (
        replace(ratio, value=run.aggregate_speedup) if ratio is not None and run is not None and run.aggregate_speedup else ratio
    )


def _as_run(summary: BenchSummary, like: RunResult) -> RunResult:
    return replace(like, requests=list(summary.requests), aggregate_tps=summary.aggregate_tps, mean_tps=summary.mean_tps)


def check(path: str, echo: Callable[[str], None]) -> list[str]:
    """The table of every schedule of the file, measured now (Markdown lines)."""
    meta, ev = evaluate.load(path)
    if not ev.schedules:
        raise ConfigError(path, ["no serving schedule: the file has no target measured at two concurrency levels or more"])
    backend = meta.backend or "llamacpp"
    if backend not in ("llamacpp", "vllm"):
        raise ConfigError(path, [f"--check-schedule runs llama-server and vLLM schedules; this file was measured on {backend}"])
    prompts = _prompts(meta, path)
    if backend == "vllm":
        return [line for sched in ev.schedules for line in _check_vllm(sched, ev, meta, prompts, echo)]
    lines = []
    for sched in ev.schedules:
        target = sched.target_path or sched.target
        echo(f"Checking the schedule for {sched.target} ({', '.join(map(str, sched.levels))} streams)")
        fixed_run = next(
            (r for r in ev.runs if r.target == sched.target and r.draft == sched.family and r.concurrency == 1), None
        )
        lines += [f"Schedule for {sched.target} with {sched.family}, checked by running it:", HEAD, RULE]
        for step in sched.steps:
            base = next(r for r in ev.runs if r.target == sched.target and r.draft is None and r.concurrency == step.streams)
            off = _as_run(_measure(None, target, step.streams, meta, prompts, echo), base)
            mine = _as_run(_measure(step.run, target, step.streams, meta, prompts, echo), step.run) if step.run else off
            fixed = None
            if fixed_run is not None:
                same = step.run is not None and fixed_run.speculation == step.run.speculation
                fixed = mine if same else _as_run(_measure(fixed_run, target, step.streams, meta, prompts, echo), fixed_run)
            promised = _promised(step.run)
            check = LevelCheck(
                step.streams,
                step.run.draft or "" if step.run is not None else "no speculation",
                promised,
                comparison.versus(mine, off) if step.run is not None else None,
                mine.aggregate_tps,
                (step.run or base).aggregate_tps,
                comparison.versus(fixed, off) if fixed is not None else None,
            )
            lines.append(check.row())
    return lines


HEAD = (
    "| streams | scheduled | promised (file) | measured now vs no speculation | aggregate tok/s file -> now "
    "| best fixed now vs no speculation | verdict |"
)
RULE = "|---:|---|---|---|---|---|---|"


def _check_vllm(sched: Schedule, ev: Evaluation, meta: FileMeta, prompts: tuple, echo: Callable[[str], None]) -> list[str]:
    """The schedule on vLLM: no speculation, the best fixed setup and the schedule, each one server across the ramp
    (the schedule as vLLM's own batch-size schedule where it takes one, else a server per scheduled length)."""
    target, levels, options = sched.target_path or sched.target, sched.levels, _options(meta)
    family = next(step.run for step in sched.steps if step.run is not None)
    fixed_run = next((r for r in ev.runs if r.target == sched.target and r.draft == sched.family and r.concurrency == 1), family)
    top = max(levels)
    off = _ramp(
        process.ServerSpec(target, Speculation(None), options, parallel=top), levels, meta, prompts, echo, "no speculation"
    )
    assert fixed_run.speculation is not None and family.speculation is not None  # a schedule's setups speculate
    fixed_spec = process.ServerSpec(target, fixed_run.speculation, options, parallel=top)
    fixed = _ramp(fixed_spec, levels, meta, prompts, echo, str(fixed_run.draft))
    mine: dict[int, BenchSummary] = {}
    how = "this vLLM's SpeculativeConfig has no num_speculative_tokens_per_batch_size: each level's length ran instead"
    if vllm.takes_batch_schedule():
        batch = tuple((lo, hi, k) for lo, hi, k in sched.vllm())
        spec = process.ServerSpec(target, family.speculation, options, parallel=top, batch_schedule=batch)
        try:
            mine = _ramp(spec, levels, meta, prompts, echo, "the schedule")
            how = "the exported schedule ran as vLLM's own num_speculative_tokens_per_batch_size, in one server"
        except ServerStartError as exc:
            how = f"this vLLM build would not start with the schedule ({exc.short}): each level's length ran instead"
            echo(f"  {how}")
    if not mine:
        for step in sched.steps:
            if step.run is None or step.run.speculation is None:
                mine[step.streams] = off[step.streams]
            else:
                one = process.ServerSpec(target, step.run.speculation, options, parallel=top)
                mine |= _ramp(one, [step.streams], meta, prompts, echo, str(step.run.draft))
    lines = [f"Schedule for {sched.target} with {sched.family}, checked by running it on vLLM ({how}):", HEAD, RULE]
    for step in sched.steps:
        base = next(r for r in ev.runs if r.target == sched.target and r.draft is None and r.concurrency == step.streams)
        now_off, now_fixed = _as_run(off[step.streams], base), _as_run(fixed[step.streams], fixed_run)
        now = _as_run(mine[step.streams], step.run or base)
        promised = _promised(step.run)
        check = LevelCheck(
            step.streams,
            f"{family.draft} at n_max {step.draft_max}" if step.draft_max else "no speculation",
            promised,
            comparison.versus(now, now_off) if step.draft_max else None,
            now.aggregate_tps,
            (step.run or base).aggregate_tps,
            comparison.versus(now_fixed, now_off),
        )
        lines.append(check.row())
    return lines
