"""Run a sweep's plan: baseline then each speculation setup per target, saving after every run."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from typing import Callable

from ..core import gguf_header, machine
from ..core.files import check_writable
from ..core.redaction import visible
from ..errors import Interrupted
from ..results.schema import RunResult
from ..server import backends, ports, process
from ..setup.config import SweepConfig
from ..setup.levels import varying
from . import shards
from .adaptive import Search
from .cells import CellMeasurer
from .console import Accounting, Console, SweepOutcome, run_lines, summary_lines
from .cost_probes import CostProbes
from .drift_checks import BaselineChecks
from .eta import Estimator, Work, progress_line
from .facts import RunFacts
from .lock import ResultsLock
from .model_search import ModelSearch
from .plan import Cell, build_plan, check_setups, template_warnings
from .scheduler import Policy
from .sessions import Sessions
from .store import ResultsStore

__all__ = ["Sweep", "SweepOutcome", "summary_lines", "default_results_path"]

Echo = Callable[..., None]


def _stderr(msg: str, end: str = "\n") -> None:
    print(msg, file=sys.stderr, flush=True, end=end)


def _flag_value(args: tuple[str, ...], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def default_results_path(cfg: SweepConfig, hardware: str, shard: shards.Shard | None = None) -> str:
    """results/<hardware>_<backend>_<name>.json, with _shard-I-of-N for a shard of a fleet."""
    stem = "_".join(re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-") or "x" for part in (hardware, cfg.backend.name, cfg.name))
    return os.path.join("results", stem + (shard.suffix if shard else "") + ".json")


POLICIES: dict[str, type[Policy]] = {"exhaustive": Policy, "adaptive": Search, "model": ModelSearch}


class Sweep:
    """One sweep: its plan measured cell by cell, the results saved after each (see :meth:`run` for the steps)."""

    def __init__(
        self,
        cfg: SweepConfig,
        results_path: str | None = None,
        fresh: bool = False,
        echo: Echo = _stderr,
        api_key: str | None = None,
        shard: shards.Shard | None = None,
    ):
        self.cfg, self.fresh = cfg, fresh
        self.echo = Console(echo, echo is _stderr and sys.stderr.isatty())
        self.eta = Estimator(gguf_header.file_size)
        hardware = machine.hardware_id() if cfg.hardware in ("", "auto") else cfg.hardware
        self.results_path = results_path or default_results_path(cfg, hardware, shard)
        self.api_key = api_key or _flag_value(cfg.settings.server.extra_args, "--api-key")
        self.plan: list[Cell] = build_plan(cfg)
        self.shard = None
        if shard is not None:  # a part of the plan, with the baselines of its targets
            self.plan, self.shard = shards.part(cfg, self.plan, shard, gguf_header.file_size)
        self.store = ResultsStore(self.results_path, cfg, self.plan, hardware, self.shard)
        self.runs = self.store.runs
        self.acct = Accounting()
        self.search = POLICIES.get(cfg.settings.search, Policy)(cfg.settings)  # who picks the cells (settings.search)
        self.sessions = Sessions(
            cfg,
            self.plan,
            self._launch,
            self.echo,
            self.api_key,
            self.acct,
            note=self.store.note,
            keep_levels=not self.search.adaptive,
        )
        self.probes = CostProbes(cfg, self._launch, self.echo, self.api_key, self.acct, note=self.store.note)
        self.cells = CellMeasurer(cfg, self.store, self.sessions, self.probes, self.search, self.echo, self.acct, self.api_key)
        self.checks = BaselineChecks(cfg, self.plan, self.store, self.sessions, self.cells, self.echo, self.acct)
        self.settled: set[tuple] = set()  # cells this session has measured, skipped or seen fail: not to go

    def _launch(self, spec: process.ServerSpec) -> process.ServerProcess:
        return backends.launch(self.cfg.backend, spec, warn=lambda m: self.echo(f"  WARNING: {m}"))

    def run(self) -> SweepOutcome:
        check_writable(self.results_path)
        with ResultsLock(self.results_path) as lock:
            if lock.took_over:
                self.echo(
                    f"Took over the lock of {self.results_path} from pid {lock.took_over}, which no longer "
                    "holds it (that sweep ended; the pid may since belong to another program)"
                )
            return self._run()

    def _to_go(self, key: tuple) -> bool:
        """Still to measure: paused between blocks, or neither finished nor tried (a failure) this session."""
        run = self.runs.get(key)
        if run is not None and run.in_progress:
            return True
        return key not in self.settled and not (run is not None and run.done)

    def _progress(self, started: float) -> None:
        """After each run: elapsed, runs left, and the time they should take."""
        s = self.cfg.settings
        left = [
            Work(c.target.path, c.setup.speculation.draft_path, c.level, s.requests * s.runs, s.max_tokens)
            for c in self.plan
            if self._to_go(c.key)
        ]
        done = len(self.plan) - len(left)
        self.echo.status(
            progress_line(
                done, len(self.plan), time.monotonic() - started, self.eta.remaining(left), at_most=self.search.adaptive
            )
        )

    def _run(self) -> SweepOutcome:
        """1. resume what the file holds; 2. check setups and port before any server starts; 3. say what will run;
        4. measure, skip or stop each cell, saving after each, with the baseline measured again along the way
        (:class:`BaselineChecks`); 5. on an interrupt, stop the server and keep the
        file; 6. the outcome: runs, recommendations, time accounting."""
        started = time.monotonic()
        self._resume()
        check_setups(self.cfg)
        if self.cfg.settings.server.port:
            ports.ensure_free(self.cfg.settings.server.host, self.cfg.settings.server.port)
        self._announce()
        try:
            cells = self.search.order(self.plan, self.runs)
            positions: dict[tuple, int] = {}
            target = None
            for cell in cells:
                process.raise_if_signalled()  # a SIGTERM whose exception a finalizer swallowed
                if target not in (None, cell.target.label):
                    self.checks.finish(target)  # a target's last baseline check, before the next one's cells
                target = cell.target.label
                position = positions.setdefault(cell.key, len(positions) + 1)  # a paused setup keeps its number
                before = len(self.runs[cell.key].requests) if cell.key in self.runs else 0
                run = self._cell(cell, f"[{position}/{len(self.plan)}] {visible(cell.title)}")
                if run is None:
                    continue
                if self.store.runs.get(cell.key) is not run:  # stopped before measuring: not yet stored
                    run = self.store.put(run)
                self.settled.add(cell.key)
                self.store.save()
                self.eta.learn(run)
                if len(run.requests) > before:
                    self.checks.measured(cell, run)
                self._progress(started)
            self.checks.finish()
        except (KeyboardInterrupt, Interrupted) as exc:
            self.sessions.release()
            if self.store.unsaved:
                self.store.save()  # a block recorded but not yet saved (a setup paused as the signal came) is kept
            done = sum(r.done for r in self.runs.values())
            self.echo(
                f"\nInterrupted: the server is stopped and {done} finished run(s) are kept in {self.results_path}.\n"
                f"Resume with the same command: finished runs are skipped."
            )
            raise Interrupted(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT) from None
        finally:
            self.sessions.release()
        self.acct.wall_s = time.monotonic() - started
        return SweepOutcome(self.results_path, self.store.evaluation, self.acct)

    def _resume(self) -> None:
        if not self.fresh:
            for run in self.store.load():
                self.eta.learn(run)
        self.probes.draft_alone.update(self.store.carried.get("draft_alone") or {})

    def _announce(self) -> None:
        self.store.start()
        bar = "=" * 60
        plain = not self.cfg.axes and all(c.speculation.draft_path for c in self.cfg.setups)
        levels = self.cfg.settings.levels()
        per = f" x {len(levels)} levels ({'; '.join(lv.text(varying(levels)) for lv in levels)})" if len(levels) > 1 else ""
        self.echo(
            f"{bar}\n  Sweep: {len(self.cfg.targets)} targets x {len(self.cfg.setups)} "
            f"{'drafts' if plain else 'speculation setups'}{per} = "
            f"{self.shard.plan_cells if self.shard else len(self.plan)} runs\n{bar}"
        )
        if self.shard is not None:
            self.echo(
                f"Shard {self.shard.index} of {self.shard.count} (from {self.shard.source}): {len(self.plan)} of "
                f"the plan's {self.shard.plan_cells} runs, the baselines of its targets included"
            )
            if not self.plan:
                self.echo("  Nothing to measure: the plan has fewer setups than there are shards")
                self.store.save()  # the file says this part is empty, so a merge finds every part
        self.echo(f"Results: {self.results_path}")
        warnings = self.cells.template_warnings = template_warnings(self.cfg)
        if warnings:
            self.store.note("warnings", list(warnings.values()))
        for warning in warnings.values():
            self.echo(f"WARNING: {warning}")
        if self.search.describe():
            self.echo(self.search.describe())

    def _cell(self, cell: Cell, title: str) -> RunResult | None:
        """One cell's run: measured, skipped (why is its error), stopped by the adaptive search before a server
        starts, or None when an earlier session finished it."""
        previous = self.runs.get(cell.key)
        unfinished = previous is not None and (previous.in_progress or (previous.pruned and not self.search.adaptive))
        if previous is not None and previous.done and not unfinished:
            self.echo(f"\n{title}: done earlier, skipped" + (" (stopped early)" if previous.pruned else ""))
            return None
        self.echo(
            f"\n{title}"
            + (
                f": continuing after {len(previous.requests)} requests measured earlier"
                if unfinished and previous and previous.requests
                else ""
            )
        )
        reason = self.cells.skip_reason(cell)
        if reason:
            self.echo(f"  {reason}")
            return self.cells.record(cell, RunFacts(error=reason))
        stopped = self.cells.stopped_without_measuring(previous) if unfinished and previous else self.cells.predicted_stop(cell)
        run = stopped or self.cells.measure(cell, previous if unfinished else None)
        for line in [] if run.in_progress else run_lines(run):
            self.echo(line)
        if stopped is None and not run.error:
            self.echo("  Server kept for the next cell" if self.sessions.held else "  Server stopped")
        return run
