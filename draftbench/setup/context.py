"""Context depth: the text a request carries before its prompt when a sweep measures at depth D (``settings.depth``).

Deterministic and task-shaped: code-like lines for code prompts, prose for the rest, drawn from the synthetic
family's word list (common English words, one token each in most tokenizers, so D words give at least about D
tokens; the server's own prompt count checks it). Each request's context starts with a marker of its own (its
position and depth), so no two requests share a prefix and no cache can serve one from another; every prompt gets a
different context (as many as there are requests), the same for the baseline and every setup at that depth, so
comparisons stay paired."""

from __future__ import annotations

import random
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from .prompts import Prompt


@lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    return tuple((Path(__file__).parent.parent / "synth" / "words.txt").read_text(encoding="utf-8").split())


def context_text(depth: int, position: int, category: str, words_n: int | None = None) -> str:
    """The context for the request at ``position`` at ``depth``: ``words_n`` words (default ``depth``; the
    measuring code sizes it with the server's tokenizer so the context holds at least ``depth`` tokens)."""
    rng = random.Random(f"{depth}:{position}")
    words = _words()
    chosen = [words[rng.randrange(len(words))] for _ in range(words_n if words_n is not None else depth)]
    marker = f"[context {position + 1} at depth {depth}]"
    if category == "code":
        lines = [f"{a}_{b} = {c}({d}, {e})" for a, b, c, d, e in zip(*[iter(chosen)] * 5)]
        return marker + "\n" + "\n".join(lines) + "\n"
    sentences = [" ".join(chosen[i:i + 12]).capitalize() + "." for i in range(0, len(chosen), 12)]
    return marker + "\n" + " ".join(sentences) + "\n"


def at_depth(prompt: Prompt, depth: int, position: int, words_n: int | None = None) -> Prompt:
    """``prompt`` with its context at ``depth`` before it (itself at depth 0)."""
    if depth <= 0:
        return prompt
    block = context_text(depth, position, prompt.category, words_n) + "\nUsing the context above as background:\n"
    if prompt.messages:
        role, content = prompt.messages[-1]
        return replace(prompt, messages=(*prompt.messages[:-1], (role, block + content)))
    return replace(prompt, text=block + prompt.text)
