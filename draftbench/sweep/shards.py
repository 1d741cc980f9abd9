"""A sweep split across a fleet of identical nodes: which shard this process measures (``--shard I/N``, or the
index a Slurm job array or a Kubernetes Indexed Job gives it) and the part of the plan that shard runs.

The plan is split by setup: every cell of one (target, setup) pair, all its levels, goes to one shard, so the
levels of a setup still share a server. Each shard also measures the baseline of every target it measures
setups for, so every speedup stays a comparison on one machine. Parts are balanced by a cost computed from the
config alone (tokens to generate and context to prefill, times the target's file size), so every node, and the
dry run, split the plan the same way. Pure but for reading the environment and the config file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ..core.limits import LIMITS
from ..errors import ConfigError, ShardError
from ..results.schema import ShardInfo
from ..setup.config import SweepConfig
from .plan import Cell

PREFILL_WEIGHT = 0.05  # a context token costs about this much of a generated one (prefill is batched)
SUFFIX = re.compile(r"_shard-(\d+)-of-(\d+)$")


@dataclass(frozen=True)
class Shard:
    """Which part of the plan this process measures: ``index`` from 0 to ``count`` - 1."""

    index: int
    count: int
    source: str = "--shard"  # where the index came from, as the console says it
    job: str | None = None  # the scheduler's name for this task

    @property
    def suffix(self) -> str:
        """What the results file's default name ends with: ``_shard-2-of-4``."""
        return f"_shard-{self.index}-of-{self.count}"

    def text(self) -> str:
        return f"shard {self.index} of {self.count} (from {self.source})"


