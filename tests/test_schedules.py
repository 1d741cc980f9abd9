"""Serving schedules from level results written by hand: each engine's documented rules hold (vLLM's inclusive,
non-overlapping ranges covering 1 .. the largest level; TensorRT-LLM's key 1, equal to the maximum length, no
length above it), a level where speculation loses or ties gets 0, and a level another family wins keeps the
scheduled family's own best."""

from __future__ import annotations

import pytest

from draftbench.results import evaluate
from draftbench.results.schedules import schedules
from draftbench.results.schema import RunResult
from draftbench.setup.speculation import Speculation

BASE = 100.0


def _run(
    draft: str | None,
    streams: int,
    speedup: float | None = None,
    low: float | None = None,
    n_max: int | None = None,
    path: str = "/m/d.gguf",
) -> RunResult:
    spec = Speculation(path, ("draft-simple",), draft_max=n_max) if draft else None
    fields = (
        {}
        if speedup is None
        else {
            "speedup": speedup,
            "speedup_ci95": [low, speedup * 1.1],
            "speedup_n": 12,
            "speedup_design": "paired",
            "aggregate_speedup": speedup,
        }
    )
    flags = ["--model-draft", path, "--spec-draft-n-max", str(n_max)] if draft else None
    return RunResult(
        "T",
        draft,
        streams,
        target_path="/m/t.gguf",
        speculation=spec,
        mean_tps=BASE * (speedup or 1),
        aggregate_tps=BASE * streams * (speedup or 1),
        n_requests=12,
        speculation_flags=flags,
        speculation_active=True if draft else None,
        **fields,
    )


def _schedules(rows: list[RunResult]):
    return schedules(rows, evaluate.recommend(rows))


def _levels(spec: dict[int, dict[int, tuple[float, float]]]) -> list[RunResult]:
    """{streams: {n_max: (speedup, lower bound)}} with a baseline at each level."""
    rows = []
    for streams, lengths in spec.items():
        rows.append(_run(None, streams))
        rows += [_run(f"d · n_max {k}", streams, s, low, k) for k, (s, low) in lengths.items()]
    return rows


def _check_rules(schedule) -> None:
    ranges = schedule.vllm()
    assert ranges[0][0] == 1 and ranges[-1][1] == max(schedule.levels)  # covers 1 .. the largest level
    for (lo, hi, k), nxt in zip(ranges, ranges[1:] + [None]):
        assert lo <= hi and k >= 0
        if nxt is not None:
            assert nxt[0] == hi + 1  # inclusive, non-overlapping, no gap
    trt = schedule.tensorrt()
    assert 1 in trt and trt[1] == max(trt.values())  # key 1: the maximum draft length, none above it
    assert list(trt) == sorted(trt)


def test_three_levels_give_the_three_engines_their_schedule_with_speculation_off_where_it_loses():
    rows = _levels(
        {
            1: {4: (1.40, 1.20), 2: (1.30, 1.15)},
            2: {4: (1.05, 0.95), 2: (1.12, 1.03)},  # n_max 4 ties with no speculation: never a win
            4: {4: (0.90, 0.80), 2: (0.95, 0.85)},
        }
    )  # both lose: speculation off
    found = _schedules(rows)
    assert len(found) == 1
    s = found[0]
    _check_rules(s)
    assert s.levels == [1, 2, 4] and [st.draft_max for st in s.steps] == [4, 2, 0]
    assert s.vllm() == [[1, 1, 4], [2, 3, 2], [4, 4, 0]]
    assert s.tensorrt() == {1: 4, 2: 2, 4: 0}
    commands = s.llama_commands()
    assert "--parallel 1" in commands[0] and "--spec-draft-n-max 4" in commands[0]
    assert "--parallel 4" in commands[2] and "--model-draft" not in commands[2]  # off: the plain server
    assert "nearest measured level below" in s.lines()[0]


def test_levels_above_one_start_the_first_range_at_one_and_a_later_longer_length_is_capped_for_tensorrt():
    rows = _levels({2: {2: (1.30, 1.10), 8: (1.20, 1.05)}, 8: {2: (1.05, 1.01), 8: (1.10, 1.02)}})
    found = _schedules(rows)
    s = found[0]
    _check_rules(s)
    assert s.vllm() == [[1, 7, 2], [8, 8, 8]]  # batch 1 takes the lowest level's length
    assert s.tensorrt() == {1: 2, 8: 2}  # TensorRT-LLM: nothing above schedule[1], its max_draft_len


def test_one_level_or_no_winner_makes_no_schedule():
    assert _schedules(_levels({1: {4: (1.4, 1.2)}})) == []
    assert _schedules(_levels({1: {4: (0.9, 0.8)}, 2: {4: (0.8, 0.7)}})) == []


@pytest.mark.parametrize("version", [10, 11])
def test_files_before_schedules_have_none_and_load_unchanged(version):
    import os

    path = os.path.join(os.path.dirname(__file__), "data", "golden", f"v{version}.json")
    meta, ev = evaluate.load(path)
    assert all(r.memory is None and r.extra_memory_mib is None for r in ev.runs)
    assert "schedules" not in meta.other
