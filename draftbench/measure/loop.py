"""The closed loop of one concurrency level: N workers, each sending its next request as soon as its
previous one ends, until the level's requests are done; and the open loop of a request rate: each request sent
at its arrival time (:func:`arrivals`, drawn from the seed: every setup gets the same), whether or not earlier ones
have ended. Request i is always the i-th of the prompt schedule, whatever the level, so every level sees the same
prompts.

The scheduling runs in one thread (:func:`closed_loop`) over an :class:`Executor` that starts requests
and reports them done; :class:`ThreadExecutor` runs each request in a thread of its own, and tests
script one with a virtual clock."""

from __future__ import annotations

import queue
import random
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


def arrivals(rate: float, count: int, seed: int, arrival: str = "poisson", skip: int = 0) -> list[float]:
    """Requests ``skip`` .. ``skip + count``'s send times, in seconds after the first of them: exponential gaps of
    mean 1/``rate`` ("poisson") or gaps of exactly 1/``rate`` ("constant"), drawn from the seed and the rate, so
    the baseline and every setup see the same arrivals at a rate; ``rate`` 0: every request at once."""
    if rate == 0:
        return [0.0] * count
    draw = random.Random(f"arrivals:{seed}:{rate!r}")
    times, t = [], 0.0
    for _ in range(skip + count):
        times.append(t)
        t += draw.expovariate(rate) if arrival == "poisson" else 1.0 / rate
    return [x - times[skip] for x in times[skip:]] if count else []


def open_loop(times: list[float], executor: Executor, clock: Clock, sleep: Callable[[float], None]) -> LoopResult:
    """Send request i at ``times[i]`` after the first send, however many are in flight; its ``scheduled_at_s`` is
    when it should have gone, ``sent_at_s`` when it did (a client that falls behind its schedule is seen)."""
    if not times:
        return LoopResult([], 0.0, 0)
    start = clock()
    sent: list[float] = []
    for i, at in enumerate(times):
        wait = start + at - clock()
        if wait > 0:
            sleep(wait)
        sent.append(clock() - start)
        executor.submit(i)
    done: dict[int, tuple[RequestResult, float]] = {}
    while len(done) < len(times):
        index, result, ended = executor.next_done()
        done[index] = (result, ended - start)
    results = []
    for i, at in enumerate(times):
        result, ended = done[i]
        result.scheduled_at_s, result.sent_at_s, result.ended_at_s = at, sent[i], ended
        results.append(result)
    peak = max(sum(1 for j in range(len(times)) if sent[j] <= sent[i] < done[j][1]) for i in range(len(times)))
    return LoopResult(results, max(e for _, e in done.values()), peak)


def behind(results: list[RequestResult], rate: float) -> list[str]:
    """A client that could not keep to its schedule, said with how far behind it fell ([] when it kept up): late
    means sent more than 10 ms, or a tenth of the mean gap, after its arrival time."""
    if rate == 0:
        return []
    slack = max(0.010, 0.1 / rate)
    late = [r.sent_at_s - r.scheduled_at_s for r in results if r.sent_at_s is not None and r.scheduled_at_s is not None]
    missed = [x for x in late if x > slack]
    if not missed:
        return []
    span = max(r.sent_at_s or 0.0 for r in results)
    achieved = (len(results) - 1) / span if span > 0 else float("inf")
    return [
        f"the client fell behind its schedule at {rate:g} req/s: {len(missed)} of {len(late)} requests were sent late, "
        f"by up to {max(missed):.3f} s (sent at {achieved:.2f} req/s): what was measured is a lower rate than asked; "
        "run the client on a less busy machine or lower the rate"
    ]


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
