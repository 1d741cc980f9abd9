"""How long the rest of a sweep will take. Each target's seconds per generated token at each level (prefill
included), its seconds per prefilled prompt token and each model's load time are learnt from the runs measured so
far (like with like: never one mean over unlike runs). A level not measured yet takes its concurrency's rate at
the shallowest depth measured plus the prefill of its depth; a target not measured yet is scaled from the
measured ones by model file size, as decoding is memory-bound. Pure: runs, sizes and a clock in, seconds out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..results.schema import RunResult
from ..setup.levels import Level


@dataclass(frozen=True)
class Work:
    """What a cell still has to do."""

    target: str  # model path
    draft: str | None  # draft model path
    level: Level
    requests: int
    max_tokens: int


def fmt_s(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min'."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


@dataclass
class Estimator:
    size: Callable[[str], int]  # a model file's size in bytes (0 when unknown)
    per_token: dict[tuple[str, Level], tuple[float, int]] = field(default_factory=dict)  # (target, level) -> (s, tokens)
    prefill: dict[str, tuple[float, int]] = field(default_factory=dict)  # target -> (TTFT s, prompt tokens)
    per_request: dict[str, tuple[int, int]] = field(default_factory=dict)  # target -> (tokens, requests)
    loads: dict[tuple[str, str | None], float] = field(default_factory=dict)  # (target, draft) -> seconds

    def learn(self, run: RunResult) -> None:
        if run.target_path is None or run.error is not None:
            return
        ok = [q for q in run.requests if not q.error]
        tokens = sum(q.completion_tokens or 0 for q in ok)
        seconds = run.loop_wall_s or sum(q.total_s or 0.0 for q in ok)
        if tokens and seconds:
            key = (run.target_path, run.level)
            s, t = self.per_token.get(key, (0.0, 0))
            self.per_token[key] = (s + seconds, t + tokens)
            waits = [(q.ttft_s, q.prompt_tokens) for q in ok if q.ttft_s and q.prompt_tokens]
            s, t = self.prefill.get(run.target_path, (0.0, 0))
            self.prefill[run.target_path] = (s + sum(w for w, _ in waits), t + sum(n for _, n in waits))
            t2, n = self.per_request.get(run.target_path, (0, 0))
            self.per_request[run.target_path] = (t2 + tokens, n + len(ok))
        if run.load_time_s:
            self.loads[(run.target_path, run.draft_path)] = run.load_time_s

    def _seconds_per_token(self, target: str, level: Level) -> tuple[float, bool] | None:
        """Seconds per generated token, and whether that includes the level's prefill (a level measured)."""
        if (target, level) in self.per_token:
            s, t = self.per_token[(target, level)]
            return s / t, True
        # a level not measured yet: its concurrency's rate at the shallowest depth measured, else one stream's
        # (an upper bound), else scaled by model size from other targets
        for streams in (level.concurrency, 1):
            mine = sorted(
                (k[1].depth or 0, v) for k, v in self.per_token.items() if k[0] == target and k[1].concurrency == streams
            )
            if mine:
                s, t = mine[0][1]
                return s / t, not level.depth
        rate = self._per_byte([(s / t, self.size(k[0])) for k, (s, t) in self.per_token.items() if k[1].concurrency == 1], target)
        return (rate, not level.depth) if rate is not None else None

    def _prefill_s(self, target: str, depth: int) -> float:
        """Seconds to prefill ``depth`` tokens of context (0 until some prefill has been measured)."""
        s, t = self.prefill.get(target, (0.0, 0))
        if t:
            return depth * s / t
        return depth * (self._per_byte([(s2 / t2, self.size(k)) for k, (s2, t2) in self.prefill.items() if t2], target) or 0.0)

    def _per_byte(self, known: list[tuple[float, int]], target: str) -> float | None:
        """A rate of ``target`` scaled by model file size from other targets' (rate, bytes); None where unknown."""
        known = [(v, b) for v, b in known if b]
        if not known or not self.size(target):
            return None
        return sum(v for v, _ in known) / sum(b for _, b in known) * self.size(target)

    def _load(self, target: str, draft: str | None) -> float:
        if (target, draft) in self.loads:
            return self.loads[(target, draft)]
        known = [(s, self.size(t) + (self.size(d) if d else 0)) for (t, d), s in self.loads.items()]
        byte_s = sum(s for s, _ in known) / max(1, sum(b for _, b in known)) if known else 0.0
        return byte_s * (self.size(target) + (self.size(draft) if draft else 0))

    def seconds(self, work: Work) -> float | None:
        rate = self._seconds_per_token(work.target, work.level)
        if rate is None:
            return None
        per, prefilled = rate
        tokens, n = self.per_request.get(work.target, (0, 0))
        per_request = tokens / n if n else work.max_tokens
        prefill = 0.0 if prefilled else self._prefill_s(work.target, work.level.depth or 0)
        return self._load(work.target, work.draft) + (per * per_request + prefill) * work.requests

    def remaining(self, left: list[Work]) -> float | None:
        """Seconds for ``left``; None until something comparable has been measured."""
        parts = [self.seconds(w) for w in left]
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def progress_line(done: int, total: int, elapsed_s: float, left_s: float | None, at_most: bool = False) -> str:
    eta = "estimating" if left_s is None else f"{'at most ' if at_most else 'about '}{fmt_s(left_s)} left"
    return f"Progress: {done}/{total} runs, {fmt_s(elapsed_s)} elapsed, {total - done} to go, {eta}"
