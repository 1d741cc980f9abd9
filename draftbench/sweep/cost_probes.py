"""The cost model's parts, measured during a sweep: each draft model's own decode speed (a short run on a server of
its own, once per draft), the target's verification cost v(k) from prompt batches on its baseline server, the
verification time per pass in the speculative loop (below), and the drafting time per pass and the accepted
tokens by position read from the server's log around a run.

Verification in the loop: before a setup is measured, the same setup runs once more on a server of its own with
synthetic acceptance (``--spec-synth-rates``: each drafted position accepted with probability ``SYNTH_RATE``
while all before it were, whatever the tokens), on the schedule's first prompt, a short warm-up and one request of
``IN_LOOP_TOKENS``. Its passes verify the same batch sizes with the same draft resident as the real run, so
its time per pass, less its own drafting (in-process), is the verification time per pass at that batch size.
No figure of the run being predicted enters it: acceptance is forced, the text is another, the server is
another. Cost: one more server start and two short requests per setup (2.9 to 7.6 s each on the demo family).
Builds without the synthetic flags, and setups with n-gram types (their draft length is not draft_max, and the
rates must match it), fall back to prompt batches; the parts say which method was used."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

from ..errors import DraftbenchError, Interrupted
from ..measure import probes
from ..measure.bench import BenchConfig, run_bench
from ..records.probes import DraftAlone, LoopVerification
from ..server import llama_bin, process
from ..setup.config import SweepConfig
from ..setup.speculation import DRAFT_FAMILY, Speculation, type_family
from .console import Accounting, Console
from .facts import RunFacts
from .plan import Cell

DRAFT_ALONE_REQUESTS = 2
SYNTH_RATE = 0.75  # the calibration's acceptance of each position, given the ones before it
IN_LOOP_TOKENS = 64
IN_LOOP_WARMUP_TOKENS = 16
SYNTH_LENGTH = "1.5"  # where the setup leaves the draft length to the server: a mean length every length allows


def twin(spec: Speculation, synth: tuple[str, str]) -> Speculation:
    """The setup's synthetic-acceptance twin: the same setup with ``synth``, and no p-min. A p-min cut ends drafts
    whatever the synthetic rates say, and passes that draft nothing are not counted as passes while their time is
    (the demo's p-min 0.9 twins counted 7 passes where p-min 0.5 counted 14 to 17, for 3x the time per pass): the
    twin times verification at a batch size, which p-min does not change."""
    return replace(spec, extra_args=(*spec.extra_args, *synth)).with_axes(
        {"draft_p_min": 0.0 if spec.draft_p_min else spec.draft_p_min}
    )


class CostProbes:
    def __init__(
        self,
        cfg: SweepConfig,
        launch: Callable[[process.ServerSpec], process.ServerProcess],
        echo: Console,
        api_key: str | None,
        acct: Accounting,
        note: Callable[[str, object], None],
    ):
        self.cfg, self.launch, self.echo, self.api_key, self.acct = cfg, launch, echo, api_key, acct
        self.note = note  # records what was measured in the results file's metadata
        self.on = cfg.settings.cost_model and cfg.backend.cost_model
        self.draft_alone: dict[str, DraftAlone] = {}  # draft path -> its speed alone, or why not

    def wants_draft_alone(self, cell: Cell) -> bool:
        """Is the setup's draft a model of its own, to be timed alone (a head cannot run without its target)?"""
        spec = cell.setup.speculation
        return self.on and bool(spec.draft_path) and not spec.uses_head

    def draft_alone_config(self, url: str) -> BenchConfig:
        return BenchConfig.of(self.cfg.settings, url, self.cfg.prompts, self.api_key, requests=DRAFT_ALONE_REQUESTS, warmup=1)

    def wants_twin(self, cell: Cell) -> bool:
        """Does the setup get a synthetic-acceptance twin (see the module note)? Not n-gram types: their draft
        length is not draft_max, and the rates must match it."""
        spec = cell.setup.speculation
        return (
            self.on
            and not spec.is_baseline
            and cell.level == self.cfg.settings.levels()[0]
            and all(type_family(t) == DRAFT_FAMILY for t in spec.spec_type)
            and self.synthetic()
        )

    def twin_configs(self, url: str) -> tuple[BenchConfig, BenchConfig]:
        """The twin's requests: a short warm-up, then the one it is timed on."""
        s = self.cfg.settings
        one = BenchConfig.of(
            s, url, self.cfg.prompts[:1], self.api_key, requests=1, warmup=0, max_tokens=min(IN_LOOP_TOKENS, s.max_tokens)
        )
        return replace(one, max_tokens=min(IN_LOOP_WARMUP_TOKENS, s.max_tokens)), one

    def wants_verify_costs(self, cell: Cell) -> bool:
        """v(k) is measured on each target's baseline at the lowest level (one stream)."""
        return self.on and cell.setup.is_baseline and cell.level == self.cfg.settings.levels()[0]

    def draft_alone_tps(self, cell: Cell, log_path: str, release: Callable[[], None]) -> float | None:
        """The draft model's own decode speed (its step cost), measured once per draft model (``release`` first
        stops a server kept for the next cell)."""
        path = cell.setup.speculation.draft_path
        if self.on and path and cell.setup.speculation.uses_head:
            self.echo("  Draft alone: none for a head (it cannot run without its target): drafting is timed in-process")
        if not self.wants_draft_alone(cell) or not path:
            return None
        if path not in self.draft_alone:
            release()
            s = self.cfg.settings
            self.echo("  Draft alone, for the cost model ... ", end="")
            t0 = time.monotonic()
            try:
                with self.launch(process.ServerSpec(path, options=s.server, log_path=log_path)) as server:
                    summary = run_bench(self.draft_alone_config(server.url))
                found = DraftAlone(summary.mean_tps, (summary.n_requests or 0) - (summary.n_failed_requests or 0))
            except Interrupted:
                raise
            except DraftbenchError as exc:
                found = DraftAlone(error=str(exc).splitlines()[0])
            self.acct.probe_s += time.monotonic() - t0
            self.draft_alone[path] = found
            self.note("draft_alone", self.draft_alone)
            tps = found.decode_tps
            self.echo(f"{tps:.2f} tok/s" if tps else f"failed: {found.error or 'no speed measured'}")
        return self.draft_alone[path].decode_tps

    def in_loop(self, cell: Cell, log_path: str, release: Callable[[], None], earlier: Any = None) -> LoopVerification | None:
        """The setup's verification time per pass in the speculative loop, from a run of the same setup with
        synthetic acceptance (see the module note), once per cell (a run continued from ``earlier`` keeps its
        figure); None where the build cannot or the run failed."""
        if earlier is not None and earlier.verify_in_loop:
            return earlier.verify_in_loop
        spec = cell.setup.speculation
        s = self.cfg.settings
        if not self.wants_twin(cell):
            return None
        rates = ",".join(f"{SYNTH_RATE ** (i + 1):.6f}" for i in range(spec.draft_max)) if spec.draft_max else None
        synth = ("--spec-synth-rates", rates) if rates else ("--spec-synth-len", SYNTH_LENGTH)
        release()
        self.echo("  The same setup with synthetic acceptance, for the cost model ... ", end="")
        t0 = time.monotonic()
        found = None
        try:
            with self.launch(process.ServerSpec(cell.target.path, twin(spec, synth), s.server, log_path)) as server:
                warm, one = self.twin_configs(server.url)
                run_bench(warm)
                before = probes.wait_for_stats(server.log_path, None, 1)
                summary = run_bench(one)
                found = _in_loop(before, probes.wait_for_stats(server.log_path, before, 1), summary)
        except Interrupted:
            raise
        except DraftbenchError as exc:
            self.echo(f"failed: {str(exc).splitlines()[0]}")
            return None
        finally:
            self.acct.probe_s += time.monotonic() - t0
        self.echo(
            f"{found.verify_ms_per_pass:.1f} ms per pass verifying {1 + found.drafted_per_pass:.1f} tokens"
            if found
            else "not reported by this server"
        )
        return found

    def synthetic(self) -> bool:
        """Does this llama-server build have synthetic acceptance (both flags)?"""
        flags, _ = llama_bin.probe(llama_bin.find_llama_server(self.cfg.settings.server.llama_bin))
        return {"--spec-synth-rates", "--spec-synth-len"} <= flags.flags

    @staticmethod
    def mark(server: process.ServerProcess) -> probes.DraftStats | None:
        """The drafting statistics in the server's log so far (what a run's own drafting is measured from)."""
        return probes.last_draft_stats(probes.read_log(server.log_path))

    def after_run(
        self, cell: Cell, server: process.ServerProcess, before: probes.DraftStats | None, facts: RunFacts, summary: Any
    ) -> None:
        """Into ``facts``: the run's drafting time per pass, and v(k) on a baseline at the lowest level (one stream)."""
        sent = summary.n_requests + (self.cfg.settings.warmup if summary.n_requests else 0)
        after = probes.wait_for_stats(server.log_path, before, sent) if not cell.setup.is_baseline else None
        facts.draft_ms_per_pass = probes.drafting_ms_per_pass(before, after)
        facts.position_counts = probes.position_counts(before, after)
        if self.wants_verify_costs(cell) and server.alive():
            t0 = time.monotonic()
            costs = probes.verify_costs(server.url, self.api_key, self.cfg.settings.request_timeout_s)
            facts.verify_costs = {str(k): v for k, v in costs.items()} if costs else None
            self.acct.probe_s += time.monotonic() - t0


def _in_loop(before: probes.DraftStats | None, after: probes.DraftStats | None, summary: Any) -> LoopVerification | None:
    """Verification per pass of a synthetic-acceptance run: its decode time over its passes, less drafting."""
    done = [q for q in summary.requests if q.error is None and q.decode_tps and q.completion_tokens]
    drafting = probes.drafting_ms_per_pass(before, after)
    passes = after.accept_calls - (before.accept_calls if before else 0) if after else 0
    if not done or drafting is None or passes <= 0:
        return None
    decode_ms = sum(1000.0 * q.completion_tokens / q.decode_tps for q in done)
    counts = [q.draft_n or 0 for q in done]
    return LoopVerification(decode_ms / passes - drafting, sum(counts) / passes, passes, drafting, SYNTH_RATE)
