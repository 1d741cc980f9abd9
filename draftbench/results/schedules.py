"""Serving schedules: the draft length to use at each batch size, from the per-level results, in the forms serving
engines take it.

Per target measured at several concurrency levels, one setup family (setups that differ only in draft length)
is scheduled: the one recommended at the lowest level (else the one that wins the most levels). At each level the
length is the recommendation's where it is of that family, else that family's fastest length that beats the
baseline there (by the recommendation's rule: a tie with no speculation, an interval that includes no gain, is
no win); 0 (speculation off) where none does. Batch sizes between measured levels take the nearest measured
level below; below the lowest level, the lowest level's length.

- vLLM, ``num_speculative_tokens_per_batch_size``: ``[[lo, hi, K], ...]``, inclusive, non-overlapping ranges that
  cover 1 .. the largest level;
- TensorRT-LLM, ``draft_len_schedule``: ``{batch >= key: K}`` with key 1, whose K is ``max_draft_len`` (no later
  K may exceed it: a level that wants more is capped at it);
- llama-server: one command line per ``--parallel`` value (its slots hold the batch)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from ..core.stats import pct
from ..setup.levels import Level
from .grouping import eligible, gain
from .recommend import Recommendation, serve_command, ties_baseline
from .schema import RunResult


@dataclass(frozen=True)
class Step:
    """One measured level: its streams, the run scheduled there (None: speculation off) and its length."""

    streams: int
    run: RunResult | None
    draft_max: int
    note: str = ""  # another family won this level, or TensorRT-LLM's cap changed the length

    def to_dict(self) -> dict:
        return {
            "streams": self.streams,
            "setup": self.run.draft if self.run else None,
            "draft_max": self.draft_max,
            **({"note": self.note} if self.note else {}),
        }


def _family(run: RunResult) -> tuple:
    spec = run.speculation
    return (run.target, spec.with_axes({"draft_max": None}) if spec is not None else run.draft)


def _wins(run: RunResult) -> bool:
    """Beats its baseline: faster, and not tied with no speculation (the recommendation's rule)."""
    return eligible(run) and (gain(run) or 0.0) > 1.0 and not ties_baseline(run)


def _length(run: RunResult) -> int:
    return (run.speculation.draft_max if run.speculation else None) or 0


@dataclass(frozen=True)
class Schedule:
    target: str
    target_path: str | None
    family: str  # the scheduled family, as its lowest level's setup is labelled
    steps: tuple[Step, ...]

    @property
    def levels(self) -> list[int]:
        return [s.streams for s in self.steps]

    def vllm(self) -> list[list[int]]:
        """``num_speculative_tokens_per_batch_size``: each level's range up to the next level's streams - 1."""
        ends = [s.streams - 1 for s in self.steps[1:]] + [self.steps[-1].streams]
        starts = [1] + [s.streams for s in self.steps[1:]]
        return [[lo, hi, s.draft_max] for lo, hi, s in zip(starts, ends, self.steps)]

    def tensorrt(self) -> dict[int, int]:
        """``draft_len_schedule``: {1: max_draft_len, streams: K, ...}, no K above the first."""
        top = self.steps[0].draft_max
        return {1 if i == 0 else s.streams: min(s.draft_max, top) for i, s in enumerate(self.steps)}

    def llama_commands(self) -> list[str]:
        """One llama-server command line per level: its slots and the scheduled setup's flags."""
        out = []
        for s in self.steps:
            flags = s.run.flags if s.run is not None else []
            out.append(shlex.join(["llama-server", "-m", self.target_path or self.target, "--parallel", str(s.streams), *flags]))
        return out

    def vllm_command(self) -> list[str] | None:
        """Where the runs were vLLM's: ``vllm serve`` with the schedule in its --speculative-config (the longest
        length as num_speculative_tokens); None for llama-server's."""
        first = next(s.run for s in self.steps if s.run is not None)
        command = serve_command(first)
        if command is None:
            return None
        config = json.loads(command[-1])
        config.update(
            num_speculative_tokens=max(s.draft_max for s in self.steps), num_speculative_tokens_per_batch_size=self.vllm()
        )
        return [*command[:-1], json.dumps(config)]

    def lines(self) -> list[str]:
        """What the console, the Markdown and the report print."""
        per = ", ".join(
            f"{s.streams} stream{'s' if s.streams > 1 else ''}: "
            + (f"n_max {s.draft_max}" if s.draft_max else "off")
            + (f" ({s.note})" if s.note else "")
            for s in self.steps
        )
        command = self.vllm_command()
        return [
            f"Schedule for {self.target} with {self.family} (levels {', '.join(map(str, self.levels))} "
            f"measured; batch sizes between them take the nearest measured level below): {per}",
            f"  vLLM: {shlex.join(command)}"
            if command
            else f'  vLLM --speculative-config: "num_speculative_tokens_per_batch_size": {self.vllm()}',
            f"  TensorRT-LLM speculative_config: draft_len_schedule: {self.tensorrt()}",
            *([] if command else (f"  llama-server: {c}" for c in self.llama_commands())),
        ]

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "family": self.family,
            "levels": self.levels,
            "steps": [s.to_dict() for s in self.steps],
            "vllm_num_speculative_tokens_per_batch_size": self.vllm(),
            "tensorrt_draft_len_schedule": {str(k): v for k, v in self.tensorrt().items()},
            **(
                {"vllm_command": self.vllm_command()} if self.vllm_command() else {"llama_server_commands": self.llama_commands()}
            ),
        }


def schedules(runs: list[RunResult], recs: list[Recommendation]) -> list[Schedule]:
    """One schedule per target measured at more than one concurrency level (same temperature and depth)."""
    out = []
    for target in dict.fromkeys(r.target for r in recs):
        mine = sorted(
            (r for r in recs if r.target == target and r.level == Level(r.level.streams)), key=lambda r: r.level.streams
        )
        if len(mine) < 2:
            continue
        chosen = [r.use() for r in mine]
        winners = [_family(u) for u in chosen if u is not None]
        if not winners:
            continue
        family = _family(chosen[0]) if chosen[0] is not None else max(set(winners), key=winners.count)
        steps = [_step(rec, use, family, runs) for rec, use in zip(mine, chosen)]
        first = next(s.run for s in steps if s.run is not None)
        out.append(Schedule(target, first.target_path, str(first.draft), tuple(steps)))
    return out


def _step(rec: Recommendation, use: RunResult | None, family: tuple, runs: list[RunResult]) -> Step:
    streams = rec.level.streams
    if use is not None and _family(use) == family:
        return Step(streams, use, _length(use))
    mine = [r for r in runs if r.level == rec.level and r.draft is not None and _family(r) == family and _wins(r)]
    best = max(mine, key=lambda r: gain(r) or 0.0, default=None)
    note = f"{use.draft} was faster here ({pct(gain(use))}): a server of its own" if use is not None else ""
    return Step(streams, best, _length(best) if best is not None else 0, note)
