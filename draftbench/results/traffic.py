"""Serving under a request rate, scored by goodput: per run at a rate, the requests that met every latency target
(``settings.slo``: ``ttft_s``, ``tpot_s``, ``e2e_s``, at a percentile) per second, throughput and latency
percentiles, each with a 95% interval from a bootstrap by request (1,000 resamples, seeded: the same file gives the
same figures); a setup's goodput over its baseline's at the same rate: both were offered the same requests at the
same times, so it is the ratio of the requests that met every target, request i against request i, with the same
bootstrap (equal counts tie). Pure: runs in, a :class:`TrafficScore` out."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from ..core import stats
from ..records.requests import RequestResult
from ..records.traffic import Percentiles, TrafficScore
from .schema import RunResult

RESAMPLES = 1_000
DEFAULT_PERCENTILE = 90.0


def tpot_s(q: RequestResult) -> float | None:
    """Time per output token after the first, by the client's clock."""
    n = q.completion_tokens or 0
    return (q.total_s - q.ttft_s) / (n - 1) if q.total_s is not None and q.ttft_s is not None and n > 1 else None


LATENCIES: dict[str, Callable[[RequestResult], float | None]] = {
    "ttft_s": lambda q: q.ttft_s,
    "tpot_s": tpot_s,
    "e2e_s": lambda q: q.total_s,
}


