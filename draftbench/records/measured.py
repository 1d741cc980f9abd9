"""What measuring a run's requests gives (``Measured``): one declaration for a benchmark's summary and a sweep's
run record."""

from __future__ import annotations

from dataclasses import dataclass, field

from .engine import EngineStats
from .requests import RequestResult


@dataclass(frozen=True, kw_only=True)
class Measured:
    """What measuring a run's requests gives: declared once for a benchmark's summary and a sweep's run record
    (``RunResult``), which takes these fields from its summary."""

    n_requests: int | None = None
    n_failed_requests: int | None = None
    mean_tps: float | None = None
    median_tps: float | None = None
    stdev_tps: float | None = None
    decode_tps_ci95: list[float] | None = None
    mean_ttft_s: float | None = None
    median_ttft_s: float | None = None
    p95_ttft_s: float | None = None
    mean_total_time_s: float | None = None
    aggregate_tps: float | None = None  # completion tokens of all requests over first send to last end
    loop_wall_s: float | None = None  # first send to last end (summed over blocks)
    max_in_flight: int | None = None
    generation_time_s: float | None = None
    draft_n: int | None = None
    draft_n_accepted: int | None = None
    acceptance_rate: float | None = None
    mean_accepted_length: float | None = None
    speculation_active: bool | None = None
    degenerate_output: str | None = None  # health.verdict of its completions: why they are not text a user wants
    engine: EngineStats | None = None  # vLLM's engine meanwhile: steps, mean batch, preemptions (None elsewhere)
    warnings: list[str] = field(default_factory=list)
    requests: list[RequestResult] = field(default_factory=list)  # in schedule order
