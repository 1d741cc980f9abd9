"""``sweep.py --dry-run``: check a config before loading a 70B model. Validates the config and its prompts,
resolves llama-server and the flags of every setup, and prints the plan with each server's command line and
the tokens it will generate, and an estimate of the time when a results file of this hardware already
exists. Starts no server and writes nothing."""

from __future__ import annotations

import os

from ..core import gguf_header
from ..core.redaction import redact, visible
from ..results.jsonfile import load_results
from ..results.schema import RunResult
from ..server import backends, llama_bin, process
from ..setup.config import SweepConfig
from ..setup.speculation import Speculation
from .cost_probes import IN_LOOP_TOKENS, IN_LOOP_WARMUP_TOKENS
from .eta import Estimator, Work, fmt_s
from .plan import build_plan, check_setups, server_slots, template_warnings

WARMUP_TOKENS = 32  # bench.py caps warm-up requests at this many tokens


def _command(cfg: SweepConfig, target: str, spec: Speculation) -> list[str]:
    server_spec = process.ServerSpec(target, spec, cfg.settings.server, None, server_slots(cfg))
    cmd = backends.command(cfg.backend, server_spec, 0)
    return [("<port>" if i and cmd[i - 1] == "--port" else a) for i, a in enumerate(redact(cmd))]


def plan_lines(cfg: SweepConfig, results_path: str) -> list[str]:
    """The plan as printed by --dry-run."""
    check_setups(cfg)
    warnings = [f"WARNING: {w}" for w in template_warnings(cfg).values()]
    if cfg.backend.llama_flags:
        binary = llama_bin.find_llama_server(cfg.settings.server.llama_bin)
        lines = [f"llama-server: {binary} ({llama_bin.probe(binary)[1]})"]
    else:
        lines = [f"backend: {cfg.backend.name}"]
    s = cfg.settings
    plan = build_plan(cfg)
    per_cell = s.requests * s.runs
    lines.append(f"Prompts: {s.prompts} ({len(cfg.prompts)} prompts, categories "
                 f"{', '.join(dict.fromkeys(p.category for p in cfg.prompts))})")
    lines.append(f"Plan: {len(plan)} runs of {per_cell} requests, up to {s.max_tokens} tokens each"
                 + (" (adaptive search: stopped setups use fewer)" if s.search == "adaptive" else ""))
    previous: list[RunResult] = []
    if os.path.exists(results_path):
        try:
            previous = load_results(results_path)[1]
        except Exception:  # a broken file only loses the estimate here; the sweep itself reports it
            previous = []
    est = Estimator(gguf_header.file_size)
    for run in previous:
        est.learn(run)
    total_tokens = 0
    work = []
    for cell in plan:
        spec = cell.setup.speculation
        tokens = per_cell * s.max_tokens + s.warmup * min(s.max_tokens, WARMUP_TOKENS)
        total_tokens += tokens
        work.append(Work(cell.target.path, spec.draft_path, cell.level, per_cell, s.max_tokens))
        lines.append(f"[{cell.index}/{len(plan)}] {visible(cell.title)}: up to {tokens:,} tokens")
        lines.append("    $ " + " ".join(_command(cfg, cell.target.path, spec)))
    groups = [(t, level) for t in cfg.targets for level in s.concurrency]  # each with its baseline and setups
    per_group = -(-len(cfg.setups) // s.baseline_every) if s.baseline_every else 0
    if per_group:
        size = min(s.block, per_cell)
        total_tokens += len(groups) * per_group * (size * s.max_tokens + s.warmup * min(s.max_tokens, WARMUP_TOKENS))
        work += [Work(t.path, None, level, size, s.max_tokens) for t, level in groups for _ in range(per_group)]
        lines.append(f"Baseline checks: {len(groups) * per_group}, {size} requests each: each target's baseline again "
                     f"after every {s.baseline_every} setups and after its last (and more if the machine's load changes), one "
                     "more target load each (\"baseline_every\": 0 turns them off)")
    total_tokens += _in_loop_twins(cfg, plan, work, lines)
    left = est.remaining(work)
    lines.append(f"Total: up to {total_tokens:,} generated tokens")
    if left is not None:
        lines.append(f"Estimated time: about {fmt_s(left)} (from {len(previous)} runs in {results_path})")
    else:
        lines.append(f"Estimated time: unknown: no earlier results of this hardware at {results_path}")
    lines.append("Dry run: no server started, nothing written.")
    return warnings + lines


def _in_loop_twins(cfg: SweepConfig, plan: list, work: list[Work], lines: list[str]) -> int:
    """The cost model's synthetic-acceptance twins (one per setup at the first level): their line, their work,
    and the tokens they generate."""
    s = cfg.settings
    twins = [c for c in plan if not c.setup.is_baseline and c.level == s.concurrency[0]]
    if not (s.cost_model and cfg.backend.cost_model and twins):
        return 0
    size = min(IN_LOOP_TOKENS + IN_LOOP_WARMUP_TOKENS, 2 * s.max_tokens)
    work += [Work(c.target.path, c.setup.speculation.draft_path, c.level, 1, size) for c in twins]
    lines.append(f"Cost model: each of the {len(twins)} setups once more with synthetic acceptance (its verification "
                 f"time in the loop), one more server start and up to {size} tokens each, where the build has "
                 "--spec-synth-rates (\"cost_model\": false turns it off)")
    return len(twins) * size
