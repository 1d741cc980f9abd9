"""Baseline checks: each target's baseline measured again during the sweep, so that drift (a machine slower or
faster than when the baseline ran) is measured and corrected (:mod:`results.drift`). A check is one block of the
schedule's first prompts on a server of its own: after every ``baseline_every`` setups measured, right after a
setup measured while other processes' share of the CPUs differed by ``LOAD_CHANGE`` or more from the last
baseline measurement's (the machine changed: the next reference should see it), and once after a target's last
setup. Cost per check: one more load of the target, its warm-up and ``block`` requests.

A baseline first measured on a busy machine (``load.BUSY_SHARE``) is measured again in full, every prompt, by its
next check, and at its target's end if none came (a re-measure costs what the baseline cost); the reference then
leaves the busy measurement out (:mod:`results.drift`)."""

from __future__ import annotations

import time
from dataclasses import replace

from ..core import load, stats
from ..core.redaction import visible
from ..errors import DraftbenchError, Interrupted, ResultsFileError
from ..measure.bench import run_bench
from ..records.requests import scheduled
from ..results import drift
from ..results.schema import BaselineCheck, RunResult
from ..setup.config import SweepConfig
from .cells import CellMeasurer
from .console import Accounting, Console
from .facts import RunFacts
from .plan import Cell
from .sessions import Sessions
from .store import ResultsStore

LOAD_CHANGE = 0.15  # a change in other processes' share of the CPUs that calls for a check now


def check_size(cfg: SweepConfig) -> int:
    """Requests of one baseline check: one block of the schedule's first prompts."""
    return min(cfg.settings.block, cfg.settings.requests * cfg.settings.runs)


def needs_full(base: RunResult) -> bool:
    """Was the baseline measured only on a busy machine, with no quiet measurement of every prompt since?"""
    full = drift.full_checks(base)
    return drift.first_busy(base) and all(load.busy(c.other_cpu_share) for c in full) and len(full) < 2


class BaselineChecks:
    def __init__(
        self,
        cfg: SweepConfig,
        plan: list[Cell],
        store: ResultsStore,
        sessions: Sessions,
        cells: CellMeasurer,
        echo: Console,
        acct: Accounting,
    ):
        self.cfg, self.plan, self.store, self.sessions, self.cells, self.echo, self.acct = (
            cfg,
            plan,
            store,
            sessions,
            cells,
            echo,
            acct,
        )
        s = cfg.settings
        self.every, self.size = s.baseline_every, check_size(cfg)
        self.since: dict[tuple, list[str]] = {}  # baseline key -> setups measured since its last check
        self.urgent: set[tuple] = set()  # baseline keys to check now: the load changed
        self.active: set[tuple] = set()  # baseline keys whose setups this session measured

    @staticmethod
    def planned(cfg: SweepConfig, plan: list[Cell]) -> list[Cell]:
        """The baseline cells checked, one entry per check, on a machine whose load stays steady: each target's
        baseline at each level after every ``baseline_every`` of its setups and after its last."""
        every = cfg.settings.baseline_every
        setups = [c for c in plan if not c.setup.is_baseline]
        return [
            base
            for base in plan
            if base.setup.is_baseline and every
            for _ in range(-(-sum(c.baseline_key == base.key for c in setups) // every))
        ]

    def measured(self, cell: Cell, run: RunResult) -> None:
        """A setup has just measured requests: count it, and check its baseline when due, or at once when the
        machine's load changed since the baseline's last measurement (not while a server is kept for the next
        cell: that check waits for the next cell without one)."""
        if not self.every or cell.setup.is_baseline:
            return
        key = cell.baseline_key
        self.active.add(key)
        self.since.setdefault(key, []).append(cell.setup.label or "")
        then, now = self._load_then(key), run.other_cpu_share
        if then is not None and now is not None and abs(now - then) >= LOAD_CHANGE:
            self.urgent.add(key)
        for k in [k for k, labels in self.since.items() if len(labels) >= self.every or k in self.urgent]:
            if self.sessions.held is None:
                self.check(k)

    def _load_then(self, key: tuple) -> float | None:
        base = self.store.runs.get(key)
        checks = (base.baseline_checks or []) if base is not None else []
        return checks[-1].other_cpu_share if checks else base.other_cpu_share if base is not None else None

    def finish(self, target: str | None = None) -> None:
        """At a target's end (None: the sweep's): check each of its baselines with setups measured since its last,
        and measure again in full each one measured only on a busy machine."""
        for key in [k for k, labels in self.since.items() if labels and target in (None, k[0])]:
            self.check(key)
        busy = [
            c.key
            for c in self.plan
            if c.setup.is_baseline
            and target in (None, c.target.label)
            and c.key in self.active
            and (base := self.store.runs.get(c.key)) is not None
            and base.done
            and needs_full(base)
        ]  # only where this session measured setups: a re-measure is their reference
        for key in busy if self.every else []:
            self.check(key, "no setup (the first measurement was busy)")

    def check(self, key: tuple, after: str | None = None) -> None:
        labels, base = self.since.pop(key, []), self.store.runs.get(key)
        self.urgent.discard(key)
        cell = next((c for c in self.plan if c.key == key), None)
        if base is None or not base.done or cell is None or not (labels or after):
            return
        n, full = len(base.baseline_checks or []) + 1, needs_full(base)
        size = scheduled(base.requests) if full else self.size
        what = "in full (its first measurement was on a busy machine)" if full else "again"
        self.echo(
            f"\nBaseline check {n}: {visible(cell.title)} {what} after "
            + (
                f"{len(labels)} setup{'s' if len(labels) > 1 else ''} ({visible(labels[-1])} last)"
                if labels
                else "its target's setups"
            )
        )
        server, t0 = None, time.monotonic()
        try:
            server = self.sessions.server_for(cell, RunFacts(), self.cells.log_path(cell, f"__check-{n}"))
            group = server.proc.pid if server.proc is not None else None
            start = load.cpu_times(group) if group else None
            summary = run_bench(self.cells.bench_config(cell, server.url, size, 0, self.cfg.settings.warmup))
            share = load.other_share(start, load.cpu_times(group))
        except (Interrupted, ResultsFileError):
            raise
        except DraftbenchError as exc:  # the server did not start, or its requests failed: the sweep goes on
            self.echo(f"  Check failed, drift not measured here: {getattr(exc, 'short', exc)}")
            return
        finally:
            self.sessions.release()
            if server is not None:
                server.stop()
            self.acct.check_s += time.monotonic() - t0 - ((server.load_time_s or 0.0) if server else 0.0)
        check = BaselineCheck(labels[-1] if labels else str(after), list(summary.requests), share)
        base = self.store.put(replace(base, baseline_checks=[*(base.baseline_checks or []), check]))
        self.store.save()  # its setups' speedups are corrected for the drift it measured
        ratio = drift.check_ratio(check, base)
        self.echo(
            f"  {summary.mean_tps or 0:.2f} tok/s on {summary.n_requests} requests: "
            f"{stats.ratio_text(ratio) if ratio else 'n/a'} vs its first measurement"
        )
        shift = drift.of(base)
        if shift is not None and shift.exceeds(self.cfg.settings.resolution):
            self.echo(f"  WARNING: {shift.sentence()}")
