"""One streamed chat completion, measured. Parsing is separate from HTTP so that timing
rules can be tested with canned SSE bytes and a scripted clock."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import requests

from ..core.files import parse_json
from ..records.requests import RequestResult
from ..server import lmstudio
from .sse import Clock, StreamError, check_numbers, events, text_field

TOKEN_SOURCES = {
    "usage": "the server's usage report",
    "timings": "llama.cpp's timings",
    "length": "the stream stopped for length, so max_tokens were generated",
    "tokenize": "the server's tokenizer on the generated text (may differ by a token from what was generated)",
}
UNKNOWN_TOKENS = "tokens unknown: the server reports no usage, and neither a length stop nor a tokenize endpoint"


RAISE_TIMEOUT = "raise --request-timeout-s, or the setting request_timeout_s"


@dataclass
class _State:
    text_parts: list[str]
    t_first: float | None = None
    t_last: float | None = None
    usage: dict | None = None
    timings: dict | None = None
    stats: dict | None = None
    finish_reason: str | None = None
    done: bool = False


def _apply(state: _State, now: float, payload: str) -> None:
    if payload == "[DONE]":
        state.done = True
        return
    try:
        event = parse_json(payload)
    except json.JSONDecodeError as exc:
        raise StreamError(f"malformed SSE data (not JSON): {payload[:120]!r}") from exc
    if not isinstance(event, dict):
        raise StreamError(f"malformed SSE data (not an object): {payload[:120]!r}")
    if "error" in event:
        err = event["error"]
        raise StreamError(f"server error in stream: {err.get('message', err) if isinstance(err, dict) else err}")
    pieces = []  # (visible text, text including reasoning): chat deltas, completion choices, llama.cpp /completion
    for choice in event.get("choices") or []:
        if not isinstance(choice, dict):
            raise StreamError(f"malformed SSE data (a choice is not an object): {payload[:120]!r}")
        state.finish_reason = choice.get("finish_reason") or state.finish_reason
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise StreamError(f"malformed SSE data: choices[].delta must be an object, got {delta!r:.60}")
        texts = [text_field(delta, "content"), text_field(choice, "text"), text_field(delta, "reasoning_content")]
        pieces.append((texts[0] + texts[1], texts[0] + texts[1] + texts[2]))
    if isinstance(event.get("content"), str):
        pieces.append((event["content"], event["content"]))
    for visible, piece in pieces:
        if piece:
            state.text_parts.append(visible)
            if state.t_first is None:
                state.t_first = now
            state.t_last = now
    for key in ("usage", "timings", "stats"):
        if isinstance(event.get(key), dict):
            check_numbers(key, event[key])
            setattr(state, key, event[key])


def _completion_tokens(
    state: _State, max_tokens: int | None, count: Callable[[str], int | None] | None
) -> tuple[int | None, str | None]:
    """How many tokens were generated, and how that is known (see TOKEN_SOURCES), in that order of trust."""
    usage, timings = state.usage or {}, state.timings or {}
    if isinstance(usage.get("completion_tokens"), int):
        return usage["completion_tokens"], "usage"
    if isinstance(timings.get("predicted_n"), int):
        return timings["predicted_n"], "timings"
    if state.finish_reason == "length" and max_tokens:
        return max_tokens, "length"
    text = "".join(state.text_parts)
    n = count(text) if count and text else None
    return (n, "tokenize") if n else (None, None)


def consume(
    chunks: Iterable[bytes],
    t_sent: float,
    clock: Clock,
    result: RequestResult,
    max_tokens: int | None = None,
    count: Callable[[str], int | None] | None = None,
) -> RequestResult:
    """Fill ``result`` from a byte stream; ``clock`` stamps each chunk's arrival. A stream without a token
    count (llama-cpp-python's has neither ``usage`` nor ``timings``) is counted by TOKEN_SOURCES' fallbacks:
    ``max_tokens`` when it stopped for length, else ``count`` (the server's tokenizer) on the text."""
    state = _State([])
    try:
        for now, payload in events(chunks, clock):
            _apply(state, now, payload)
    except StreamError as exc:
        result.error = str(exc)
    t_end = clock()
    result.text = "".join(state.text_parts)
    result.total_s = t_end - t_sent
    if state.t_first is not None:
        result.ttft_s = state.t_first - t_sent
    usage, timings = state.usage or {}, state.timings or {}
    result.prompt_tokens = usage.get("prompt_tokens", timings.get("prompt_n"))
    details = usage.get("prompt_tokens_details")  # OpenAI's (vLLM's) count of prompt tokens from the cache
    result.cached_tokens = timings.get("cache_n", details.get("cached_tokens") if isinstance(details, dict) else None)
    result.completion_tokens, result.tokens_from = _completion_tokens(state, max_tokens, count)
    if timings.get("predicted_per_second"):
        result.decode_tps = float(timings["predicted_per_second"])
    if timings.get("predicted_ms") is not None:
        result.server_s = (float(timings.get("prompt_ms") or 0.0) + float(timings["predicted_ms"])) / 1000.0
    if "draft_n" in timings:
        result.draft_n = int(timings["draft_n"])
        result.draft_n_accepted = int(timings.get("draft_n_accepted", 0))
    elif state.stats:
        result.draft_n, result.draft_n_accepted = lmstudio.draft_counts(state.stats)
    n = result.completion_tokens
    if n and n > 1 and state.t_first is not None and state.t_last is not None and state.t_last > state.t_first:
        result.client_decode_tps = (n - 1) / (state.t_last - state.t_first)
    if result.decode_tps is None:
        result.decode_tps = result.client_decode_tps
    if result.error is None and state.t_first is None:
        result.error = "stream ended without any generated text"
    return result


def stream_chat(
    url: str,
    body: dict,
    prompt_id: str,
    timeout_s: float,
    headers: dict | None = None,
    clock: Clock = time.perf_counter,
    count: Callable[[str], int | None] | None = None,
) -> RequestResult:
    """POST a streaming chat completion and measure it. Never raises for a failed request. ``count``
    counts tokens where the stream does not say (see :func:`consume`).

    Each request gets a fresh connection: a pooled keep-alive connection that the server is closing
    at that moment fails the POST with 'Remote end closed connection without response'."""
    result = RequestResult(prompt_id)
    t_sent = clock()
    deadline = t_sent + timeout_s

    def chunks(resp) -> Iterable[bytes]:
        # Whatever has arrived, as it arrives: a stream sent without chunked encoding would otherwise be read
        # whole before its first token is seen, and its TTFT would be the whole response's time.
        read1 = getattr(resp.raw, "read1", None)
        parts = (
            iter(lambda: read1(65536), b"") if read1 is not None and not resp.raw.chunked else resp.iter_content(chunk_size=None)
        )
        for chunk in parts:
            yield chunk
            if clock() > deadline:
                raise StreamError(f"exceeded the request timeout of {timeout_s:.0f} s ({RAISE_TIMEOUT})")

    try:
        with (
            requests.Session() as session,
            session.post(url, json=body, stream=True, timeout=(10, timeout_s), headers=headers) as resp,
        ):
            result.http_status = resp.status_code
            kind = _not_a_stream(resp.headers.get("Content-Type", ""))
            if resp.status_code != 200:
                result.error = f"HTTP {resp.status_code}: {resp.text[:300].strip()}".replace("\n", " ")
            elif kind:
                result.error = f"the server answered {kind}, not a completion stream: is the URL the API's address?"
            else:
                try:
                    return consume(chunks(resp), t_sent, clock, result, body.get("max_tokens") or body.get("n_predict"), count)
                except StreamError as exc:
                    result.error = str(exc)
    except requests.exceptions.ConnectionError as exc:
        if "timed out" in str(exc):
            result.error = f"no data for {timeout_s:.0f} s (request timeout; {RAISE_TIMEOUT} if the model is slow)"
        else:
            result.error = f"connection failed or was reset: {_short(exc)}"
    except requests.exceptions.Timeout:
        result.error = f"no data for {timeout_s:.0f} s (request timeout; {RAISE_TIMEOUT} if the model is slow)"
    except requests.exceptions.ChunkedEncodingError as exc:
        result.error = f"stream broken mid-response: {_short(exc)}"
    except requests.RequestException as exc:
        result.error = f"request failed: {_short(exc)}"
    result.total_s = clock() - t_sent
    return result


def _not_a_stream(content_type: str) -> str | None:
    """What a 200 answer is when its type says it cannot be server-sent events (a web page, say), else None."""
    media = content_type.split(";")[0].strip().lower()
    names = {
        "text/html": "HTML",
        "application/xhtml+xml": "HTML",
        "text/xml": "XML",
        "application/xml": "XML",
        "application/octet-stream": "binary data",
    }
    return names.get(media) or (f"'{media}'" if media.startswith(("image/", "audio/", "video/")) else None)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


def describe(r: RequestResult) -> str:
    if not r.ok:
        return f"FAILED: {r.error}"
    if r.completion_tokens is None:
        return f"{UNKNOWN_TOKENS}; TTFT {r.ttft_s or 0:.3f} s"
    rate = "decode rate unknown" if r.decode_tps is None else f"{r.decode_tps:.2f} tok/s"
    text = f"{rate}, TTFT {r.ttft_s or 0:.3f} s, {r.completion_tokens} tokens"
    if r.draft_n:
        text += f", acceptance {(r.draft_n_accepted or 0) / r.draft_n:.0%}"
    return text
