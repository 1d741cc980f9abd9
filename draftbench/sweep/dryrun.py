"""``sweep.py --dry-run``: check a config before loading a 70B model. Validates the config and its prompts,
resolves llama-server and the flags of every setup, and prints the plan with each server's command line and
the tokens it will generate, and an estimate of the time when a results file of this hardware already
exists. Starts no server and writes nothing. What runs besides the cells (cost-model runs, baseline checks, the
per-request probe) is asked of the components that run them, never derived again here."""

from __future__ import annotations

import glob
import os
import shlex

from ..core import gguf_header
from ..core.redaction import redact, visible
from ..errors import DraftbenchError
from ..measure import distribution, per_request, probes
from ..measure.bench import BenchConfig
from ..records import distribution as records_distribution
from ..results.jsonfile import load_results
from ..results.schema import RunResult
from ..server import backends, llama_bin, process
from ..setup import footprint
from ..setup.config import SweepConfig
from ..setup.levels import Level
from ..setup.speculation import Speculation
from . import shards
from .console import Accounting
from .cost_probes import CostProbes
from .drift_checks import BaselineChecks, check_size
from .eta import Estimator, Work, fmt_s
from .model_search import expected_requests
from .plan import Cell, build_plan, check_setups, server_slots, template_warnings, traffic
from .sessions import Sessions


def _command(cfg: SweepConfig, target: str, spec: Speculation) -> list[str]:
    server_spec = process.ServerSpec(target, spec, cfg.settings.server, None, server_slots(cfg))
    cmd = backends.command(cfg.backend, server_spec, 0)
    return [("<port>" if i and cmd[i - 1] == "--port" else a) for i, a in enumerate(redact(cmd))]


def _named(cell: Cell) -> str:
    """'T + setup', or 'T (the baseline)': a baseline has no setup to name."""
    setup = cell.setup.label if not cell.setup.is_baseline else None
    return f"{visible(cell.target.label)} + {visible(setup)}" if setup else f"{visible(cell.target.label)} (the baseline)"


def _memory(cfg: SweepConfig, cell: Cell, warnings: list[str]) -> str:
    """', about N MiB' (the estimate from the GGUF headers); a warning, once per setup (its levels share a server,
    so ``warnings`` is empty at the others), where it exceeds memory_budget_mib."""
    s = cfg.settings
    need = (
        footprint.estimate_mib(
            cell.target.path,
            cell.setup.speculation,
            s.server.ctx_size,
            server_slots(cfg),
            gpu_layers=s.server.gpu_layers,
            repack=not footprint.no_repack(s.server.extra_args),
        )
        if cfg.backend.local_files
        else None
    )
    if need is None:
        if not cfg.backend.local_files:
            return ""
        if s.memory_budget_mib is not None:
            warnings.append(
                f"WARNING: {_named(cell)}: its memory could not be "
                "estimated (a GGUF header it needs could not be read), so memory_budget_mib is not checked before it "
                "runs: check the model files (server.py, or llama-server itself, says what is wrong with them)"
            )
        return ", memory not estimated (a GGUF header could not be read)"
    if s.memory_budget_mib is not None and need > s.memory_budget_mib:
        then = (
            "the target alone is over it, so no setup of it can fit: raise the budget or lower ctx_size"
            if cell.setup.is_baseline
            else "it will be measured but not recommended; lower ctx_size, drop the setup, or raise the budget"
        )
        warnings.append(
            f"WARNING: {_named(cell)} needs about "
            f"{need:,.0f} MiB (weights, KV cache and compute, from the GGUF headers and ctx_size "
            f"{s.server.ctx_size}), over memory_budget_mib {s.memory_budget_mib:,.0f}: {then}"
        )
    return f", about {need:,.0f} MiB"


def _previous(results_path: str) -> list[RunResult]:
    """The runs the sweep would resume: a file it would refuse (corrupt, another version's) is refused here too."""
    return load_results(results_path)[1] if os.path.exists(results_path) else []


