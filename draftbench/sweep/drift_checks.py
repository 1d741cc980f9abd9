"""Baseline checks: each target's baseline measured again during the sweep, so that drift (a machine slower or
faster than when the baseline ran) is measured and corrected (:mod:`results.drift`). A check is one block of the
schedule's first prompts on a server of its own, after every ``baseline_every`` setups measured and once after a
target's last. Cost per check: one more load of the target, its warm-up and ``block`` requests."""

from __future__ import annotations

import time
from dataclasses import replace

from ..core import stats
from ..core.redaction import visible
from ..errors import DraftbenchError, Interrupted, ResultsFileError
from ..measure.bench import run_bench
from ..results import analysis, drift
from ..results.comparison import keyed
from ..results.schema import BaselineCheck
from ..setup.config import SweepConfig
from .cells import CellMeasurer
from .console import Accounting, Console
from .plan import Cell
from .sessions import Sessions
from .store import ResultsStore


class BaselineChecks:
    def __init__(self, cfg: SweepConfig, plan: list[Cell], store: ResultsStore, sessions: Sessions,
                 cells: CellMeasurer, echo: Console, acct: Accounting):
        self.cfg, self.plan, self.store, self.sessions, self.cells, self.echo, self.acct = \
            cfg, plan, store, sessions, cells, echo, acct
        s = cfg.settings
        self.every, self.size = s.baseline_every, min(s.block, s.requests * s.runs)
        self.since: dict[tuple, list[str]] = {}  # baseline key -> setups measured since its last check

    def measured(self, cell: Cell) -> None:
        """A setup has just measured requests: count it, and check its baseline when due (not while a server
        is kept for the next cell: that check waits for the next cell without one)."""
        if self.every and not cell.setup.is_baseline:
            self.since.setdefault(cell.baseline_key, []).append(cell.setup.label or "")
        for key in [k for k, labels in self.since.items() if len(labels) >= self.every]:
            if self.sessions.held is None:
                self.check(key)

    def finish(self, target: str | None = None) -> None:
        """At a target's end (None: the sweep's): check each of its baselines with setups measured since its last."""
        for key in [k for k, labels in self.since.items() if labels and target in (None, k[0])]:
            self.check(key)

    def check(self, key: tuple) -> None:
        labels, base = self.since.pop(key, []), self.store.runs.get(key)
        cell = next((c for c in self.plan if c.key == key), None)
        if base is None or not base.done or cell is None or not labels:
            return
        n = len(base.baseline_checks or []) + 1
        self.echo(f"\nBaseline check {n}: {visible(cell.title)} again after {len(labels)} setup"
                  f"{'s' if len(labels) > 1 else ''} ({visible(labels[-1])} last)")
        server, t0 = None, time.monotonic()
        try:
            server = self.sessions.server_for(cell, {}, self.cells.log_path(cell, f"__check-{n}"))
            summary = run_bench(self.cells.bench_config(cell, server.url, self.size, 0, self.cfg.settings.warmup))
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
        base = self.store.runs[key] = replace(base, baseline_checks=[*(base.baseline_checks or []),
                                                                     BaselineCheck(labels[-1], list(summary.requests))])
        greedy = self.cfg.settings.temperature == 0
        for k, run in list(self.store.runs.items()):
            if run.draft is not None and run.baseline_key == key:
                self.store.runs[k] = analysis.compared(run, base, greedy)
        self.store.save()
        ratio = stats.compare(keyed(summary.requests), keyed(base))
        self.echo(f"  {summary.mean_tps or 0:.2f} tok/s on {summary.n_requests} requests: "
                  f"{stats.ratio_text(ratio) if ratio else 'n/a'} vs its first measurement")
        shift = drift.of(base)
        if shift is not None and shift.exceeds(self.cfg.settings.resolution):
            self.echo(f"  WARNING: {shift.sentence()}")
