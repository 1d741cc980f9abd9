"""Does a server honour per-request draft settings? Measured with two short requests, never read off a version:
where it does, a sweep keeps one server for the setups that differ only in those settings."""

from __future__ import annotations

from ..records.per_request import PROBE_N_MAX, PerRequestProbe
from ..records.requests import DraftCounts, RequestResult
from ..setup.backend import LLAMACPP
from ..setup.prompts import BUILTIN
from .bench import BenchConfig, request_body
from .stream import stream_chat

PROBE_MAX_TOKENS = 64
PROBE_MIN_DIFFERENCE = 0.25  # drafted tokens per target pass
PROBE_TOKENS = len(PROBE_N_MAX) * PROBE_MAX_TOKENS  # the most it generates


def _drafted_per_pass(r: RequestResult) -> float | None:
    counts = DraftCounts.of([r]) if r.ok and r.completion_tokens else DraftCounts()
    return counts.drafted / counts.passes if counts.passes and r.draft_n is not None else None


def probe_per_request(url: str, api_key: str | None = None, timeout_s: float = 300.0) -> PerRequestProbe:
    """Two short requests on the same prompt that differ only in ``speculative.n_max``: a server that
    honours it drafts more tokens per target pass with the larger value."""
    cfg = BenchConfig(url=url.rstrip("/"), max_tokens=PROBE_MAX_TOKENS, api_key=api_key, request_timeout_s=timeout_s)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    prompt = BUILTIN[0]
    rates = []
    for n_max in PROBE_N_MAX:
        body = request_body(cfg, prompt, LLAMACPP, PROBE_MAX_TOKENS)
        body.update({"speculative.n_max": n_max, "speculative.n_min": 0})
        rates.append(_drafted_per_pass(stream_chat(cfg.url + "/v1/chat/completions", body, prompt.id, timeout_s, headers)))
    low, high = rates
    honoured = low is not None and high is not None and high - low > PROBE_MIN_DIFFERENCE
    return PerRequestProbe(honoured, (low, high))
