"""Run a target x setup matrix: baseline then each speculation setup per target, saving after every run."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from . import __version__, analysis, backends, gguf_header, launcher, llama_bin, machine, ports
from .bench import BenchConfig, run_bench
from .config import ModelEntry, SweepConfig
from .errors import ConfigError, DraftbenchError, Interrupted, ModelFileError, ResultsFileError, ServerStartError
from .lock import ResultsLock
from .speculation import BASELINE, Candidate
from .redaction import redact, visible
from .results import RunResult, check_writable, load_results, save_results

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


def default_results_path(cfg: SweepConfig, hardware: str) -> str:
    stem = "_".join(re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-") or "x"
                    for part in (hardware, cfg.backend, cfg.name))
    return os.path.join("results", stem + ".json")


@dataclass
class Accounting:
    wall_s: float = 0.0
    load_s: float = 0.0
    generation_s: float = 0.0

    @property
    def overhead_s(self) -> float:
        return max(0.0, self.wall_s - self.load_s - self.generation_s)

    def line(self) -> str:
        share = self.overhead_s / self.wall_s if self.wall_s else 0.0
        return (f"Time: {self.wall_s:.1f} s wall = {self.load_s:.1f} s server loads + {self.generation_s:.1f} s "
                f"generation + {self.overhead_s:.1f} s harness overhead ({share:.1%})")


@dataclass
class SweepOutcome:
    results_path: str
    runs: list[RunResult]
    accounting: Accounting
    chart_path: str | None = None
    recommendations: list[analysis.Recommendation] = field(default_factory=list)

    @property
    def failures(self) -> list[RunResult]:
        return [r for r in self.runs if r.error is not None]


class Sweep:
    def __init__(self, cfg: SweepConfig, results_path: str | None = None, fresh: bool = False,
                 echo: Echo = _stderr, api_key: str | None = None):
        self.cfg = cfg
        self.echo = echo
        self.hardware = machine.hardware_id() if cfg.hardware in ("", "auto") else cfg.hardware
        self.results_path = results_path or default_results_path(cfg, self.hardware)
        self.fresh = fresh
        self.api_key = api_key or _flag_value(cfg.settings.server.extra_args, "--api-key")
        self.runs: dict[tuple[str, str | None], RunResult] = {}
        self.meta: dict = {}
        self.acct = Accounting()

    # ---- results file -------------------------------------------------------------------------
    def _load_previous(self) -> None:
        if self.fresh or not os.path.exists(self.results_path):
            return
        data = load_results(self.results_path)  # raises, leaving the file untouched, when corrupt
        saved = data.get("settings") or {}
        mine = self.cfg.comparable()
        differ = [k for k, v in mine.items() if k in saved and saved[k] != v]
        if saved and saved.get("axes") != mine.get("axes") and "axes" not in differ:
            differ.append("axes")
        planned = {(t.label, c.label): c.speculation for t, c in self._plan()}
        for run in data["results"]:
            setup = planned.get(run.key)
            if run.speculation is not None and setup is not None and run.done \
                    and run.speculation.comparable() != setup.comparable():
                differ.append(f"the setup of {visible(run.draft or 'baseline')!r}")
        if differ:
            raise ResultsFileError(
                f"{self.results_path} was measured with other settings ({', '.join(differ)}): resuming would mix "
                "incomparable numbers. Start over with --fresh, or write elsewhere with --results PATH")
        for run in data["results"]:
            self.runs[run.key] = run

    def _save(self) -> None:
        try:
            self._write()
        except OSError as exc:
            raise ResultsFileError(f"cannot write {self.results_path}: {exc.strerror}; the last saved version "
                                   "is intact: free space or fix permissions, then rerun to resume") from exc

    def _write(self) -> None:
        keys = [(t.label, c.label) for t, c in self._plan()]
        extra = [k for k in self.runs if k not in keys]
        runs = [self.runs[k] for k in keys + extra if k in self.runs]
        save_results(self.results_path, self.meta, runs)

    def _metadata(self, version: str | None) -> dict:
        return {
            "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "name": self.cfg.name,
            "hardware": self.hardware,
            "backend": self.cfg.backend,
            "model_family": self.cfg.model_family,
            "settings": self.cfg.settings_record(),
            "draftbench_version": __version__,
            "server_version": version,
            "config_path": os.path.abspath(self.cfg.source) if os.path.exists(self.cfg.source) else self.cfg.source,
            "command_line": [os.path.basename(sys.argv[0])] + sys.argv[1:],
            "machine": machine.machine_info(),
        }

    # ---- one run ----------------------------------------------------------------------------------
    def _log_path(self, index: int, target: ModelEntry, cand: Candidate) -> str:
        stem = os.path.splitext(os.path.basename(self.results_path))[0]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{target.label}__{cand.label or 'baseline'}")
        return os.path.join(os.path.dirname(os.path.abspath(self.results_path)), "logs", stem,
                            f"{index:03d}-{slug[:80]}.log")

    def _new_run(self, target: ModelEntry, cand: Candidate, error: str | None = None) -> RunResult:
        return RunResult(target.label, cand.label, target_path=target.path, error=error,
                         speculation=cand.speculation, draft_size=analysis.setup_category(cand))

    def _measure(self, index: int, target: ModelEntry, cand: Candidate) -> RunResult:
        s = self.cfg.settings
        run = self._new_run(target, cand)
        started = time.monotonic()
        spec = launcher.ServerSpec(target.path, cand.speculation, s.server, self._log_path(index, target, cand))
        try:
            server = self._launch(spec)
            run.warnings += server.warnings
            run.server_command = redact(server.command)
            run.speculation_flags = redact(server.speculation_args)
            run.server_version, run.log_path = server.version, server.log_path
            self.meta["server_version"] = server.version
            self.echo("  Starting server ... ", end="")
            try:
                server.start()
            except BaseException:
                self.echo("failed")
                raise
            with server:
                run.load_time_s = server.load_time_s
                self.acct.load_s += server.load_time_s or 0.0
                self.echo(f"ready ({server.load_time_s:.1f} s)")
                t0 = time.monotonic()
                summary = run_bench(BenchConfig(
                    url=server.url, requests=s.requests * s.runs, max_tokens=s.max_tokens,
                    temperature=s.temperature, warmup=s.warmup, seed=s.seed, timeout_s=s.request_timeout_s,
                    ready_timeout_s=s.server.ready_timeout_s, expect_draft=not cand.is_baseline,
                    api_key=self.api_key))
                self.acct.generation_s += time.monotonic() - t0
                server.sample_memory()
                died = not server.alive()
            run.peak_rss_mb, run.peak_vram_mb = server.peak_rss_mb, server.peak_vram_mb
            self._fill(run, summary)
            if died:
                code = server.proc.returncode if server.proc else None
                cause = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                run.error = (f"the server died during measurement ({cause}); "
                             f"{summary.n_failed} of {summary.n_requests} requests failed")
                run.log_excerpt = server.log_tail()
            elif summary.n_failed == summary.n_requests:
                run.error = f"all {summary.n_requests} requests failed: {summary.requests[0].error}"
                run.log_excerpt = server.log_tail()
        except ServerStartError as exc:
            run.error, run.log_excerpt = exc.short, exc.log_tail
        except (Interrupted, ResultsFileError):
            raise
        except DraftbenchError as exc:  # missing model, port taken, a setup this build cannot run: the run fails
            run.error = str(exc)
        run.wall_time_s = time.monotonic() - started
        return run

    def _launch(self, spec: launcher.ServerSpec) -> launcher.ServerProcess:
        if self.cfg.backend == "vllm":
            return backends.launch_vllm(spec)
        return launcher.launch_llama(spec, warn=lambda m: self.echo(f"  WARNING: {m}"))

    def _check_setups(self) -> None:
        """Before any server starts: every spec type must be one this llama-server build knows."""
        if self.cfg.backend != "llamacpp" or not any(c.speculation.spec_type for c in self.cfg.candidates):
            return
        binary = llama_bin.find_llama_server(self.cfg.settings.server.llama_bin)
        flags, _ = llama_bin.probe(binary)
        problems = [f"drafts: {visible(c.label or '')!r}: spec type {', '.join(bad)} is not known to {binary} "
                    f"(it knows: {', '.join(sorted(flags.spec_types))})"
                    for c in self.cfg.candidates if (bad := flags.unknown_types(c.speculation))]
        if problems:
            raise ConfigError(self.cfg.source, list(dict.fromkeys(problems)))

    def _fill(self, run: RunResult, summary) -> None:
        for name in ("mean_tps", "median_tps", "mean_ttft", "mean_total_time", "acceptance_rate", "stdev_tps",
                     "draft_n", "draft_n_accepted", "mean_accepted_length", "speculation_active", "generation_time_s"):
            setattr(run, name, getattr(summary, name))
        run.ci95_tps = list(summary.ci95_tps) if summary.ci95_tps else None
        run.n_requests, run.n_failed_requests = summary.n_requests, summary.n_failed
        run.warnings += summary.warnings
        run.requests = [r.to_dict() for r in summary.requests]
        for w in summary.warnings:
            self.echo(f"  WARNING: {w}")

    def _compare_with_baseline(self, run: RunResult) -> None:
        base = self.runs.get((run.target, None))
        if run.draft is not None and base is not None and base.done and run.done:
            analysis.compare_with_baseline(run, base, self.cfg.settings.temperature == 0)

    # ---- the sweep ----------------------------------------------------------------------------------
    def _plan(self) -> list[tuple[ModelEntry, Candidate]]:
        return [(t, c) for t in self.cfg.targets for c in (BASELINE, *self.cfg.candidates)]

    def _skip_reason(self, target: ModelEntry, cand: Candidate) -> str | None:
        if not cand.is_baseline:
            base = self.runs.get((target.label, None))
            if base is None or not base.done:
                return f"skipped: target {target.label!r} has no baseline (its baseline run failed)"
        if self.cfg.backend != "llamacpp":
            return None  # hub ids, not files
        for path, role in ((target.path, "target"), (cand.speculation.draft_path, "draft")):
            if path is not None:
                try:
                    gguf_header.check_gguf(path, f"{role} model")
                except ModelFileError as exc:
                    return f"skipped: {exc}"
        return None

    def run(self) -> SweepOutcome:
        check_writable(self.results_path)
        with ResultsLock(self.results_path) as lock:
            if lock.took_over:
                self.echo(f"Took over the lock of {self.results_path} from pid {lock.took_over}, which is no "
                          "longer running")
            return self._run()

    def _run(self) -> SweepOutcome:
        started = time.monotonic()
        self._load_previous()
        self._check_setups()
        o = self.cfg.settings.server
        if o.port:
            ports.ensure_free(o.host, o.port)  # before any server starts
        self.meta = self._metadata(None)
        plan = self._plan()
        n = len(plan)
        bar = "=" * 60
        plain = not self.cfg.axes and all(c.speculation.draft_path for c in self.cfg.candidates)
        what = "drafts" if plain else "speculation setups"
        self.echo(f"{bar}\n  Sweep: {len(self.cfg.targets)} targets x {len(self.cfg.candidates)} {what} = {n} runs\n{bar}")
        self.echo(f"Results: {self.results_path}")
        try:
            for i, (target, cand) in enumerate(plan, 1):
                title = visible(target.label) + (f" + {visible(cand.label)}" if cand.label else " (baseline)")
                key = (target.label, cand.label)
                previous = self.runs.get(key)
                if previous is not None and previous.done:
                    self.echo(f"\n[{i}/{n}] {title}: done earlier, skipped")
                    continue
                self.echo(f"\n[{i}/{n}] {title}")
                reason = self._skip_reason(target, cand)
                if reason:
                    run = self._new_run(target, cand, reason)
                    self.echo(f"  {reason}")
                else:
                    run = self._measure(i, target, cand)
                    self._compare_with_baseline(run)
                    self._report_run(run)
                self.runs[key] = run
                self._save()
        except (KeyboardInterrupt, Interrupted) as exc:
            import signal

            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            done = sum(r.done for r in self.runs.values())
            self.echo(f"\nInterrupted: the server is stopped and {done} finished run(s) are kept in {self.results_path}.\n"
                      f"Resume with the same command: finished runs are skipped.")
            raise Interrupted(signum) from None
        self.acct.wall_s = time.monotonic() - started
        runs = list(self.runs.values())
        return SweepOutcome(self.results_path, runs, self.acct, recommendations=analysis.recommend(runs))

    def _report_run(self, run: RunResult) -> None:
        if run.error:
            self.echo(f"  FAILED: {run.error}")
            if run.log_excerpt:
                tail = "\n".join(run.log_excerpt.splitlines()[-8:])
                self.echo("  --- server log (last lines) ---\n" + "\n".join("  | " + ln for ln in tail.splitlines()))
            return
        text = f"  Benchmarking ... {run.mean_tps:.2f} tok/s"
        if run.draft is not None:
            if run.acceptance_rate is not None:
                text += f" (acceptance: {run.acceptance_rate:.0%}, {analysis.pct(run.speedup)})"
            else:
                text += f" (speculation NOT active, {analysis.pct(run.speedup)})"
        self.echo(text)
        self.echo("  Server stopped")


def summary_lines(outcome: SweepOutcome) -> list[str]:
    lines = ["", "=== Sweep complete ==="]
    for rec in outcome.recommendations:
        lines.append("Recommended: " + visible(rec.sentence()))
    fails = outcome.failures
    if fails:
        lines.append(f"{len(fails)} run(s) failed (rerun the same command to retry them):")
        for r in fails:
            lines.append(f"  - {visible(r.target)} + {visible(r.draft or 'baseline')}: {visible(r.error or '')}")
    lines.append(outcome.accounting.line())
    lines.append(f"Results saved to {outcome.results_path}")
    if outcome.chart_path:
        lines.append(f"Chart saved to {outcome.chart_path}")
    return lines
