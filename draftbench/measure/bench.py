"""The measurement core: warm up, stream N requests, summarise. Used by bench.py and sweep.py alike."""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import requests

from ..core import health, stats
from ..core.redaction import redact_url
from ..records.engine import Counters, EngineStats
from ..records.measured import Measured
from ..records.probes import PositionCounts
from ..records.requests import DraftCounts, RequestResult
from ..setup.backend import LLAMACPP, OPENAI, Backend
from ..setup.context import Contexts, Sizing
from ..setup.prompts import BUILTIN, WARMUP, Prompt, schedule
from ..setup.settings import SweepSettings
from . import depth_checks
from .discover import detect_server, served_model, vllm_counters
from .loop import ThreadExecutor, arrivals, behind, closed_loop, open_loop
from .replay import replay, uncached_warning
from .stream import describe, stream_chat
from .tokens import token_counter, token_notes

NOISY_REL_STDEV = 0.10
DEFAULT_MODEL = "draftbench"  # the model field sent where a server names none (llama-server serves any name)
WARMUP_TOKENS = 32  # a warm-up request generates at most this many tokens
SPECULATION_OFF_CAUSES = (
    "speculation did not run (no draft tokens in the server's timings). Known causes: "
    "(1) this llama.cpp build needs --spec-type draft-simple next to --model-draft; "
    "(2) the draft's vocabulary differs from the target's, so llama.cpp silently disabled it "
    "(see the server log for 'vocab'); (3) n-gram types draft only where the output repeats text seen "
    "before, which these prompts may not do"
)


@dataclass(frozen=True)
class BenchConfig:
    url: str
    requests: int = 5
    max_tokens: int = 512
    temperature: float = 0.0
    warmup: int = 1
    prompts: tuple[Prompt, ...] = BUILTIN
    model: str | None = None
    api_key: str | None = None
    seed: int = 0
    request_timeout_s: float = 300.0
    ready_timeout_s: float = 600.0
    expect_draft: bool = False
    extra_body: tuple[tuple[str, Any], ...] = ()
    skip: int = 0  # start at this position of the prompt schedule (a later block of the same run)
    concurrency: int = 1  # requests in flight at once (a closed loop: each worker sends its next when one ends)
    endpoint: str = "chat"  # or "completion": the prompt's text as it is, no chat template
    traffic: tuple[Prompt, ...] = ()  # unmeasured full-length requests after the warm-ups (a warm n-gram pool)
    request_rate: float | None = None  # requests arriving per second, open loop (0: all at once; None: closed loop)
    arrival: str = "poisson"  # the gaps between arrivals: "poisson" or "constant" (measure/loop.py)
    replay: bool = False  # requests: conversations, each replayed turn by turn with the cache on (measure/replay.py)
    depth: int = 0  # tokens of context before each measured prompt (setup/context.py); the server must prefill them
    contexts: Contexts = Contexts()  # where that context comes from (the user's documents, else the package's text)

    @property
    def most_tokens(self) -> int:
        """The most tokens its requests generate: each at max_tokens (and any traffic), the warm-ups at their cap."""
        return (self.requests + len(self.traffic)) * self.max_tokens + self.warmup * min(self.max_tokens, WARMUP_TOKENS)

    @classmethod
    def of(cls, s: SweepSettings, url: str, prompts: tuple[Prompt, ...], api_key: str | None, **given: Any) -> "BenchConfig":
        """How a sweep measures on ``url``: its settings' lengths, sampling, timeouts and endpoint, then ``given``."""
        return cls(
            **{
                "url": url,
                "requests": s.requests * s.runs,
                "max_tokens": s.max_tokens,
                "warmup": s.warmup,
                "temperature": s.temperature[0],
                "seed": s.seed,
                "request_timeout_s": s.request_timeout_s,
                "ready_timeout_s": s.server.ready_timeout_s,
                "endpoint": s.endpoint,
                "replay": s.conversation == "replay",
                "arrival": s.arrival,
                "prompts": prompts,
                "api_key": api_key,
                **given,
            }
        )


def endpoint_path(endpoint: str, kind: Backend) -> str:
    """Where requests go: the chat endpoint, or raw completion (llama.cpp's own /completion, else OpenAI's)."""
    return "/v1/chat/completions" if endpoint == "chat" else kind.completion_path


def prompt_text(prompt: Prompt) -> str:
    """A prompt as plain text: what completion mode sends and what an echo is measured against."""
    return "\n\n".join(content for _, content in prompt.messages) or prompt.text


