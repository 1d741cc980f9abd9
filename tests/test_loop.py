"""The closed loop of a concurrency level, on a scripted clock (no servers, no threads)."""

from __future__ import annotations

import heapq

import pytest

from draftbench.core import stats
from draftbench.measure.loop import ThreadExecutor, closed_loop
from draftbench.records.requests import RequestResult


class ScriptedServer:
    """Requests take scripted durations on a virtual clock: ``next_done`` jumps to the earliest end."""

    def __init__(self, durations: list[float], tokens: int = 100):
        self.durations, self.tokens = durations, tokens
        self.now = 0.0
        self.running: list[tuple[float, int]] = []
        self.log: list[tuple[str, int, float]] = []

    def clock(self) -> float:
        return self.now

    def submit(self, index: int) -> None:
        self.log.append(("send", index, self.now))
        heapq.heappush(self.running, (self.now + self.durations[index], index))

    def next_done(self) -> tuple[int, RequestResult, float]:
        end, index = heapq.heappop(self.running)
        self.now = end
        self.log.append(("end", index, end))
        return index, RequestResult(f"p{index}", completion_tokens=self.tokens, decode_tps=10.0), end


def test_each_worker_sends_its_next_request_as_soon_as_one_ends():
    server = ScriptedServer([3.0, 1.0, 1.0, 1.0, 2.0])
    loop = closed_loop(2, 5, server, server.clock)
    sends = {i: t for kind, i, t in server.log if kind == "send"}
    assert sends == {0: 0.0, 1: 0.0, 2: 1.0, 3: 2.0, 4: 3.0}  # 1 ends at 1 -> 2 goes; 2 ends at 2 -> 3 goes ...
    assert [r.prompt_id for r in loop.results] == ["p0", "p1", "p2", "p3", "p4"]  # schedule order, not end order
    assert [r.sent_at_s for r in loop.results] == [0.0, 0.0, 1.0, 2.0, 3.0]
    assert [r.ended_at_s for r in loop.results] == [3.0, 1.0, 2.0, 3.0, 5.0]
    assert loop.wall_s == 5.0 and loop.max_in_flight == 2


def test_never_more_than_the_level_in_flight_and_level_one_is_sequential():
    server = ScriptedServer([1.0, 2.0, 0.5, 4.0, 1.0, 1.0, 3.0])
    loop = closed_loop(3, 7, server, server.clock)
    flying = peak = 0
    for kind, _, _ in server.log:
        flying += 1 if kind == "send" else -1
        peak = max(peak, flying)
    assert peak == 3 == loop.max_in_flight
    single = ScriptedServer([1.0, 2.0, 0.5])
    loop = closed_loop(1, 3, single, single.clock)
    assert [(r.sent_at_s, r.ended_at_s) for r in loop.results] == [(0.0, 1.0), (1.0, 3.0), (3.0, 3.5)]


def test_aggregate_throughput_is_all_tokens_over_first_send_to_last_end():
    server = ScriptedServer([2.0, 2.0, 2.0, 2.0], tokens=50)
    loop = closed_loop(2, 4, server, server.clock)
    assert loop.wall_s == 4.0 and loop.completion_tokens == 200 and loop.aggregate_tps == pytest.approx(50.0)
    failed = ScriptedServer([1.0])
    empty = closed_loop(4, 0, failed, failed.clock)
    assert empty.results == [] and empty.aggregate_tps is None


def test_a_level_above_the_request_count_sends_them_all_at_once():
    server = ScriptedServer([1.0, 1.0])
    loop = closed_loop(8, 2, server, server.clock)
    assert loop.max_in_flight == 2 and [r.sent_at_s for r in loop.results] == [0.0, 0.0]


def test_thread_executor_runs_requests_in_parallel_and_survives_a_bug():
    import threading
    import time

    barrier = threading.Barrier(3, timeout=5)

    def send(i: int) -> RequestResult:
        if i == 3:
            raise RuntimeError("bug")
        barrier.wait()  # returns only when three requests are in flight together
        return RequestResult(f"p{i}", completion_tokens=10)

    loop = closed_loop(3, 4, ThreadExecutor(send, time.perf_counter), time.perf_counter)
    assert [r.prompt_id for r in loop.results[:3]] == ["p0", "p1", "p2"]
    assert loop.results[3].error == "internal error: RuntimeError('bug')"


def test_percentiles_by_hand():
    assert stats.percentile([], 95) is None
    assert stats.percentile([4.0], 95) == 4.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)  # 4 + 0.8 * (5 - 4)
    assert stats.percentile([10.0, 0.0], 25) == pytest.approx(2.5)