def _history(results_path: str, shard: shards.Shard | None) -> tuple[str, list[RunResult]]:
    """The runs the time estimate learns from: the file the sweep would resume; for a shard without one yet, the
    other shards' files of this sweep and their merged file (the same hardware by name)."""
    if shard is None or os.path.exists(results_path):
        return results_path, _previous(results_path)
    merged = shards.unsharded_name(results_path)
    found = [merged] if os.path.exists(merged) else sorted(glob.glob(os.path.splitext(merged)[0] + "_shard-*-of-*.json"))
    runs: list[RunResult] = []
    for path in found:
        try:
            runs += _previous(path)
        except DraftbenchError:
            continue  # another file's problem is its own sweep's to report
    return (", ".join(found) or results_path), runs


def plan_lines(cfg: SweepConfig, results_path: str, shard: shards.Shard | None = None) -> list[str]:
    """The plan as printed by --dry-run (a shard's part of it, with ``shard``)."""
    check_setups(cfg)
    warnings = [f"WARNING: {w}" for w in template_warnings(cfg).values()]
    if cfg.backend.llama_flags:
        binary = llama_bin.find_llama_server(cfg.settings.server.llama_bin)
        lines = [f"llama-server: {binary} ({llama_bin.probe(binary)[1]})"]
    else:
        lines = [f"backend: {cfg.backend.name}"]
    s, plan = cfg.settings, build_plan(cfg)
    whole = len(plan)  # cells are numbered in the whole plan, a shard's too
    if shard is not None:
        lines += shards.cost_lines(cfg, plan, shard, gguf_header.file_size)
        plan = shards.part(cfg, plan, shard, gguf_header.file_size)[0]
    lines.append(
        f"Prompts: {s.prompts} ({len(cfg.prompts)} prompts, categories "
        f"{', '.join(dict.fromkeys(p.category for p in cfg.prompts))})"
    )
    lines.append(
        f"Plan: {len(plan)} runs of {s.requests * s.runs} requests, up to {s.max_tokens} tokens each"
        + (" (adaptive search: stopped setups use fewer)" if s.search == "adaptive" else "")
    )
    if s.search == "model":
        expected, every = expected_requests(plan, s)
        lines.append(
            f"Model search: about {expected:,} measured requests expected, {expected / every:.0%} of the "
            f"exhaustive sweep's {every:,} (each draft calibrated on one length, the others predicted; "
            "more where predictions miss or setups are close)"
        )
    work: list[Work] = []
    total = 0
    for cell in plan:
        measured = BenchConfig.of(s, "", cfg.prompts, None, concurrency=cell.level.concurrency, traffic=traffic(cfg, cell))
        total += measured.most_tokens
        work.append(Work(cell.target.path, cell.setup.speculation.draft_path, cell.level, measured.requests, s.max_tokens))
        prefill = f", {(cell.level.depth or 0) * measured.requests:,} context tokens prefilled" if cell.level.depth else ""
        lines.append(
            f"[{cell.index}/{whole}] {visible(cell.title)}: up to {measured.most_tokens:,} tokens{prefill}"
            + _memory(cfg, cell, warnings if cell.level == plan[0].level else [])
        )
        lines.append(
            "    $ "
            + " ".join(
                a if a == "<port>" else shlex.quote(a)  # as a shell takes it
                for a in _command(cfg, cell.target.path, cell.setup.speculation)
            )
        )
    if s.depth != (0,):
        lines.append(
            f"Context depth: {', '.join(str(d) for d in s.depth)} tokens before each measured prompt: "
            f"{sum(max(c.level.depth or 0, 0) * s.requests * s.runs for c in plan):,} context tokens "
            "prefilled in all, none from a cache (the estimated time counts their prefill)"
        )
    total += (
        _checks(cfg, plan, work, lines)
        + _cost_model(cfg, plan, work, lines)
        + _probe(cfg, plan, lines)
        + _distribution(cfg, plan, lines)
    )
    source, previous = _history(results_path, shard)
    est = Estimator(gguf_header.file_size)
    for run in previous:
        est.learn(run)
    left = est.remaining(work)
    lines.append(f"Total: up to {total:,} generated tokens")
    lines.append(
        f"Estimated time: about {fmt_s(left)} (from {len(previous)} runs in {source})"
        if left is not None
        else f"Estimated time: unknown: no earlier results of this hardware at {results_path}"
    )
    lines.append("Dry run: no server started, nothing written.")
    return warnings + lines


