"""Measuring one cell of a sweep's plan: skipped when it cannot run, stopped by the adaptive search before a
server starts, or measured on a server from the sessions, in blocks with a look after each when the search is
adaptive. Each outcome is a run record, built once from what measuring learnt."""

from __future__ import annotations

import os
import re
import time
from dataclasses import fields, replace
from typing import Any

from ..core import gguf_header, load
from ..errors import DraftbenchError, Interrupted, ModelFileError, ResultsFileError, ServerStartError
from ..measure import distribution, memory, probes, slots
from ..measure.bench import BenchConfig, BenchSummary, merge, run_bench
from ..measure.replay import shared_pool
from ..records.distribution import DistributionSamples
from ..records.measured import Measured
from ..records.requests import scheduled
from ..results import grouping
from ..results.schema import RunResult
from ..server import crash, process
from ..setup import footprint, repacking
from ..setup.config import SweepConfig
from . import stopping
from .console import Accounting, Console
from .cost_probes import CostProbes
from .facts import RunFacts
from .plan import Cell, request_fields, traffic
from .scheduler import Policy
from .sessions import Sessions
from .store import ResultsStore

MEASURED = tuple(f.name for f in fields(Measured) if f.name not in ("warnings", "requests"))  # a run's, from its summary


class CellMeasurer:
    def __init__(
        self,
        cfg: SweepConfig,
        store: ResultsStore,
        sessions: Sessions,
        probes: CostProbes,
        search: Policy,
        echo: Console,
        acct: Accounting,
        api_key: str | None,
    ):
        self.cfg, self.store, self.sessions, self.probes, self.search = cfg, store, sessions, probes, search
        self.echo, self.acct, self.api_key = echo, acct, api_key
        self.runs = store.runs
        self.template_warnings: dict[str, str] = {}  # target label -> why its chat endpoint may not be its format

    def log_path(self, cell: Cell, what: str = "") -> str:
        stem = os.path.splitext(os.path.basename(self.store.path))[0]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{cell.target.label}__{cell.setup.label or 'baseline'}")
        return os.path.join(
            os.path.dirname(os.path.abspath(self.store.path)), "logs", stem, f"{cell.index:03d}-{slug[:80]}{what}.log"
        )

    def record(
        self,
        cell: Cell,
        facts: RunFacts,
        summary: BenchSummary | None = None,
        stop: stopping.Stop | None = None,
        paused: bool = False,
    ) -> RunResult:
        """The run's record, built once: the cell's identity, what measuring it learnt (``facts``), the summary
        of its requests (its ``Measured`` fields, with the prediction it was measured on), and whether it is paused
        between blocks or was stopped early (``stop``); put in the store, which evaluates it (its figures against
        the baseline), and returned as evaluated."""
        setup = cell.setup
        measured = {name: getattr(summary, name) for name in MEASURED} if summary else {}
        prediction = self.search.prediction_of(cell) if summary else None
        status: dict[str, Any] = {
            **(prediction.fields() if prediction else {}),
            **(stop.fields() if stop else {}),
            **({"in_progress": True} if paused else {}),
        }
        run = RunResult(
            cell.target.label,
            setup.label,
            cell.level.concurrency,
            cell.level.temperature,
            depth=cell.level.depth,
            request_rate=cell.level.request_rate,
            shard=cell.shard,
            target_path=cell.target.path,
            warm_pool_requests=setup.warm_requests or None,
            target_id=self.store.identity(cell.target.path),
            draft_id=self.store.identity(setup.speculation.draft_path),
            speculation=setup.speculation,
            draft_size=grouping.setup_category(setup),
            **{
                **facts.values(),
                **measured,
                **status,
                "warnings": [*facts.warnings, *(summary.warnings if summary else [])],
                "requests": list(summary.requests) if summary else [],
            },
        )
        return self.store.put(run)

    def measure(self, cell: Cell, earlier: RunResult | None = None) -> RunResult:
        """Measure ``cell`` (continuing ``earlier``'s requests, saved by an interrupted adaptive search)."""
        facts = RunFacts([self.template_warnings[cell.target.label]] if cell.target.label in self.template_warnings else [])
        summary: BenchSummary | None = None
        stop: stopping.Stop | None = None
        paused = False
        started = time.monotonic()
        server = None
        try:
            facts.draft_alone_tps = self.probes.draft_alone_tps(cell, self.log_path(cell, "__draft-alone"), self.sessions.release)
            facts.verify_in_loop = self.probes.in_loop(cell, self.log_path(cell, "__in-loop"), self.sessions.release, earlier)
            facts.gpu_busy_before_pct, before = load.gpu_busy_pct(), load.cpu_times()
            server = self.sessions.server_for(cell, facts, self.log_path(cell))
            facts.warnings += self.unlike_baseline(cell, facts)
            drafted_before = self.probes.mark(server)
            group = server.proc.pid if server.proc is not None else None  # its own process group
            facts.other_cpu_share_before = load.other_share(before, load.cpu_times(group)) if group else None
            start = load.cpu_times(group) if group else None  # (a server we did not start: its CPU is not ours)
            summary, stop, paused = self.blocks(cell, facts, server, earlier)
            facts.other_cpu_share = load.other_share(start, load.cpu_times(group))
            busy = load.warning(facts.other_cpu_share, facts.other_cpu_share_before, facts.gpu_busy_before_pct)
            facts.warnings += [busy] if busy else []
            for w in summary.warnings:
                self.echo(f"  WARNING: {w}")
            self.probes.after_run(cell, server, drafted_before, facts, summary)
            facts.position_counts = facts.position_counts or summary.position_counts  # vLLM's, from /metrics
            facts.distribution_samples = self.distribution_samples(cell, server.url, facts)
            _server_health(server, summary, facts)
            if not cell.setup.is_baseline and (cell.level.concurrency > 1 or cell.level.request_rate is not None):
                facts.slots = slots.per_slot(probes.read_log(server.log_path), len(summary.requests)) or None
                for w in slots.lagging(facts.slots or []):
                    facts.warnings.append(w)
                    self.echo(f"  WARNING: {w}")
            log = probes.read_log(server.log_path, memory.LOG_CHARS)
            found = self.estimate(cell, log, server.command)
            facts.memory = replace(
                memory.measured(log, server.peak_rss_mib, server.peak_vram_mib),
                estimate_mib=found.total_mib if found else None,
                estimate_repacked_mib=sum(mib for _, mib in found.repacked_mib) if found else None,
            )
        except ServerStartError as exc:
            facts.failed(exc.short, exc.log_tail)
        except (Interrupted, ResultsFileError):
            raise
        except DraftbenchError as exc:  # missing model, port taken, a setup this build cannot run: the run fails
            facts.failed(str(exc))
            if server is not None and not server.alive():  # it died before a request reached it
                facts.failed(f"the server died before measurement, {_exit_cause(server)}: {exc}", server.log_tail())
        finally:
            if server is not None and not self.sessions.holds(server):
                server.stop()
        facts.wall_time_s = time.monotonic() - started
        return self.record(cell, facts, summary, stop, paused)

    def estimate(self, cell: Cell, log: str, command: list[str]) -> footprint.Estimate | None:
        """The dry run's estimate of ``cell``'s memory (GGUF headers and ctx_size), kept beside the measurement; its
        repacked weights as the server's own features (its log's system_info) and flags decide them."""
        if not self.cfg.backend.local_files:
            return None
        o = self.cfg.settings.server
        return footprint.estimate(
            cell.target.path,
            cell.setup.speculation,
            o.ctx_size,
            self.sessions.slots,
            repacking.Features.from_log(log),
            o.gpu_layers,
            not footprint.no_repack(command),
        )

    def unlike_baseline(self, cell: Cell, facts: RunFacts) -> list[str]:
        """A warning where a setup's server ran with fixes (``--no-repack``) its baseline's did not, or the other
        way round: the target itself then runs at another speed, and the speedup says so."""
        base = self.runs.get(cell.baseline_key)
        if cell.setup.is_baseline or base is None or not base.done or (base.server_fixes or []) == (facts.server_fixes or []):
            return []
        mine, theirs = " ".join(facts.server_fixes or []) or "none", " ".join(base.server_fixes or []) or "none"
        return [
            f"its server ran with added flags {mine}, its baseline's with {theirs}: the target runs at another "
            "speed under each, so the speedup mixes the two; rerun with --fresh to measure every setup alike"
        ]

    def distribution_samples(self, cell: Cell, url: str, facts: RunFacts) -> DistributionSamples | None:
        """``check_distribution``'s continuations on the cell's server, at a temperature above 0 (a failure is a
        warning: the run's measurements stand)."""
        s = self.cfg.settings
        temperature = s.temperature_at(cell.level)
        if not s.check_distribution or temperature <= 0:
            return None
        self.echo("  Distribution check: sampling short continuations ... ", end="")
        t0 = time.monotonic()
        try:
            drawn = distribution.draw(
                url, self.cfg.backend.completion_path, self.cfg.prompts, temperature, s.seed, self.api_key, s.request_timeout_s
            )
        except DraftbenchError as exc:
            self.echo("failed")
            facts.warnings.append(f"distribution check not done: {exc}")
            return None
        finally:
            self.acct.distribution_s += time.monotonic() - t0
        self.echo(f"{drawn.tokens_drawn} tokens")
        return drawn

    def bench_config(
        self, cell: Cell, url: str, size: int, skip: int, warmup: int, shared: bool = False, first: bool = False
    ) -> BenchConfig:
        """How ``size`` requests of ``cell`` are measured, from position ``skip`` of the prompt schedule; on a
        server's ``first`` block, a warm-pool setup's traffic first: prompts the schedule never measures."""
        return BenchConfig.of(
            self.cfg.settings,
            url,
            self.cfg.prompts,
            self.api_key,
            requests=size,
            skip=skip,
            concurrency=cell.level.concurrency,
            temperature=self.cfg.settings.temperature_at(cell.level),
            depth=cell.level.depth or 0,
            request_rate=cell.level.request_rate,
            contexts=self.cfg.contexts,
            warmup=warmup,
            expect_draft=not cell.setup.is_baseline,
            extra_body=tuple(request_fields(cell.setup.speculation).items()) if shared else (),
            traffic=traffic(self.cfg, cell) if first else (),
        )

    def blocks(
        self, cell: Cell, facts: RunFacts, server: process.ServerProcess, earlier: RunResult | None
    ) -> tuple[BenchSummary, stopping.Stop | None, bool]:
        """The run's requests, in one block (exhaustive, baselines) or in blocks with a look after each
        (adaptive): saved between blocks, stopped when the look says so. Returns their summary, the stop (None:
        measured in full or paused) and whether it paused."""
        s = self.cfg.settings
        shared = self.sessions.shares_setups(server)
        kept = list(earlier.requests) if earlier else []
        kept_wall_s = (earlier.loop_wall_s or 0.0) if earlier else 0.0
        total = s.requests * s.runs
        sizes = [total - scheduled(kept)] if cell.setup.is_baseline else self.search.sizes(scheduled(kept))
        blocks: list[BenchSummary] = []
        for i, size in enumerate(sizes):
            t0 = time.monotonic()
            done = scheduled(kept) + sum(scheduled(b.requests) for b in blocks)
            blocks.append(
                run_bench(self.bench_config(cell, server.url, size, done, s.warmup if i == 0 else 0, shared, first=i == 0))
            )
            self.acct.generation_s += time.monotonic() - t0
            process.raise_if_signalled()  # a SIGTERM during the block whose exception a finalizer swallowed
            summary = merge(blocks, not cell.setup.is_baseline, kept, kept_wall_s)
            if i == len(sizes) - 1 or not server.alive() or summary.n_failed_requests == summary.n_requests:
                break
            run = self.record(cell, facts, summary, paused=True)
            if self.search.pauses(cell, self.runs):
                self.echo(f"  Paused after {summary.n_requests} of {total} requests: {self.search.pause_note}")
                return summary, None, True
            stopped = self.look(run)
            if stopped:
                return summary, stopped, False
            self.store.save()
        if s.conversation == "replay" and cell.setup.speculation.stateful:
            summary.warnings.extend(shared_pool(summary.requests))
        return summary, None, False

    def look(self, run: RunResult) -> stopping.Stop | None:
        """The look after a block of the adaptive search: the run's stop (and it is said), or None to go on."""
        learnt = self.search.verdict(run)
        if learnt:
            self.echo(f"  WARNING: {learnt}")
        decision = self.search.look(run, self.runs)
        if decision is not None and decision.pruned:
            self.echo(f"  Stopped after {run.n_requests} of {self.search.total} requests: {decision.reason()}")
            return stopping.Stop.of(decision)
        self.echo(f"  {run.n_requests}/{self.search.total} requests: " + (decision.reason() if decision else "measuring"))
        return None

    def stopped_without_measuring(self, run: RunResult) -> RunResult | None:
        """A setup paused after screening gets its first look when the race picks it, before a server starts:
        most stop here, against the leader finished meanwhile. The stopped run, or None to measure on."""
        if not self.search.look_pending(run):
            return None
        stop = self.look(run)
        return replace(run, **stop.fields()) if stop else None  # type: ignore[arg-type]  # RunResult's own fields

    def predicted_stop(self, cell: Cell) -> RunResult | None:
        """A setup the search stops on its prediction, never measured (the model search): its record, said."""
        stop = self.search.predicted_stop(cell, self.runs)
        if stop is None:
            return None
        self.echo(f"  Not measured: {stop.reason}")
        return self.record(cell, RunFacts(), None, stop)

    def skip_reason(self, cell: Cell) -> str | None:
        if not cell.setup.is_baseline:
            base = self.runs.get(cell.baseline_key)
            if base is None or not base.done:
                return f"skipped: target {cell.target.label!r} has no baseline (its baseline run failed)"
        if not self.cfg.backend.local_files:
            return None  # hub ids, not files
        for path, role in ((cell.target.path, "target"), (cell.setup.speculation.draft_path, "draft")):
            if path is not None:
                try:
                    gguf_header.check_gguf(path, f"{role} model")
                except ModelFileError as exc:
                    return f"skipped: {exc}"
        return None


def _exit_cause(server: process.ServerProcess) -> str:
    code = server.proc.returncode if server.proc else None
    number = crash.signal_of(code) if code is not None and code < 0 else None
    return crash.killed_by(number) if number is not None else f"exit code {code}"


def _server_health(server: process.ServerProcess, summary: BenchSummary, facts: RunFacts) -> None:
    """After a run: the server's peak memory, and the run's error when the server died or every request failed."""
    server.sample_memory()
    facts.peak_rss_mib, facts.peak_vram_mib = server.peak_rss_mib, server.peak_vram_mib
    if not server.alive():
        facts.failed(
            f"the server died during measurement, {_exit_cause(server)}; "
            f"{summary.n_failed_requests} of {summary.n_requests} requests failed",
            server.log_tail(),
        )
    elif summary.n_failed_requests == summary.n_requests:
        facts.failed(f"all {summary.n_requests} requests failed: {summary.requests[0].error}", server.log_tail())
