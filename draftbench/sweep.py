"""Run a sweep's plan: baseline then each speculation setup per target, saving after every run."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import sys
import time
from typing import Callable

from . import __version__, adaptive, analysis, backends, gguf_header, launcher, llama_bin, machine, ports, steps
from .bench import BenchConfig, BenchSummary, PerRequestProbe, merge, probe_per_request, run_bench
from .config import SweepConfig
from .errors import DraftbenchError, Interrupted, ModelFileError, ResultsFileError, ServerStartError
from .lock import ResultsLock
from .outcome import Accounting, SweepOutcome, run_lines, summary_lines
from .plan import Cell, build_plan, check_setups, request_fields, session_key, shareable
from .redaction import redact, visible
from .results import RunResult, check_writable, load_results, save_results
from .stream import RequestResult

__all__ = ["Sweep", "SweepOutcome", "summary_lines", "default_results_path"]

Echo = Callable[..., None]
DRAFT_ALONE_REQUESTS = 2
ONE_SERVER_PER_SETUP = "one server per setup"
ONE_SERVER_PER_DRAFT = "one server per draft and target, setups sent per request"


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
        self.plan: list[Cell] = build_plan(cfg)
        self.shareable = shareable(self.plan) if cfg.backend == "llamacpp" else set()
        self.probe: PerRequestProbe | None = None
        self.held: tuple[tuple, launcher.ServerProcess] | None = None  # a server kept for the next setups
        self.carried: dict = {}  # what an earlier session of this sweep measured about the server
        self.draft_alone: dict[str, dict] = {}  # draft path -> its own decode speed, for the cost model
        self.search = adaptive.Search(cfg.settings) if cfg.settings.search == "adaptive" else None

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
        planned = {cell.key: cell.candidate.speculation for cell in self.plan}
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
        self.carried = {k: data[k] for k in ("per_request_speculation", "setup_sessions", "draft_alone") if k in data}
        self.draft_alone = dict(self.carried.get("draft_alone") or {})

    def _save(self) -> None:
        try:
            self._write()
        except OSError as exc:
            raise ResultsFileError(f"cannot write {self.results_path}: {exc.strerror}; the last saved version "
                                   "is intact: free space or fix permissions, then rerun to resume") from exc

    def _write(self) -> None:
        keys = [cell.key for cell in self.plan]
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
            "setup_sessions": ONE_SERVER_PER_SETUP,
            "config_path": os.path.abspath(self.cfg.source) if os.path.exists(self.cfg.source) else self.cfg.source,
            "command_line": [os.path.basename(sys.argv[0])] + sys.argv[1:],
            "machine": machine.machine_info(),
        }

    # ---- one run ----------------------------------------------------------------------------------
    def _log_path(self, cell: Cell, what: str = "") -> str:
        stem = os.path.splitext(os.path.basename(self.results_path))[0]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{cell.target.label}__{cell.candidate.label or 'baseline'}")
        return os.path.join(os.path.dirname(os.path.abspath(self.results_path)), "logs", stem,
                            f"{cell.index:03d}-{slug[:80]}{what}.log")

    def _new_run(self, cell: Cell, error: str | None = None) -> RunResult:
        cand = cell.candidate
        return RunResult(cell.target.label, cand.label, target_path=cell.target.path, error=error,
                         speculation=cand.speculation, draft_size=analysis.setup_category(cand))

    def _release(self) -> None:
        if self.held is not None:
            self.held[1].stop()
            self.held = None

    def _server_for(self, cell: Cell, run: RunResult) -> launcher.ServerProcess:
        """A started server for ``cell``: the one kept for its draft where the build honours
        per-request settings, else a new one. Fills the run's server fields."""
        key = session_key(cell)
        if self.held is not None and self.held[0] == key and self.held[1].alive():
            server = self.held[1]
            self.echo("  Same server as the previous setup (per-request draft settings)")
            flags, _ = llama_bin.probe(llama_bin.find_llama_server(self.cfg.settings.server.llama_bin))
            run.speculation_flags = redact(flags.speculation_args(cell.candidate.speculation))
        else:
            self._release()
            spec = launcher.ServerSpec(cell.target.path, cell.candidate.speculation, self.cfg.settings.server,
                                       self._log_path(cell))
            server = self._launch(spec)
            run.warnings += server.warnings
            run.speculation_flags = redact(server.speculation_args)
            self.echo("  Starting server ... ", end="")
            try:
                server.start()
            except BaseException:
                self.echo("failed")
                raise
            run.load_time_s = server.load_time_s
            self.acct.load_s += server.load_time_s or 0.0
            self.echo(f"ready ({server.load_time_s:.1f} s)")
            if key in self.shareable:
                self._keep_if_shareable(key, server)
        run.server_command = redact(server.command)
        run.server_version, run.log_path = server.version, server.log_path
        self.meta["server_version"] = server.version
        return server

    def _keep_if_shareable(self, key: tuple, server: launcher.ServerProcess) -> None:
        """Measure once per sweep whether per-request draft settings work; where they do, keep the server."""
        if self.probe is None:
            t0 = time.monotonic()
            self.probe = probe_per_request(server.url, self.api_key, self.cfg.settings.request_timeout_s)
            self.acct.probe_s += time.monotonic() - t0
            self.meta["per_request_speculation"] = {"honoured": self.probe.honoured,
                                                    "drafted_per_pass": list(self.probe.drafted_per_pass)}
            self.meta["setup_sessions"] = ONE_SERVER_PER_DRAFT if self.probe.honoured else ONE_SERVER_PER_SETUP
            self.echo(f"  {self.probe.describe()}: {self.meta['setup_sessions']}")
        if self.probe.honoured:
            self.held = (key, server)

    def _measures_parts(self) -> bool:
        return self.cfg.settings.cost_model and self.cfg.backend == "llamacpp"

    def _draft_alone_tps(self, cell: Cell) -> float | None:
        """The draft model's own decode speed (its step cost), measured once per draft model."""
        path = cell.candidate.speculation.draft_path
        if not path or not self._measures_parts():
            return None
        if path not in self.draft_alone:
            self._release()
            s = self.cfg.settings
            self.echo("  Draft alone, for the cost model ... ", end="")
            t0 = time.monotonic()
            spec = launcher.ServerSpec(path, options=s.server, log_path=self._log_path(cell, "__draft-alone"))
            try:
                with self._launch(spec) as server:
                    summary = run_bench(BenchConfig(
                        url=server.url, requests=DRAFT_ALONE_REQUESTS, max_tokens=s.max_tokens, warmup=1,
                        temperature=s.temperature, seed=s.seed, timeout_s=s.request_timeout_s, api_key=self.api_key))
                found = {"decode_tps": summary.mean_tps, "n_requests": summary.n_requests - summary.n_failed}
            except Interrupted:
                raise
            except DraftbenchError as exc:
                found = {"error": str(exc).splitlines()[0]}
            self.acct.probe_s += time.monotonic() - t0
            self.draft_alone[path] = found
            self.meta["draft_alone"] = self.draft_alone
            tps = found.get("decode_tps")
            self.echo(f"{tps:.2f} tok/s" if tps else f"failed: {found.get('error', 'no speed measured')}")
        return self.draft_alone[path].get("decode_tps")

    def _measure(self, cell: Cell, earlier: RunResult | None = None) -> RunResult:
        """Measure ``cell`` (continuing ``earlier``'s requests, saved by an interrupted adaptive search)."""
        s = self.cfg.settings
        run = self._new_run(cell)
        started = time.monotonic()
        server = None
        try:
            run.draft_alone_tps = self._draft_alone_tps(cell)
            server = self._server_for(cell, run)
            drafted_before = steps.last_draft_stats(steps.read_log(server.log_path))
            summary = self._measure_blocks(cell, run, server, earlier)
            run.draft_ms_per_pass = steps.drafting_ms_per_pass(
                drafted_before, steps.last_draft_stats(steps.read_log(server.log_path)))
            if cell.candidate.is_baseline and self._measures_parts() and server.alive():
                t0 = time.monotonic()
                costs = steps.verify_costs(server.url, self.api_key, s.request_timeout_s)
                run.verify_costs = {str(k): v for k, v in costs.items()} if costs else None
                self.acct.probe_s += time.monotonic() - t0
            server.sample_memory()
            died = not server.alive()
            run.peak_rss_mb, run.peak_vram_mb = server.peak_rss_mb, server.peak_vram_mb
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
        finally:
            if server is not None and (self.held is None or self.held[1] is not server):
                server.stop()
        run.wall_time_s = time.monotonic() - started
        return run

    def _measure_blocks(self, cell: Cell, run: RunResult, server: launcher.ServerProcess,
                        earlier: RunResult | None) -> BenchSummary:
        """The run's requests, in one block (exhaustive, baselines) or in blocks with a look after each
        (adaptive): saved between blocks, stopped when the look says so."""
        s = self.cfg.settings
        shared = self.held is not None and self.held[1] is server
        kept = [RequestResult(**q) for q in earlier.requests] if earlier else []
        total = s.requests * s.runs
        looking = self.search is not None and not cell.candidate.is_baseline
        sizes = self.search.sizes(len(kept)) if looking and self.search else [total - len(kept)]
        blocks: list[BenchSummary] = []
        for i, size in enumerate(sizes):
            t0 = time.monotonic()
            blocks.append(run_bench(BenchConfig(
                url=server.url, requests=size, skip=len(kept) + sum(b.n_requests for b in blocks),
                max_tokens=s.max_tokens, temperature=s.temperature, warmup=s.warmup if i == 0 else 0, seed=s.seed,
                timeout_s=s.request_timeout_s, ready_timeout_s=s.server.ready_timeout_s,
                expect_draft=not cell.candidate.is_baseline, api_key=self.api_key,
                extra_body=tuple(request_fields(cell.candidate.speculation).items()) if shared else ())))
            self.acct.generation_s += time.monotonic() - t0
            summary = merge(blocks, not cell.candidate.is_baseline, kept)
            self._fill(run, summary)
            if not looking or i == len(sizes) - 1 or not server.alive() or summary.n_failed == summary.n_requests:
                break
            self._compare_with_baseline(run)
            decision = self.search.look(run, self.runs) if self.search else None
            if decision is not None and decision.pruned:
                adaptive.stop_run(run, decision)
                self.echo(f"  Stopped after {summary.n_requests} of {total} requests: {decision.reason()}")
                break
            self.echo(f"  {summary.n_requests}/{total} requests: " + (decision.reason() if decision else "measuring"))
            run.in_progress = True
            self.runs[cell.key] = run
            self._save()
            run.in_progress = False
        return summary

    def _launch(self, spec: launcher.ServerSpec) -> launcher.ServerProcess:
        if self.cfg.backend == "vllm":
            return backends.launch_vllm(spec)
        return launcher.launch_llama(spec, warn=lambda m: self.echo(f"  WARNING: {m}"))

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
            analysis.explain_run(run, base)

    # ---- the sweep ----------------------------------------------------------------------------------
    def _skip_reason(self, cell: Cell) -> str | None:
        if not cell.candidate.is_baseline:
            base = self.runs.get((cell.target.label, None))
            if base is None or not base.done:
                return f"skipped: target {cell.target.label!r} has no baseline (its baseline run failed)"
        if self.cfg.backend != "llamacpp":
            return None  # hub ids, not files
        for path, role in ((cell.target.path, "target"), (cell.candidate.speculation.draft_path, "draft")):
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
        check_setups(self.cfg)
        o = self.cfg.settings.server
        if o.port:
            ports.ensure_free(o.host, o.port)  # before any server starts
        self.meta = {**self._metadata(None), **self.carried}
        n = len(self.plan)
        bar = "=" * 60
        plain = not self.cfg.axes and all(c.speculation.draft_path for c in self.cfg.candidates)
        what = "drafts" if plain else "speculation setups"
        self.echo(f"{bar}\n  Sweep: {len(self.cfg.targets)} targets x {len(self.cfg.candidates)} {what} = {n} runs\n{bar}")
        self.echo(f"Results: {self.results_path}")
        if self.search is not None:
            self.echo(self.search.describe())
        try:
            cells = self.search.order(self.plan, self.runs) if self.search else iter(self.plan)
            for position, cell in enumerate(cells, 1):
                title = f"[{position}/{n}] {visible(cell.title)}"
                previous = self.runs.get(cell.key)
                unfinished = previous is not None and (previous.in_progress or (previous.pruned and not self.search))
                if previous is not None and previous.done and not unfinished:
                    self.echo(f"\n{title}: done earlier, skipped" + (" (stopped early)" if previous.pruned else ""))
                    continue
                self.echo(f"\n{title}" + (f": continuing after {previous.n_requests} requests measured earlier"
                                           if unfinished and previous else ""))
                reason = self._skip_reason(cell)
                if reason:
                    run = self._new_run(cell, reason)
                    self.echo(f"  {reason}")
                else:
                    run = self._measure(cell, previous if unfinished else None)
                    self._compare_with_baseline(run)
                    for line in run_lines(run):
                        self.echo(line)
                    if not run.error:
                        self.echo("  Server stopped" if self.held is None else "  Server kept for the next setup")
                self.runs[cell.key] = run
                self._save()
        except (KeyboardInterrupt, Interrupted) as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            self._release()
            done = sum(r.done for r in self.runs.values())
            self.echo(f"\nInterrupted: the server is stopped and {done} finished run(s) are kept in {self.results_path}.\n"
                      f"Resume with the same command: finished runs are skipped.")
            raise Interrupted(signum) from None
        finally:
            self._release()
        self.acct.wall_s = time.monotonic() - started
        runs = list(self.runs.values())
        budget = self.cfg.settings.requests * self.cfg.settings.runs
        return SweepOutcome(self.results_path, runs, self.acct, recommendations=analysis.recommend(runs),
                            savings=analysis.search_savings(runs, budget))