@dataclass(frozen=True)
class BenchSummary(Measured):
    url: str
    server_kind: str
    concurrency: int = 1
    min_tps: float | None = None
    max_tps: float | None = None
    mean_client_tps: float | None = None
    noisy: bool = False
    position_counts: PositionCounts | None = None  # vLLM's counters: verifications with drafts, accepted by position
    counters: Counters | None = None  # vLLM's counters over these requests (kept to add blocks up)

    def to_dict(self, with_requests: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d.pop("counters")
        if not with_requests:
            d.pop("requests")
        return d


def summarise(
    url: str,
    kind: str,
    results: list[RequestResult],
    expect_draft: bool,
    counters: Counters | None = None,
    loop_wall_s: float = 0.0,
    concurrency: int = 1,
    max_in_flight: int = 0,
) -> BenchSummary:
    """What ``results`` measured; ``counters``: vLLM's over them (drafted and accepted tokens where the requests
    carry none of their own, accepted by position, the engine's figures)."""
    ok = [r for r in results if r.ok]
    warnings: list[str] = []
    tps = stats.spread([r.decode_tps for r in ok if r.decode_tps])
    noisy = bool(tps and tps.n > 1 and tps.rel_stdev > NOISY_REL_STDEV)
    if tps and noisy:
        warnings.append(
            f"noisy: decode tok/s varies by {tps.rel_stdev:.0%} between requests; "
            f"consider more --requests (now {len(results)}) and a quieter machine"
        )
    client = stats.spread([r.client_decode_tps for r in ok if r.client_decode_tps])
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    ttft, total = stats.spread(ttfts), stats.spread([r.total_s for r in ok if r.total_s is not None])
    spec = counters if counters is not None and counters.speculating else None
    tokens = sum(r.completion_tokens or 0 for r in ok)
    counts = (
        DraftCounts.of(ok)
        if spec is None or any(r.draft_n is not None for r in ok)
        else DraftCounts(int(spec.draft_tokens), int(spec.accepted_tokens), tokens)
    )  # vLLM's server-wide counters
    positions = (
        PositionCounts(int(spec.drafts), tuple(int(v) for v in spec.accepted_per_pos))
        if spec is not None and spec.drafts > 0 and spec.accepted_per_pos
        else None
    )
    engine = EngineStats.of(counters, tokens, counts.mean_accepted_length) if counters is not None else None
    drafted = counts.drafted if counts.drafted or any(r.draft_n is not None for r in ok) else None
    active = bool(drafted) if expect_draft and ok else (True if drafted else None)
    if active is False:
        warnings.append(SPECULATION_OFF_CAUSES)
    if results and not ok:
        warnings.append(f"every request failed; first error: {results[0].error}")
    warnings += token_notes(ok) + (engine.warnings(concurrency) if engine is not None else [])
    degenerate = health.verdict(r.output_problems for r in ok if r.text or r.completion_tokens)
    if degenerate:
        warnings.append(f"degenerate output ({degenerate}): speedups measured on such text mean nothing; {health.FIX}")
    return BenchSummary(
        redact_url(url),
        kind,
        concurrency,
        n_requests=len(results),
        n_failed_requests=len(results) - len(ok),
        requests=results,
        loop_wall_s=loop_wall_s,
        max_in_flight=max_in_flight,
        generation_time_s=sum(r.total_s or 0.0 for r in results),
        aggregate_tps=tokens / loop_wall_s if loop_wall_s > 0 and tokens else None,
        mean_tps=tps.mean if tps else None,
        median_tps=tps.median if tps else None,
        stdev_tps=tps.stdev if tps else None,
        min_tps=tps.min if tps else None,
        max_tps=tps.max if tps else None,
        decode_tps_ci95=list(tps.ci95) if tps and tps.ci95 else None,
        noisy=noisy,
        mean_client_tps=client.mean if client else None,
        mean_ttft_s=ttft.mean if ttft else None,
        median_ttft_s=ttft.median if ttft else None,
        p95_ttft_s=stats.percentile(ttfts, 95) if ttft else None,
        mean_total_time_s=total.mean if total else None,
        draft_n=drafted,
        draft_n_accepted=counts.accepted if drafted is not None else None,
        acceptance_rate=counts.acceptance_rate,
        mean_accepted_length=counts.mean_accepted_length,
        speculation_active=active,
        degenerate_output=degenerate,
        warnings=warnings,
        position_counts=positions,
        engine=engine,
        counters=counters,
    )


def merge(
    blocks: list[BenchSummary], expect_draft: bool, earlier: list[RequestResult] | None = None, earlier_wall_s: float = 0.0
) -> BenchSummary:
    """One summary of a run measured in blocks (and of requests kept from an earlier session)."""
    results = [*(earlier or []), *(r for b in blocks for r in b.requests)]
    counted = [b.counters for b in blocks if b.counters is not None]
    counters = functools.reduce(Counters.plus, counted) if counted else None
    last = blocks[-1]
    return summarise(
        last.url,
        last.server_kind,
        results,
        expect_draft,
        counters,
        earlier_wall_s + sum(b.loop_wall_s or 0.0 for b in blocks),
        last.concurrency,
        max(b.max_in_flight or 0 for b in blocks),
    )


def request_body(
    cfg: BenchConfig, prompt: Prompt, kind: Backend, max_tokens: int, messages: list | None = None, cache: bool = False
) -> dict[str, Any]:
    """A request's body; ``messages``: a replayed turn's (``cache``: the server may reuse its cached prefix)."""
    body: dict[str, Any] = {"temperature": cfg.temperature, "seed": cfg.seed, "stream": True}
    if cfg.endpoint == "completion" and kind is LLAMACPP:
        body.update(prompt=prompt_text(prompt), n_predict=max_tokens)
    else:
        body.update(model=cfg.model or DEFAULT_MODEL, max_tokens=max_tokens, stream_options={"include_usage": True})
        if cfg.endpoint == "completion":
            body["prompt"] = prompt_text(prompt)
        else:
            body["messages"] = messages if messages is not None else prompt.chat()
    if kind is LLAMACPP:
        body["cache_prompt"] = cache
    body.update(dict(cfg.extra_body))
    return body


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> BenchSummary:
    """Measure one server. Failed requests are recorded, never raised."""
    say = progress or (lambda _m: None)
    url = cfg.url.rstrip("/")
    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    with requests.Session() as session:
        kind = detect_server(session, url, cfg.ready_timeout_s, headers)
        if kind is OPENAI and cfg.model is None:
            cfg = replace(cfg, model=served_model(session, url, headers))
        endpoint = url + endpoint_path(cfg.endpoint, kind)
        count = token_counter(url, headers) if kind is OPENAI else None  # llama.cpp's timings always count
        warm = schedule(WARMUP, cfg.warmup)  # never a measured prompt
        for i, prompt in enumerate(warm):
            r = stream_chat(
                endpoint,
                request_body(cfg, prompt, kind, min(cfg.max_tokens, WARMUP_TOKENS)),
                prompt.id,
                cfg.request_timeout_s,
                headers,
            )
            say(f"warmup {i + 1}/{len(warm)}: " + ("ok" if r.ok else f"failed: {r.error}"))
        for i, prompt in enumerate(cfg.traffic):
            r = stream_chat(endpoint, request_body(cfg, prompt, kind, cfg.max_tokens), prompt.id, cfg.request_timeout_s, headers)
            say(f"traffic {i + 1}/{len(cfg.traffic)} [{prompt.id}]: " + ("ok" if r.ok else f"failed: {r.error}"))
        before = vllm_counters(session, url, headers) if kind is OPENAI else None
        per_request = before is not None and before.speculating and cfg.concurrency == 1  # each its own counts
        planned = schedule(cfg.prompts, cfg.skip + cfg.requests, offset=cfg.seed)[cfg.skip :]

        sizing = cfg.contexts.sized(cfg.depth, tuple(planned), count or token_counter(url, headers)) if cfg.depth else Sizing()

        def send(i: int, turn: tuple[list, bool, int] | None = None) -> RequestResult:
            prompt, sent_unix_s = cfg.contexts.at_depth(planned[i], cfg.depth, cfg.skip + i, sizing), time.time()
            was = vllm_counters(session, url, headers) if per_request else None
            messages, cache, _ = turn or (None, False, 0)
            body = request_body(cfg, prompt, kind, cfg.max_tokens, messages, cache)
            r = stream_chat(endpoint, body, prompt.id, cfg.request_timeout_s, headers, count=count)
            now = vllm_counters(session, url, headers) if was is not None else None
            mine = now.minus(was) if now is not None and was is not None else None
            if mine is not None:
                r.draft_n, r.draft_n_accepted = int(mine.draft_tokens), int(mine.accepted_tokens)
            r.category, r.sent_unix_s = prompt.category, round(sent_unix_s, 3)
            if r.ok and cfg.depth:
                r.error = depth_checks.not_at_depth(r, cfg.depth)
            if r.ok:
                h = health.check(r.text, messages[-1]["content"] if messages else prompt_text(prompt))
                r.output_problems, r.echo_share = h.problems, round(h.echo_share, 3)
                r.repeat_share, r.distinct_ratio = round(h.repeat_share, 3), round(h.distinct_ratio, 3)
            where = f"{'conversation' if turn else 'request'} {cfg.skip + i + 1}/{cfg.skip + cfg.requests}"
            say(f"{where}{f' turn {turn[2]}' if turn else ''} [{prompt.id}]: " + describe(r))
            return r

        if cfg.replay:
            loop = replay(planned, lambda i, messages, cache, k: send(i, (messages, cache, k)))
        elif cfg.request_rate is not None:
            times = arrivals(cfg.request_rate, len(planned), cfg.seed, cfg.arrival, cfg.skip)
            loop = open_loop(times, ThreadExecutor(send, time.perf_counter), time.perf_counter, time.sleep)
        else:
            loop = closed_loop(cfg.concurrency, len(planned), ThreadExecutor(send, time.perf_counter), time.perf_counter)
        after = vllm_counters(session, url, headers) if before is not None else None
        counters = after.minus(before) if after is not None and before is not None else None
    summary = summarise(
        url, kind.name, loop.results, cfg.expect_draft, counters, loop.wall_s, cfg.concurrency, loop.max_in_flight
    )
    late = behind(loop.results, cfg.request_rate) if cfg.request_rate is not None else []
    summary.warnings.extend(depth_checks.overshoot(loop.results, cfg.depth) + uncached_warning(loop.results) + late)
    return summary
