"""The time-left estimate: learnt per target and per model load, scaled by size for unmeasured targets."""

from __future__ import annotations

import pytest

from draftbench.records.requests import RequestResult
from draftbench.results.schema import RunResult
from draftbench.setup.levels import Level
from draftbench.sweep.console import Console
from draftbench.sweep.eta import Estimator, Work, fmt_s, progress_line

SIZES = {"/m/t7.gguf": 7_000, "/m/t14.gguf": 14_000, "/m/d.gguf": 1_000}


def run(
    target: str,
    draft: str | None,
    seconds_each: float,
    tokens_each: int,
    n: int,
    load_s: float,
    level: int = 1,
    depth: int | None = None,
    ttft_s: float | None = None,
    prompt_tokens: int | None = None,
) -> RunResult:
    from draftbench.setup.speculation import Speculation

    return RunResult(
        "T",
        draft and "setup",
        level,
        target_path=target,
        load_time_s=load_s,
        depth=depth,
        speculation=Speculation(draft, ("draft-simple",)) if draft else None,
        requests=[
            RequestResult(str(i), completion_tokens=tokens_each, total_s=seconds_each, ttft_s=ttft_s, prompt_tokens=prompt_tokens)
            for i in range(n)
        ],
    )


def test_nothing_measured_means_no_estimate_yet():
    est = Estimator(lambda p: SIZES.get(p, 0))
    assert est.remaining([Work("/m/t7.gguf", None, Level(), 4, 100)]) is None
    assert progress_line(0, 10, 3.0, None) == "Progress: 0/10 runs, 3 s elapsed, 10 to go, estimating"


def test_the_rest_of_a_target_uses_its_own_seconds_per_token_and_load_times():
    est = Estimator(lambda p: SIZES.get(p, 0))
    est.learn(run("/m/t7.gguf", None, 2.0, 100, 4, load_s=5.0))  # 0.02 s per token, 100 tokens a request
    est.learn(run("/m/t7.gguf", "/m/d.gguf", 1.0, 100, 4, load_s=6.0))  # 0.01 s per token
    # the target's measured runs together: 12 s for 800 tokens = 0.015 s/token; 100 tokens a request
    left = [Work("/m/t7.gguf", "/m/d.gguf", Level(), 4, 128)]
    assert est.remaining(left) == pytest.approx(6.0 + 0.015 * 100 * 4)
    # a draft not loaded yet: load time per byte of what has been loaded ((5 + 6) s / (7000 + 8000) bytes)
    assert est.seconds(Work("/m/t7.gguf", "/m/other.gguf", Level(), 4, 128)) == pytest.approx(11 / 15000 * 7000 + 6.0)


def test_an_unmeasured_target_is_scaled_by_model_size():
    est = Estimator(lambda p: SIZES.get(p, 0))
    est.learn(run("/m/t7.gguf", None, 2.0, 100, 4, load_s=7.0))
    big = est.seconds(Work("/m/t14.gguf", None, Level(), 2, 50))
    # twice the bytes: twice the seconds per token (0.04) and load (14 s); 50 tokens a request until measured
    assert big == pytest.approx(14.0 + 0.04 * 50 * 2)


def test_a_depth_not_measured_yet_adds_its_prefill_at_the_rate_measured_so_far():
    est = Estimator(lambda p: SIZES.get(p, 0))
    # depth 0: 2 s a request for 100 tokens, of which 0.1 s prefilling 50 prompt tokens (0.002 s a token)
    est.learn(run("/m/t7.gguf", None, 2.0, 100, 4, load_s=0.0, depth=0, ttft_s=0.1, prompt_tokens=50))
    deep = est.seconds(Work("/m/t7.gguf", None, Level(depth=1000), 4, 100))
    assert deep == pytest.approx((0.02 * 100 + 0.002 * 1000) * 4)
    # once measured, the depth's own rate (its prefill included)
    est.learn(run("/m/t7.gguf", None, 9.0, 100, 4, load_s=0.0, depth=1000, ttft_s=6.0, prompt_tokens=1050))
    assert est.seconds(Work("/m/t7.gguf", None, Level(depth=1000), 4, 100)) == pytest.approx(0.09 * 100 * 4)


def test_the_progress_line_and_its_time_format():
    assert progress_line(5, 16, 192.0, 460.0) == "Progress: 5/16 runs, 3 min elapsed, 11 to go, about 8 min left"
    assert progress_line(5, 16, 10.0, 40.0, at_most=True).endswith("at most 40 s left")
    assert fmt_s(2 * 3600 + 5 * 60) == "2 h 05 min" and fmt_s(-3) == "0 s"


def test_a_terminal_overwrites_the_status_line_a_log_keeps_it():
    out: list[str] = []

    def echo(msg="", end="\n"):
        out.append(msg + end)

    tty = Console(echo, tty=True)
    tty.status("Progress: 1/3")
    tty("next run")
    assert out == ["\r\033[KProgress: 1/3", "\r\033[K", "next run\n"]
    out.clear()
    log = Console(echo, tty=False)
    log.status("Progress: 1/3")
    log("next run")
    assert out == ["Progress: 1/3\n", "next run\n"]
