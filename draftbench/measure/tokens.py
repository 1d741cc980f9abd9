"""Token counts where a stream reports none: the server's own tokenizer on the text, and the warnings that say
where a run's counts came from."""

from __future__ import annotations

from typing import Callable

import requests

from ..records.requests import RequestResult
from .stream import TOKEN_SOURCES, UNKNOWN_TOKENS


def token_notes(ok: list[RequestResult]) -> list[str]:
    """Warnings for requests whose token counts did not come from the server's own report."""
    unknown = sum(1 for r in ok if r.completion_tokens is None)
    notes = (
        [
            f"{UNKNOWN_TOKENS} ({unknown} of {len(ok)} requests): their decode tok/s is unknown; a server that "
            "streams usage (stream_options.include_usage) or llama.cpp's timings gives it"
        ]
        if unknown
        else []
    )
    for source in ("length", "tokenize"):
        n = sum(1 for r in ok if r.tokens_from == source)
        if n:
            notes.append(
                f"tokens of {n} of {len(ok)} requests counted from {TOKEN_SOURCES[source]}: the server "
                "reports no usage; decode tok/s is the client's, first to last streamed token"
            )
    return notes


TOKENIZE_ENDPOINTS = (
    ("/extras/tokenize", "input"),
    ("/tokenize", "content"),  # llama-cpp-python, llama.cpp,
    ("/tokenize", "prompt"),
)  # vLLM


def token_counter(url: str, headers: dict) -> Callable[[str], int | None]:
    """Count a text's tokens with the server's own tokenizer (the first endpoint that answers, remembered)."""
    found: list[tuple[str, str]] = []

    def count(text: str) -> int | None:
        for path, key in found or TOKENIZE_ENDPOINTS:
            try:
                resp = requests.post(url + path, json={key: text}, timeout=10, headers=headers)
                tokens = resp.json().get("tokens") if resp.status_code == 200 else None
            except (requests.RequestException, ValueError, AttributeError):
                continue
            if isinstance(tokens, list):
                found[:] = [(path, key)]
                return len(tokens)
        return None

    return count
