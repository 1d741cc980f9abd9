"""The cost model's parts, measured during a sweep: each draft model's own decode speed (a short run on a server of
its own, once per draft), the target's verification cost v(k) on its baseline server, and the drafting time per
pass read from the server's log around a run."""

from __future__ import annotations

import time
from typing import Any, Callable

from ..errors import DraftbenchError, Interrupted
from ..measure import probes
from ..measure.bench import BenchConfig, run_bench
from ..server import process
from ..setup.config import SweepConfig
from .console import Accounting, Console
from .plan import Cell

DRAFT_ALONE_REQUESTS = 2


class CostProbes:
    def __init__(self, cfg: SweepConfig, launch: Callable[[process.ServerSpec], process.ServerProcess],
                 echo: Console, api_key: str | None, acct: Accounting, note: Callable[[str, object], None]):
        self.cfg, self.launch, self.echo, self.api_key, self.acct = cfg, launch, echo, api_key, acct
        self.note = note  # records what was measured in the results file's metadata
        self.on = cfg.settings.cost_model and cfg.backend.cost_model
        self.draft_alone: dict[str, dict] = {}  # draft path -> {"decode_tps", "n_requests"} or {"error"}

    def draft_alone_tps(self, cell: Cell, log_path: str, release: Callable[[], None]) -> float | None:
        """The draft model's own decode speed (its step cost), measured once per draft model (``release`` first
        stops a server kept for the next cell)."""
        path = cell.setup.speculation.draft_path
        if not path or not self.on:
            return None
        if path not in self.draft_alone:
            release()
            s = self.cfg.settings
            self.echo("  Draft alone, for the cost model ... ", end="")
            t0 = time.monotonic()
            try:
                with self.launch(process.ServerSpec(path, options=s.server, log_path=log_path)) as server:
                    summary = run_bench(BenchConfig(
                        url=server.url, requests=DRAFT_ALONE_REQUESTS, max_tokens=s.max_tokens, warmup=1,
                        prompts=self.cfg.prompts, temperature=s.temperature, seed=s.seed,
                        timeout_s=s.request_timeout_s, api_key=self.api_key, endpoint=s.endpoint))
                found: dict[str, Any] = {"decode_tps": summary.mean_tps,
                                         "n_requests": summary.n_requests - summary.n_failed_requests}
            except Interrupted:
                raise
            except DraftbenchError as exc:
                found = {"error": str(exc).splitlines()[0]}
            self.acct.probe_s += time.monotonic() - t0
            self.draft_alone[path] = found
            self.note("draft_alone", self.draft_alone)
            tps = found.get("decode_tps")
            self.echo(f"{tps:.2f} tok/s" if tps else f"failed: {found.get('error', 'no speed measured')}")
        return self.draft_alone[path].get("decode_tps")

    @staticmethod
    def mark(server: process.ServerProcess) -> probes.DraftStats | None:
        """The drafting statistics in the server's log so far (what a run's own drafting is measured from)."""
        return probes.last_draft_stats(probes.read_log(server.log_path))

    def after_run(self, cell: Cell, server: process.ServerProcess, before: probes.DraftStats | None,
                  facts: dict[str, Any]) -> None:
        """Into ``facts``: the run's drafting time per pass, and v(k) on a baseline at the lowest level (one stream)."""
        facts["draft_ms_per_pass"] = probes.drafting_ms_per_pass(before, self.mark(server))
        if cell.setup.is_baseline and cell.level == self.cfg.settings.concurrency[0] and self.on and server.alive():
            t0 = time.monotonic()
            costs = probes.verify_costs(server.url, self.api_key, self.cfg.settings.request_timeout_s)
            facts["verify_costs"] = {str(k): v for k, v in costs.items()} if costs else None
            self.acct.probe_s += time.monotonic() - t0