def _checks(cfg: SweepConfig, plan: list[Cell], work: list[Work], lines: list[str]) -> int:
    """The baseline checks: their line, their work, and the tokens they generate."""
    s, checked = cfg.settings, BaselineChecks.planned(cfg, plan)
    if not checked:
        return 0
    size = check_size(cfg)
    work += [Work(c.target.path, None, c.level, size, s.max_tokens) for c in checked]
    lines.append(
        f"Baseline checks: {len(checked)}, {size} requests each: each target's baseline again after every "
        f"{s.baseline_every} setups and after its last (and more if the machine's load changes), one more "
        'target load each ("baseline_every": 0 turns them off)'
    )
    return len(checked) * BenchConfig.of(s, "", cfg.prompts, None, requests=size).most_tokens


def _cost_model(cfg: SweepConfig, plan: list[Cell], work: list[Work], lines: list[str]) -> int:
    """The cost model's runs, as :class:`CostProbes` will run them: each draft model alone (once), each setup's
    synthetic-acceptance twin, v(k) on each baseline; their lines, their work and the tokens they generate."""
    costs = CostProbes(cfg, process.ServerProcess, lambda *_a, **_k: None, None, Accounting(), lambda *_a: None)
    alone = list({c.setup.speculation.draft_path: c for c in plan if costs.wants_draft_alone(c)}.values())
    twins = [c for c in plan if costs.wants_twin(c)]
    bases = [c for c in plan if costs.wants_verify_costs(c)]
    solo, (warm, one) = costs.draft_alone_config(""), costs.twin_configs("")
    work += [Work(c.setup.speculation.draft_path or "", None, Level(), solo.requests, solo.max_tokens) for c in alone]
    work += [Work(c.target.path, c.setup.speculation.draft_path, c.level, 2, one.max_tokens) for c in twins]
    if alone:
        lines.append(
            f"Cost model: each of the {len(alone)} draft models alone on a server of its own, "
            f'{solo.requests} requests ("cost_model": false turns the cost model\'s runs off)'
        )
    if twins:
        lines.append(
            f"Cost model: {len(twins)} setups once more with synthetic acceptance (their verification time "
            f"in the loop), one more server start and up to {warm.most_tokens + one.most_tokens} tokens each"
        )
    return (
        len(alone) * solo.most_tokens + len(twins) * (warm.most_tokens + one.most_tokens) + len(bases) * probes.VERIFY_COST_TOKENS
    )


def _distribution(cfg: SweepConfig, plan: list[Cell], lines: list[str]) -> int:
    """The distribution check's samples: every cell at a temperature above 0, when asked for."""
    s = cfg.settings
    hot = [c for c in plan if s.check_distribution and s.temperature_at(c.level) > 0]
    if not hot:
        return 0
    per = min(distribution.PREFIXES, len(cfg.prompts)) * distribution.SAMPLES
    lines.append(
        f"Distribution check: {len(hot)} cells at temperature > 0, {per} requests of {records_distribution.TOKENS} "
        'tokens each, after their measured requests ("check_distribution": false turns it off)'
    )
    return len(hot) * per * records_distribution.TOKENS


def _probe(cfg: SweepConfig, plan: list[Cell], lines: list[str]) -> int:
    """The per-request settings probe, where :class:`Sessions` would share a server between setups."""
    if not Sessions(cfg, plan, process.ServerProcess, print, None, Accounting(), lambda *_a: None).shareable:
        return 0
    lines.append("Per-request settings: probed once with two short requests (a server kept for several setups)")
    return per_request.PROBE_TOKENS
