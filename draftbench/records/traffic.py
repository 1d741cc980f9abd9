"""What a request-rate level says of a run (results/traffic.py computes it): goodput within the latency targets,
throughput, latency percentiles, each with a bootstrap interval over requests, and goodput against the baseline's
at the same rate on the same arrivals (paired)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core import stats


@dataclass(frozen=True)
class Percentiles:
    """A latency's p50, p95 and p99 in seconds, each with its 95% bootstrap interval."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    p50_ci95: list[float] | None = None
    p95_ci95: list[float] | None = None
    p99_ci95: list[float] | None = None


@dataclass(frozen=True)
class TrafficScore:
    """One run at a request rate. Goodput: requests that met every latency target, per second of the run (first
    send to last end); without targets, every request that succeeded."""

    rate: float  # asked, requests per second (0: every request at once)
    n_requests: int
    sent_rate: float | None = None  # what the client sent (a client behind its schedule sends less)
    late_requests: int = 0  # sent later than their arrival time allows (measure/loop.py's rule)
    goodput_rps: float | None = None
    goodput_ci95: list[float] | None = None
    throughput_rps: float | None = None  # requests that succeeded per second
    met_share: float | None = None  # of the requests, the share that met every target
    slo_met: bool | None = None  # every target met at its percentile (None: no targets)
    ttft_s: Percentiles = Percentiles()
    tpot_s: Percentiles = Percentiles()  # time per output token after the first
    e2e_s: Percentiles = Percentiles()
    goodput_ratio: float | None = None  # over the baseline's goodput at the same rate, paired by request
    goodput_ratio_ci95: list[float] | None = None
    intervals: str = "bootstrap by request, 1,000 resamples"

    def ratio(self) -> stats.Ratio | None:
        if self.goodput_ratio is None:
            return None
        ci = (self.goodput_ratio_ci95[0], self.goodput_ratio_ci95[1]) if self.goodput_ratio_ci95 else None
        return stats.Ratio(self.goodput_ratio, ci, self.n_requests, True)
