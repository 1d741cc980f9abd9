"""Run a sweep's plan: baseline then each speculation setup per target, saving after every run."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import sys
import time
from dataclasses import fields, replace
from typing import Any, Callable

from . import __version__, adaptive, analysis, backends, gguf_header, launcher, machine, ports, steps
from .bench import BenchConfig, BenchSummary, merge, run_bench
from .config import SweepConfig
from .errors import DraftbenchError, Interrupted, ModelFileError, ResultsFileError, ServerStartError
from .eta import Estimator, Work, progress_line
from .lock import ResultsLock
from .outcome import Accounting, Console, SweepOutcome, run_lines, summary_lines
from .plan import Cell, build_plan, check_setups, request_fields, template_warnings
from .redaction import visible
from .files import check_writable
from .results import RunResult, save_results
from .sessions import ONE_SERVER_PER_SETUP, Sessions

__all__ = ["Sweep", "SweepOutcome", "summary_lines", "default_results_path"]

Echo = Callable[..., None]
DRAFT_ALONE_REQUESTS = 2
# What a run takes from its summary: every field the two types declare alike (the level is the cell's).
MEASURED = tuple(f.name for f in fields(BenchSummary) if f.name in RunResult.__dataclass_fields__
                 and f.name not in ("warnings", "requests", "concurrency"))


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
        self.echo = Console(echo, echo is _stderr and sys.stderr.isatty())
        self.eta = Estimator(gguf_header.file_size)
        self.hardware = machine.hardware_id() if cfg.hardware in ("", "auto") else cfg.hardware
        self.results_path = results_path or default_results_path(cfg, self.hardware)
        self.fresh = fresh
        self.api_key = api_key or _flag_value(cfg.settings.server.extra_args, "--api-key")
        self.runs: dict[tuple[str, str | None, int], RunResult] = {}
        self.meta: dict = {}
        self.acct = Accounting()
        self.plan: list[Cell] = build_plan(cfg)
        self.search = adaptive.Search(cfg.settings) if cfg.settings.search == "adaptive" else None
        self.sessions = Sessions(cfg, self.plan, self._launch, self.echo, self.api_key, self.acct,
                                 note=lambda k, v: self.meta.__setitem__(k, v), keep_levels=self.search is None)
        self.carried: dict = {}  # what an earlier session of this sweep measured about the server
        self.draft_alone: dict[str, dict] = {}  # draft path -> its own decode speed, for the cost model
        self.template_warnings: dict[str, str] = {}  # target label -> why its chat endpoint may not be its format
        self.settled: set[tuple] = set()  # cells this session has measured, skipped or seen fail: not to go
        self.identities: dict[str, str | None] = {}  # model path -> gguf_header.identity

    # ---- results file -------------------------------------------------------------------------
    def _load_previous(self) -> None:
        if self.fresh or not os.path.exists(self.results_path):
            return
        data = analysis.load(self.results_path)  # raises, leaving the file untouched, when corrupt
        saved = data.get("settings") or {}
        mine = self.cfg.comparable()
        differ = [k for k, v in mine.items() if k in saved and saved[k] != v]
        if not saved and any(run.done for run in data["results"]):
            differ.append("settings (the file records none, so nothing shows its runs were measured like these)")
        if saved and "prompts_hash" not in saved and "requests" in saved:  # measured before prompt sets were recorded
            differ.append("prompts (the file predates recorded prompt sets)")
        if saved and saved.get("axes") != mine.get("axes") and "axes" not in differ:
            differ.append("axes")
        planned = {cell.key: cell.setup.speculation for cell in self.plan}
        for run in data["results"]:
            setup = planned.get(run.key)
            if run.speculation is not None and setup is not None and run.done \
                    and run.speculation.comparable() != setup.comparable():
                differ.append(f"the setup of {visible(run.draft or 'baseline')!r}")
        differ += self._changed_models(data["results"])
        if data.get("hardware") and data["hardware"] != self.hardware:
            differ.append(f"hardware ({data['hardware']!r} in the file, {self.hardware!r} here: set \"hardware\" to "
                          "the file's to continue it on purpose)")
        if differ:
            raise ResultsFileError(
                f"{self.results_path} was measured with other settings ({', '.join(differ)}): resuming would mix "
                "incomparable numbers. Start over with --fresh, or write elsewhere with --results PATH")
        for run in data["results"]:
            self.runs[run.key] = run
            self.eta.learn(run)
        self.carried = {k: data[k] for k in ("per_request_speculation", "setup_sessions", "draft_alone") if k in data}
        self.draft_alone = dict(self.carried.get("draft_alone") or {})

    def _save(self) -> None:
        try:
            self._write()
        except OSError as exc:
            raise ResultsFileError(f"cannot write {self.results_path}: {exc.strerror}; the last saved version "
                                   "is intact: free space or fix permissions, then rerun to resume") from exc

    def ordered_runs(self) -> list[RunResult]:
        """The runs in plan order, then any the file had beyond the plan."""
        keys = [cell.key for cell in self.plan]
        extra = [k for k in self.runs if k not in keys]
        return [self.runs[k] for k in keys + extra if k in self.runs]

    def _write(self) -> None:
        save_results(self.results_path, self.meta, self.ordered_runs())

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
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{cell.target.label}__{cell.setup.label or 'baseline'}")
        return os.path.join(os.path.dirname(os.path.abspath(self.results_path)), "logs", stem,
                            f"{cell.index:03d}-{slug[:80]}{what}.log")

    def _record(self, cell: Cell, facts: dict[str, Any], summary: BenchSummary | None = None,
                **status: Any) -> RunResult:
        """The run's record, built once: the cell's identity, what measuring it learnt (``facts``), the summary
        of its requests (every field the two types share) and ``status`` (in progress, stopped early), then
        everything computed against its baseline (:func:`analysis.compared`)."""
        setup = cell.setup
        measured = {name: getattr(summary, name) for name in MEASURED} if summary else {}
        run = RunResult(cell.target.label, setup.label, cell.level, target_path=cell.target.path,
                        target_id=self._identity(cell.target.path), draft_id=self._identity(setup.speculation.draft_path),
                        speculation=setup.speculation, draft_size=analysis.setup_category(setup),
                        **{**facts, **measured, **status,
                           "warnings": [*facts.get("warnings", []), *(summary.warnings if summary else [])],
                           "requests": list(summary.requests) if summary else []})
        base = self.runs.get(cell.baseline_key)
        return analysis.compared(run, base, self.cfg.settings.temperature == 0)

    def _identity(self, path: str | None) -> str | None:
        """A model file's identity, read once per sweep (hub ids of other backends have none)."""
        if not path or self.cfg.backend != "llamacpp":
            return None
        if path not in self.identities:
            self.identities[path] = gguf_header.identity(path)
        return self.identities[path]

    def _changed_models(self, runs: list[RunResult]) -> list[str]:
        """Finished runs whose label now names another model file (same label, other size or content)."""
        planned = {cell.key: cell for cell in self.plan}
        out = []
        for run in runs:
            cell = planned.get(run.key)
            if cell is None or not run.done:
                continue
            for role, saved, path in (("target", run.target_id, cell.target.path),
                                      ("draft", run.draft_id, cell.setup.speculation.draft_path)):
                now = self._identity(path)
                if saved and now and saved != now:
                    label = run.target if role == "target" else run.draft
                    out.append(f"the {role} file of {visible(label or '')!r} (measured: {saved}; now {path}: {now})")
        return list(dict.fromkeys(out))

    def _release(self) -> None:
        self.sessions.release()

    def _measures_parts(self) -> bool:
        return self.cfg.settings.cost_model and self.cfg.backend == "llamacpp"

    def _draft_alone_tps(self, cell: Cell) -> float | None:
        """The draft model's own decode speed (its step cost), measured once per draft model."""
        path = cell.setup.speculation.draft_path
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
                        prompts=self.cfg.prompts,
                        temperature=s.temperature, seed=s.seed, timeout_s=s.request_timeout_s, api_key=self.api_key,
                        endpoint=s.endpoint))
                found = {"decode_tps": summary.mean_tps, "n_requests": summary.n_requests - summary.n_failed_requests}
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
        facts: dict[str, Any] = {"warnings": [self.template_warnings[cell.target.label]]
                                 if cell.target.label in self.template_warnings else []}  # what measuring learns
        summary: BenchSummary | None = None
        status: dict[str, Any] = {}
        started = time.monotonic()
        server = None
        try:
            facts["draft_alone_tps"] = self._draft_alone_tps(cell)
            server = self.sessions.server_for(cell, facts, self._log_path(cell))
            drafted_before = steps.last_draft_stats(steps.read_log(server.log_path))
            summary, status = self._measure_blocks(cell, facts, server, earlier)
            for w in summary.warnings:
                self.echo(f"  WARNING: {w}")
            facts["draft_ms_per_pass"] = steps.drafting_ms_per_pass(
                drafted_before, steps.last_draft_stats(steps.read_log(server.log_path)))
            lowest = cell.level == self.cfg.settings.concurrency[0]  # v(k) is a one-stream figure
            if cell.setup.is_baseline and lowest and self._measures_parts() and server.alive():
                t0 = time.monotonic()
                costs = steps.verify_costs(server.url, self.api_key, s.request_timeout_s)
                facts["verify_costs"] = {str(k): v for k, v in costs.items()} if costs else None
                self.acct.probe_s += time.monotonic() - t0
            server.sample_memory()
            died = not server.alive()
            facts.update(peak_rss_mb=server.peak_rss_mb, peak_vram_mb=server.peak_vram_mb)
            if died:
                code = server.proc.returncode if server.proc else None
                cause = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                facts.update(error=f"the server died during measurement ({cause}); "
                                   f"{summary.n_failed_requests} of {summary.n_requests} requests failed",
                             log_excerpt=server.log_tail())
            elif summary.n_failed_requests == summary.n_requests:
                facts.update(error=f"all {summary.n_requests} requests failed: {summary.requests[0].error}",
                             log_excerpt=server.log_tail())
        except ServerStartError as exc:
            facts.update(error=exc.short, log_excerpt=exc.log_tail)
        except (Interrupted, ResultsFileError):
            raise
        except DraftbenchError as exc:  # missing model, port taken, a setup this build cannot run: the run fails
            facts["error"] = str(exc)
        finally:
            if server is not None and not self.sessions.holds(server):
                server.stop()
        facts["wall_time_s"] = time.monotonic() - started
        return self._record(cell, facts, summary, **status)

    def _measure_blocks(self, cell: Cell, facts: dict[str, Any], server: launcher.ServerProcess,
                        earlier: RunResult | None) -> tuple[BenchSummary, dict[str, Any]]:
        """The run's requests, in one block (exhaustive, baselines) or in blocks with a look after each
        (adaptive): saved between blocks, stopped when the look says so. Returns their summary and the run's
        status (paused, stopped early, or none)."""
        s = self.cfg.settings
        shared = self.sessions.shares_setups(server)
        kept = list(earlier.requests) if earlier else []
        kept_wall_s = (earlier.loop_wall_s or 0.0) if earlier else 0.0
        total = s.requests * s.runs
        looking = self.search is not None and not cell.setup.is_baseline
        sizes = self.search.sizes(len(kept)) if looking and self.search else [total - len(kept)]
        blocks: list[BenchSummary] = []
        for i, size in enumerate(sizes):
            t0 = time.monotonic()
            blocks.append(run_bench(BenchConfig(
                url=server.url, requests=size, skip=len(kept) + sum(b.n_requests for b in blocks), concurrency=cell.level,
                max_tokens=s.max_tokens, temperature=s.temperature, warmup=s.warmup if i == 0 else 0, seed=s.seed,
                timeout_s=s.request_timeout_s, ready_timeout_s=s.server.ready_timeout_s,
                expect_draft=not cell.setup.is_baseline, api_key=self.api_key, prompts=self.cfg.prompts,
                endpoint=s.endpoint,
                extra_body=tuple(request_fields(cell.setup.speculation).items()) if shared else ())))
            self.acct.generation_s += time.monotonic() - t0
            summary = merge(blocks, not cell.setup.is_baseline, kept, kept_wall_s)
            if not looking or i == len(sizes) - 1 or not server.alive() or summary.n_failed_requests == summary.n_requests:
                break
            run = self.runs[cell.key] = self._record(cell, facts, summary, in_progress=True)
            if self.search is not None and not kept and i == 0 and self.search.pauses(cell, self.runs):
                self.echo(f"  Paused after {summary.n_requests} of {total} requests: every setup gets a first block "
                          "before the best go on")
                return summary, {"in_progress": True}
            stopped = self._look(run)
            if stopped:
                return summary, stopped
            self._save()
        return summary, {}

    def _look(self, run: RunResult) -> dict[str, Any] | None:
        """The look after a block of the adaptive search: the run's stop fields (and it is said), or None to go on."""
        assert self.search is not None
        decision = self.search.look(run, self.runs)
        if decision is not None and decision.pruned:
            self.echo(f"  Stopped after {run.n_requests} of {self.search.total} requests: {decision.reason()}")
            return adaptive.stop_fields(decision)
        self.echo(f"  {run.n_requests}/{self.search.total} requests: " + (decision.reason() if decision else "measuring"))
        return None

    def _stopped_without_measuring(self, run: RunResult) -> RunResult | None:
        """A setup paused after screening gets its first look when the race picks it, before a server starts:
        most stop here, against the leader finished meanwhile. The stopped run, or None to measure on."""
        if self.search is None or not self.search.first_look_pending(run):
            return None
        base = self.runs.get((run.target, None, run.concurrency))
        run = analysis.compared(run, base, self.cfg.settings.temperature == 0)
        stop = self._look(run)
        return replace(run, **stop) if stop else None

    def _launch(self, spec: launcher.ServerSpec) -> launcher.ServerProcess:
        if self.cfg.backend == "vllm":
            return backends.launch_vllm(spec)
        return launcher.launch_llama(spec, warn=lambda m: self.echo(f"  WARNING: {m}"))

    # ---- the sweep ----------------------------------------------------------------------------------
    def _skip_reason(self, cell: Cell) -> str | None:
        if not cell.setup.is_baseline:
            base = self.runs.get(cell.baseline_key)
            if base is None or not base.done:
                return f"skipped: target {cell.target.label!r} has no baseline (its baseline run failed)"
        if self.cfg.backend != "llamacpp":
            return None  # hub ids, not files
        for path, role in ((cell.target.path, "target"), (cell.setup.speculation.draft_path, "draft")):
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

    def _to_go(self, key: tuple) -> bool:
        """Still to measure: paused between blocks, or neither finished nor tried (a failure) this session."""
        run = self.runs.get(key)
        if run is not None and run.in_progress:
            return True
        return key not in self.settled and not (run is not None and run.done)

    def _progress(self, started: float) -> None:
        """After each run: elapsed, runs left, and the time they should take."""
        s = self.cfg.settings
        left = [Work(c.target.path, c.setup.speculation.draft_path, c.level, s.requests * s.runs, s.max_tokens)
                for c in self.plan if self._to_go(c.key)]
        done = len(self.plan) - len(left)
        self.echo.status(progress_line(done, len(self.plan), time.monotonic() - started, self.eta.remaining(left),
                                       at_most=self.search is not None))

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
        plain = not self.cfg.axes and all(c.speculation.draft_path for c in self.cfg.setups)
        what = "drafts" if plain else "speculation setups"
        levels = self.cfg.settings.concurrency
        per = f" x {len(levels)} concurrency levels" if len(levels) > 1 else ""
        self.echo(f"{bar}\n  Sweep: {len(self.cfg.targets)} targets x {len(self.cfg.setups)} {what}{per} = {n} runs\n{bar}")
        self.echo(f"Results: {self.results_path}")
        self.template_warnings = template_warnings(self.cfg)
        if self.template_warnings:
            self.meta["warnings"] = list(self.template_warnings.values())
        for warning in self.template_warnings.values():
            self.echo(f"WARNING: {warning}")
        if self.search is not None:
            self.echo(self.search.describe())
        try:
            cells = self.search.order(self.plan, self.runs) if self.search else iter(self.plan)
            positions: dict[tuple, int] = {}
            for cell in cells:
                position = positions.setdefault(cell.key, len(positions) + 1)  # a paused setup keeps its number
                title = f"[{position}/{n}] {visible(cell.title)}"
                previous = self.runs.get(cell.key)
                unfinished = previous is not None and (previous.in_progress or (previous.pruned and not self.search))
                if previous is not None and previous.done and not unfinished:
                    self.echo(f"\n{title}: done earlier, skipped" + (" (stopped early)" if previous.pruned else ""))
                    continue
                self.echo(f"\n{title}" + (f": continuing after {previous.n_requests} requests measured earlier"
                                           if unfinished and previous else ""))
                reason = self._skip_reason(cell)
                stopped = self._stopped_without_measuring(previous) if unfinished and previous and not reason else None
                if reason:
                    run = self._record(cell, {"error": reason})
                    self.echo(f"  {reason}")
                elif stopped is not None:
                    run = stopped
                    for line in run_lines(run):
                        self.echo(line)
                else:
                    run = self._measure(cell, previous if unfinished else None)
                    for line in ([] if run.in_progress else run_lines(run)):
                        self.echo(line)
                    if not run.error:
                        self.echo("  Server kept for the next cell" if self.sessions.held else "  Server stopped")
                self.runs[cell.key] = run
                self.settled.add(cell.key)
                self._save()
                self.eta.learn(run)
                self._progress(started)
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
        runs = self.ordered_runs()
        budget = self.cfg.settings.requests * self.cfg.settings.runs
        return SweepOutcome(self.results_path, runs, self.acct, recommendations=analysis.recommend(runs),
                            savings=analysis.search_savings(runs, budget))

