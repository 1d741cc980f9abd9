"""Samples for the distribution check (``settings.check_distribution``): at a temperature above 0, many short
continuations of a few fixed prefixes, drawn from one server (a target alone, or with a speculation setup). Exact
speculative decoding (greedy verification of the target's own samples, or rejection sampling) leaves the target's
output distribution unchanged, so a setup's samples and its baseline's must look alike; :mod:`results.distribution`
tests that. Token ids where the server returns them (llama.cpp's ``/completion``), else the text's words."""

from __future__ import annotations

from typing import Any

import requests

from ..core.redaction import redact_url
from ..errors import DraftbenchError
from ..records.distribution import TOKENS, DistributionSamples
from ..setup.prompts import Prompt
from .bench import prompt_text

PREFIXES = 4  # fixed prefixes: the prompt set's first
SAMPLES = 60  # continuations of each, one seed each


def draw(
    url: str,
    path: str,
    prompts: tuple[Prompt, ...],
    temperature: float,
    seed: int,
    api_key: str | None,
    timeout_s: float,
    prefixes: int = PREFIXES,
    samples: int = SAMPLES,
) -> DistributionSamples:
    """``samples`` continuations of ``TOKENS`` tokens for each of the first ``prefixes`` prompts, seeds
    ``seed``, ``seed + 1``, ... (the same seeds on every server)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    chosen = prompts[:prefixes]
    out: list[list[str]] = []
    with requests.Session() as session:
        for prompt in chosen:
            drawn = []
            for i in range(samples):
                body: dict[str, Any] = {
                    "prompt": prompt_text(prompt),
                    "n_predict": TOKENS,
                    "max_tokens": TOKENS,
                    "seed": seed + i,
                    "temperature": temperature,
                    "return_tokens": True,
                    "cache_prompt": True,
                    "stream": False,
                }
                try:
                    resp = session.post(url.rstrip("/") + path, json=body, headers=headers, timeout=timeout_s)
                    resp.raise_for_status()
                    data = resp.json()
                except (requests.RequestException, ValueError) as exc:
                    raise DraftbenchError(f"the distribution check's request failed: {exc}") from exc
                drawn.append(_continuation(data, url))
            out.append(drawn)
    return DistributionSamples(temperature, tuple(p.id for p in chosen), tuple(out))


def _continuation(data: object, url: str) -> str:
    """A sample's tokens (llama.cpp's ``tokens``) or text (``content``, or OpenAI's ``choices[0].text``), as one
    string; an answer with neither is the server's fault, said as such."""
    if isinstance(data, dict):
        tokens = data.get("tokens")
        if isinstance(tokens, list) and all(isinstance(t, int) for t in tokens):
            return " ".join(str(t) for t in tokens)
        if isinstance(data.get("content"), str):
            return " ".join(data["content"].split())
        choices = data.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(first, dict) and isinstance(first.get("text"), str):
            return " ".join(first["text"].split())
    raise DraftbenchError(
        f"the distribution check's answer from {redact_url(url)} has no tokens or text (expected llama.cpp's \"tokens\" or "
        '"content", or OpenAI\'s "choices"[0]."text"): turn check_distribution off for this server'
    )
