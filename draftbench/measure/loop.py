"""The closed loop of one concurrency level: N workers, each sending its next request as soon as its
previous one ends, until the level's requests are done. Request i is always the i-th of the prompt
schedule, whatever the level, so every level sees the same prompts.

The scheduling runs in one thread (:func:`closed_loop`) over an :class:`Executor` that starts requests
and reports them done; :class:`ThreadExecutor` runs each request in a thread of its own, and tests
script one with a virtual clock."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

from ..records.requests import RequestResult

Clock = Callable[[], float]


class Executor(Protocol):
    def submit(self, index: int) -> None:
        """Start request ``index`` now."""

    def next_done(self) -> tuple[int, RequestResult, float]:
        """Wait for a request to end: its index, its result and when it ended (on the loop's clock)."""


@dataclass
class LoopResult:
    results: list[RequestResult]  # in schedule order; sent_at_s / ended_at_s set, from the first send
    wall_s: float  # first send to last end
    max_in_flight: int

    @property
    def completion_tokens(self) -> int:
        return sum(r.completion_tokens or 0 for r in self.results if r.ok)

    @property
    def aggregate_tps(self) -> float | None:
        """Completion tokens of all successful requests over the loop's wall time."""
        return self.completion_tokens / self.wall_s if self.wall_s > 0 and self.completion_tokens else None


def closed_loop(level: int, count: int, executor: Executor, clock: Clock) -> LoopResult:
    """Run ``count`` requests with ``level`` in flight at a time."""
    if level < 1:
        raise ValueError("level must be >= 1")
    sent: dict[int, float] = {}
    done: dict[int, tuple[RequestResult, float]] = {}
    upcoming = 0
    in_flight = peak = 0

    def send_next() -> None:
        nonlocal upcoming, in_flight, peak
        sent[upcoming] = clock()
        executor.submit(upcoming)
        upcoming += 1
        in_flight += 1
        peak = max(peak, in_flight)

    while upcoming < min(level, count):
        send_next()
    while len(done) < count:
        index, result, ended = executor.next_done()
        in_flight -= 1
        done[index] = (result, ended)
        if upcoming < count:
            send_next()
    if not count:
        return LoopResult([], 0.0, 0)
    start = min(sent.values())
    results = []
    for i in range(count):
        result, ended = done[i]
        result.sent_at_s, result.ended_at_s = sent[i] - start, ended - start
        results.append(result)
    return LoopResult(results, max(e for _, e in done.values()) - start, peak)


class ThreadExecutor:
    """Each request in a thread of its own; ``send(index)`` performs request ``index``."""

    def __init__(self, send: Callable[[int], RequestResult], clock: Clock):
        self._send, self._clock = send, clock
        self._done: queue.Queue = queue.Queue()

    def submit(self, index: int) -> None:
        threading.Thread(target=self._run, args=(index,), daemon=True, name=f"request-{index}").start()

    def _run(self, index: int) -> None:
        try:
            result = self._send(index)
        except Exception as exc:  # a request never raises; a bug here must not hang the loop
            result = RequestResult(str(index), error=f"internal error: {exc!r}")
        self._done.put((index, result, self._clock()))

    def next_done(self) -> tuple[int, RequestResult, float]:
        return self._done.get()
