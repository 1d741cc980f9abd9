"""Server-sent events as draftbench reads them: the framing (``data:`` lines, comments, keep-alives, each chunk
stamped with its arrival) and the checks on an event's fields (text where text belongs, counts and rates that are
numbers at least 0). Nothing here trusts the server: what does not fit is a :class:`StreamError` naming it."""

from __future__ import annotations

from typing import Callable, Iterable

Clock = Callable[[], float]


class StreamError(Exception):
    """The stream broke (bad SSE, server-side error event); becomes ``RequestResult.error``."""


MAX_BETWEEN_EVENTS = 1 << 20  # bytes of comments, keep-alives or one unfinished line between two data events


def events(chunks: Iterable[bytes], clock: Clock) -> Iterable[tuple[float, str]]:
    """Yield (arrival time, data payload) for each SSE ``data:`` line. Each chunk is split once (a flood of
    keep-alive lines costs linear time, not quadratic), and more than ``MAX_BETWEEN_EVENTS`` bytes without a data
    event is a protocol error rather than minutes of parsing counted as waiting."""
    buffer, idle = b"", 0
    for chunk in chunks:
        if not chunk:
            continue
        now = clock()
        lines = (buffer + chunk).split(b"\n")
        buffer = lines.pop()
        idle += len(chunk)
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line or line.startswith(b":"):
                continue
            if line.startswith(b"data:"):
                idle = 0
                yield now, line[5:].strip().decode("utf-8", errors="replace")
            elif not line.startswith((b"event:", b"id:", b"retry:")):
                raise StreamError(f"malformed SSE line: {line[:120]!r}")
        if idle > MAX_BETWEEN_EVENTS:
            raise StreamError(
                f"more than {MAX_BETWEEN_EVENTS >> 20} MiB of the stream without a data event "
                "(keep-alive or comment lines): is this a completion stream?"
            )
    if buffer.strip().startswith(b"data:"):
        yield clock(), buffer.strip()[5:].strip().decode("utf-8", errors="replace")


# Fields whose values are counts or measurements: a number at least 0, or absent.
NUMBERS = {
    "usage": ("prompt_tokens", "completion_tokens"),
    "timings": (
        "prompt_n",
        "cache_n",
        "prompt_ms",
        "predicted_n",
        "predicted_ms",
        "predicted_per_second",
        "draft_n",
        "draft_n_accepted",
    ),
}


def check_numbers(key: str, values: dict) -> None:
    for name in NUMBERS.get(key, ()):
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StreamError(f"malformed SSE data: {key}.{name} must be a number, got {value!r:.40}")
        if value < 0:
            raise StreamError(f"malformed SSE data: {key}.{name} is {value}, below zero")


def text_field(obj: dict, name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise StreamError(f"malformed SSE data: {name} must be text, got {value!r:.60}")
    return value