def parse(text: str) -> Shard:
    """``--shard I/N``: shards count from 0, like SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise ShardError(f"--shard {text}: must be INDEX/COUNT, such as 0/4 (shards count from 0)")
    return _checked(int(m.group(1)), int(m.group(2)), "--shard")


def _checked(index: int, count: int, source: str, job: str | None = None) -> Shard:
    if count < 1:
        raise ShardError(f"{source}: the shard count must be 1 or more, got {count}")
    most = int(LIMITS["shards"].high)
    if count > most:
        raise ShardError(f"{source}: {count:,} shards is more than a sweep may have ({most:,}): give a smaller shard count")
    if not 0 <= index < count:
        raise ShardError(
            f"{source}: shard index {index} is not one of 0..{count - 1} for {count} shards "
            "(shards count from 0, like SLURM_ARRAY_TASK_ID)"
        )
    return Shard(index, count, source, job)


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"-?\d+", value):
        raise ShardError(
            f"environment variable {name}={value!r} is not a whole number: give --shard INDEX/COUNT to set the shard yourself"
        )
    return int(value)


def from_environment(env: Mapping[str, str], count_flag: int | None, config_count: int) -> Shard | None:
    """The shard a scheduler gives this task: a Slurm job array's task (SLURM_ARRAY_TASK_ID, its count from
    SLURM_ARRAY_TASK_COUNT or the array's MIN, MAX and STEP), or a Kubernetes Indexed Job's pod
    (JOB_COMPLETION_INDEX, its count from ``--shard-count`` or ``settings.shards``); None outside both."""
    task = _int(env, "SLURM_ARRAY_TASK_ID")
    if task is not None:
        low, high = _int(env, "SLURM_ARRAY_TASK_MIN") or 0, _int(env, "SLURM_ARRAY_TASK_MAX")
        step = _int(env, "SLURM_ARRAY_TASK_STEP") or 1
        given = _int(env, "SLURM_ARRAY_TASK_COUNT")
        count = given if given is not None else ((high - low) // step + 1 if high is not None else None)
        if count is None:
            raise ShardError(
                "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX: give --shard INDEX/COUNT"
            )
        if (task - low) % step:
            raise ShardError(
                f"SLURM_ARRAY_TASK_ID={task} is not on the array's steps (min {low}, step {step}): give --shard INDEX/COUNT"
            )
        if count_flag is not None and count_flag != count:
            raise ShardError(
                f"--shard-count {count_flag} disagrees with the Slurm array's {count} tasks: drop --shard-count "
                "(a job array says its own count)"
            )
        job = f"{env.get('SLURM_ARRAY_JOB_ID', '?')}_{task}"
        return _checked((task - low) // step, count, f"SLURM_ARRAY_TASK_ID={task} of {count}", job)
    index = _int(env, "JOB_COMPLETION_INDEX")
    if index is not None:
        count = count_flag or config_count
        if count <= 1 and count_flag is None:
            raise ShardError(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not how many shards "
                "there are: give --shard-count N (the Job's completions) or settings.shards"
            )
        return _checked(index, count, f"JOB_COMPLETION_INDEX={index} of {count}", env.get("HOSTNAME"))
    if count_flag is not None:
        raise ShardError(
            "--shard-count needs JOB_COMPLETION_INDEX in the environment (a Kubernetes Indexed "
            "Job): elsewhere give --shard INDEX/COUNT"
        )
    return None


def config_hash(cfg: SweepConfig) -> str:
    """The config file's content, canonical (key order and spacing do not count): shards of one sweep share it."""
    try:
        with open(cfg.source, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        data = cfg.settings_record()
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def plan_hash(plan: list[Cell]) -> str:
    return hashlib.sha256(repr([(c.index, c.key) for c in plan]).encode()).hexdigest()[:16]


def weight(cfg: SweepConfig, size: Callable[[str], int]) -> Callable[[Cell], float]:
    """A cell's cost from the config alone: its tokens (generated, and context prefilled at PREFILL_WEIGHT) times
    its target's file size, as decoding is memory-bound."""
    s = cfg.settings
    sizes: dict[str, int] = {}

    def cost(cell: Cell) -> float:
        if cell.target.path not in sizes:
            sizes[cell.target.path] = max(1, size(cell.target.path) if cfg.backend.local_files else 1)
        tokens = s.requests * s.runs * (s.max_tokens + PREFILL_WEIGHT * (cell.level.depth or 0))
        return tokens * sizes[cell.target.path] / 1e9

    return cost


def split(plan: list[Cell], count: int, cost: Callable[[Cell], float]) -> list[list[Cell]]:
    """``plan`` in ``count`` parts: each (target, setup) pair, all its levels, in exactly one part; each part with
    the baselines of its targets. Greedy by cost, largest first, into the part that ends least loaded counting
    the baseline it would add; ties to the lower index. Deterministic: the same plan and costs, the same parts."""
    bases: dict[str, list[Cell]] = {}
    units: dict[tuple, list[Cell]] = {}
    for c in plan:
        if c.setup.is_baseline:
            bases.setdefault(c.target.label, []).append(c)
        else:
            units.setdefault((c.target.label, c.setup.label), []).append(c)
    every: dict[Any, list[Cell]] = {**bases, **units}
    price = {k: sum(cost(c) for c in v) for k, v in every.items()}
    loads = [0.0] * count
    targets: list[set[Any]] = [set() for _ in range(count)]
    chosen: list[set[Any]] = [set() for _ in range(count)]

    def place(key: tuple | str, target: str) -> None:
        extra = [(price[key] if key in units else 0.0) + (0.0 if target in targets[i] else price[target]) for i in range(count)]
        i = min(range(count), key=lambda j: (loads[j] + extra[j], j))
        loads[i] += extra[i]
        targets[i].add(target)
        chosen[i].add(key)

    for key in sorted(units, key=lambda k: -price[k]):  # sorted is stable: plan order among equal costs
        place(key, key[0])
    for target in bases:
        if not any(target in t for t in targets):  # a target without setups: its baseline alone
            place(target, target)
    return [
        [
            c
            for c in plan
            if (c.target.label in targets[i] if c.setup.is_baseline else (c.target.label, c.setup.label) in chosen[i])
        ]
        for i in range(count)
    ]


def part(cfg: SweepConfig, plan: list[Cell], shard: Shard, size: Callable[[str], int]) -> tuple[list[Cell], ShardInfo]:
    """The cells ``shard`` measures (each carrying its shard index) and what its results file records of it."""
    if cfg.settings.search != "exhaustive":
        raise ConfigError(
            cfg.source,
            [
                f"settings.search: {cfg.settings.search!r} races setups against each other on one machine, so its "
                "answer depends on which setups a node sees: split only an exhaustive sweep across shards "
                '("search": "exhaustive"), or run this search on one node'
            ],
        )
    mine = split(plan, shard.count, weight(cfg, size))[shard.index]
    info = ShardInfo(
        shard.index,
        shard.count,
        config_hash(cfg),
        plan_hash(plan),
        len(plan),
        [c.index for c in mine],
        shard.source,
        shard.job,
        socket.gethostname(),
    )
    return [replace(c, shard=shard.index) for c in mine], info


def cost_lines(cfg: SweepConfig, plan: list[Cell], shard: Shard, size: Callable[[str], int]) -> list[str]:
    """What the dry run says of a shard: its cells, its share of the cost, and what its baselines add."""
    cost = weight(cfg, size)
    parts = split(plan, shard.count, cost)
    total = sum(cost(c) for c in plan) or 1.0
    loads = [sum(cost(c) for c in p) for p in parts]
    extra = sum(loads) - total
    return [
        f"Shard {shard.index} of {shard.count}: {len(parts[shard.index])} of the plan's {len(plan)} cells, "
        f"{loads[shard.index] / total:.0%} of its cost (parts from {min(loads) / total:.0%} to "
        f"{max(loads) / total:.0%})",
        f"Baselines: each shard measures the baseline of every target it measures setups for, so every "
        f"speedup compares runs of one node; across the {shard.count} shards that adds "
        f"{extra / total:.0%} to the plan's cost",
    ]


def default_name(path: str, shard: Shard) -> str:
    stem, ext = os.path.splitext(path)
    return stem + shard.suffix + ext


def unsharded_name(path: str) -> str:
    """A shard's file name without its ``_shard-I-of-N``: the merged file's default."""
    stem, ext = os.path.splitext(path)
    return SUFFIX.sub("", stem) + ext