def _pct(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _interval(values: list[float]) -> list[float] | None:
    return [_pct(values, 2.5) or 0.0, _pct(values, 97.5) or 0.0] if len(values) >= 20 else None


def _samples(n: int) -> list[list[int]]:
    draw = random.Random(n)  # the same resamples for every run of n requests: paired, and reproducible
    return [[draw.randrange(n) for _ in range(n)] for _ in range(RESAMPLES)]


def met(q: RequestResult, slo: dict[str, float]) -> bool:
    """Did the request succeed and meet every target?"""
    if not q.ok:
        return False
    return all((LATENCIES[k](q) or float("inf")) <= v for k, v in slo.items() if k in LATENCIES)


def _percentiles(requests: list[RequestResult], name: str, samples: list[list[int]]) -> Percentiles:
    values = [LATENCIES[name](q) if q.ok else None for q in requests]
    known = [v for v in values if v is not None]
    if not known:
        return Percentiles()
    out: dict[str, object] = {}
    for p in (50, 95, 99):
        out[f"p{p}"] = _pct(known, p)
        boot = [x for s in samples if (x := _pct([v for i in s if (v := values[i]) is not None], p)) is not None]
        out[f"p{p}_ci95"] = _interval(boot)
    return Percentiles(**out)  # type: ignore[arg-type]  # the six fields, built by name above


def _at(requests: list[RequestResult], name: str, p: float) -> float | None:
    """The ``p``-th percentile of a latency over the requests that succeeded."""
    return _pct([x for q in requests if q.ok and (x := LATENCIES[name](q)) is not None], p)


def _wall_s(run: RunResult) -> float | None:
    return run.loop_wall_s if run.loop_wall_s else None


def score(run: RunResult, base: RunResult | None, slo: dict[str, float]) -> TrafficScore | None:
    """``run``'s score at its request rate (against ``base``, its baseline at the same rate, for a setup); None
    for a run of a closed loop."""
    if run.request_rate is None or not run.requests:
        return None
    requests, wall = run.requests, _wall_s(run)
    n = len(requests)
    samples = _samples(n)
    ok = [q.ok for q in requests]
    good = [met(q, slo) for q in requests]
    goodput = sum(good) / wall if wall else None
    boot = [sum(good[i] for i in s) / wall for s in samples] if wall else []
    sent = [q.sent_at_s for q in requests if q.sent_at_s is not None]
    late = sum(
        1
        for q in requests
        if q.sent_at_s is not None and q.scheduled_at_s is not None and q.sent_at_s - q.scheduled_at_s > _slack(run.request_rate)
    )
    target = {k: v for k, v in slo.items() if k in LATENCIES}
    share = dict(slo).get("percentile", DEFAULT_PERCENTILE)
    lat = {name: _percentiles(requests, name, samples) for name in LATENCIES}
    slo_met = all((_at(requests, k, share) or float("inf")) <= limit for k, limit in target.items()) if target else None
    ratio, ratio_ci = _versus(run, base, good, samples, slo) if base is not None else (None, None)
    return TrafficScore(
        run.request_rate,
        n,
        sent_rate=(len(sent) - 1) / max(sent) if run.request_rate and len(sent) > 1 and max(sent) > 0 else None,
        late_requests=late,
        goodput_rps=goodput,
        goodput_ci95=_interval(boot),
        throughput_rps=sum(ok) / wall if wall else None,
        met_share=sum(good) / n,
        slo_met=slo_met,
        ttft_s=lat["ttft_s"],
        tpot_s=lat["tpot_s"],
        e2e_s=lat["e2e_s"],
        goodput_ratio=ratio,
        goodput_ratio_ci95=ratio_ci,
    )


def _slack(rate: float) -> float:
    return max(0.010, 0.1 / rate) if rate else float("inf")


def _versus(
    run: RunResult, base: RunResult, good: list[bool], samples: list[list[int]], slo: dict[str, float]
) -> tuple[float | None, list[float] | None]:
    """The run's goodput over the baseline's: both were offered the same requests at the same times, so the ratio
    is of the requests that met every target, request i against request i (a run's wall time ends with its slowest
    request: a tail, not the rate served). Where the baseline met none, it counts as one (the gain's lower bound);
    where neither did, or both met the same number, they tie."""
    theirs = [met(q, slo) for q in base.requests]
    if len(theirs) != len(good):
        return None, None

    def ratio(idx: Sequence[int]) -> float:
        b, m = sum(theirs[i] for i in idx), sum(good[i] for i in idx)
        return 1.0 if not b and not m else m / max(b, 1)

    return ratio(range(len(good))), _interval([ratio(s) for s in samples])


def versus(a: RunResult, b: RunResult, slo: dict[str, float]) -> stats.Ratio | None:
    """Setup ``a``'s goodput over setup ``b``'s at the same rate, paired by request (the same arrivals)."""
    if len(a.requests) != len(b.requests) or not a.requests:
        return None
    value, ci = _versus(a, b, [met(q, slo) for q in a.requests], _samples(len(a.requests)), slo)
    return stats.Ratio(value, (ci[0], ci[1]) if ci else None, len(a.requests), True) if value is not None else None


def slo_text(slo: dict[str, float]) -> str:
    """'TTFT at most 0.5 s and TPOT at most 0.1 s at p90', or 'no latency target'."""
    target = [f"{k[:-2].upper()} at most {slo[k]:g} s" for k in LATENCIES if k in slo]
    return f"{' and '.join(target)} at p{dict(slo).get('percentile', DEFAULT_PERCENTILE):g}" if target else "no latency target"


def rate_lines(recs: list) -> list[str]:
    """Per target measured at several rates: the rate range where each answer holds, and where speculation stops
    paying (its crossover): '1-layer from 0.5 to 1 req/s; no speculation from 2 req/s: speculation stops paying
    between 1 and 2 req/s'."""
    out = []
    for target in dict.fromkeys(r.target for r in recs):
        mine = sorted(
            (r for r in recs if r.target == target and r.level.request_rate is not None),
            key=lambda r: r.level.sort_key,
        )
        if len(mine) < 2:
            continue
        spans: list[tuple[str, list[float]]] = []
        for r in mine:
            use = r.use()
            name = use.draft if use is not None else "no speculation"
            if spans and spans[-1][0] == name:
                spans[-1][1].append(r.level.request_rate)
            else:
                spans.append((name, [r.level.request_rate]))
        said = "; ".join(f"{name} at {_rates(rates)}" for name, rates in spans)
        stops = next(
            (
                (a.level.request_rate, b.level.request_rate)
                for a, b in zip(mine, mine[1:])
                if a.use() is not None and b.use() is None
            ),
            None,
        )
        if stops:
            said += f": speculation stops paying between {_rate(stops[0])} and {_rate(stops[1])}"
        out.append(f"{target}, by request rate: {said}")
    return out


def _rate(rate: float) -> str:
    return "every request at once" if rate == 0 else f"{rate:g} req/s"


def _rates(rates: list[float]) -> str:
    return _rate(rates[0]) if len(rates) == 1 else f"{_rate(rates[0])} to {_rate(rates[-1])}"


def traffic_text(run: RunResult) -> str:
    """'goodput +40% (95% CI ...), 1.20 req/s within the latency targets' at a request rate ('' otherwise)."""
    t = run.traffic
    ratio = t.ratio() if t is not None else None
    if t is None or ratio is None:
        return ""
    return f"goodput {stats.ratio_text(ratio)}, {t.goodput_rps or 0:.2f} req/s within the latency targets"
