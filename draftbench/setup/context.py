"""Context depth: the text a request carries before its prompt when a sweep measures at depth D (``settings.depth``).

Three sources, in this order for each prompt: the prompt's own ``context`` (a field of the prompt file), the user's
documents (``settings.context_file``: a text file, documents separated by lines holding only ``---``), or, by
default, deterministic task-shaped text shipped with the package: code-like lines for code prompts, prose for the
rest, drawn from the synthetic family's word list. The user's text is read from a start of its own for each request
(the prompt's own context first; else document ``position`` of the list, or a spread of offsets when there are few
documents) and continues through the others, cycling, until it is long enough.

Each request's context starts with a marker of its own (its position and depth), so no two requests share a prefix
and no cache can serve one from another; every request position gets a different context, the same for the baseline
and every setup at that depth, so comparisons stay paired. A context is cut to a number of units (words of the
synthetic text, characters of the user's) that the measuring code sizes with the server's tokenizer (:class:`Sizing`)
so it holds at least D tokens; the server's own prompt count checks every request."""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..core import files
from .prompts import Prompt

CHARS_PER_TOKEN = 4  # the user's text, before the server's tokenizer has sized it
SPARE = 1.02  # sized contexts hold this much more than the depth (the server's count is the check)
INTRO = "\nUsing the context above as background:\n"
SEPARATOR = "---"  # a line holding only this separates the documents of a context file


@lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    return tuple((Path(__file__).parent.parent / "synth" / "words.txt").read_text(encoding="utf-8").split())


def documents(text: str) -> tuple[str, ...]:
    """A context file's documents: blocks between lines holding only ``---``, empty ones left out."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip() == SEPARATOR:
            blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    blocks.append("\n".join(current))
    return tuple(b.strip() for b in blocks if b.strip())


KINDS = ("code", "prose", "user")  # kinds of context text, each sized on its own (their tokens per unit differ)


@dataclass(frozen=True)
class Sizing:
    """How much text of each kind holds ``depth`` tokens with the server's tokenizer; None: the unsized default."""

    code: int | None = None  # words of the package's code-like text
    prose: int | None = None  # words of the package's prose
    user: int | None = None  # characters of the user's text


def marker(depth: int, position: int) -> str:
    return f"[context {position + 1} at depth {depth}]"


def synthetic_text(depth: int, position: int, category: str, words_n: int | None = None) -> str:
    """The package's context for the request at ``position``: ``words_n`` words (default ``depth``)."""
    rng = random.Random(f"{depth}:{position}")
    words = _words()
    chosen = [words[rng.randrange(len(words))] for _ in range(words_n if words_n is not None else depth)]
    if category == "code":
        lines = [f"{a}_{b} = {c}({d}, {e})" for a, b, c, d, e in zip(*[iter(chosen)] * 5)]
        return marker(depth, position) + "\n" + "\n".join(lines) + "\n"
    sentences = [" ".join(chosen[i : i + 12]).capitalize() + "." for i in range(0, len(chosen), 12)]
    return marker(depth, position) + "\n" + " ".join(sentences) + "\n"


def user_text(depth: int, position: int, own: str, docs: tuple[str, ...], chars_n: int | None = None) -> str:
    """The user's text for the request at ``position``: its prompt's own context, else a start of its own in the
    documents, continued through them (cycling) to ``chars_n`` characters (default: a guess of 4 per token)."""
    want = chars_n if chars_n is not None else depth * CHARS_PER_TOKEN
    pool = [d for d in docs if d != own]
    if own:
        start, text = 0, "\n\n".join([own, *pool])
    else:
        first = position % len(pool)
        text = "\n\n".join(pool[first:] + pool[:first])
        spread = max(1, math.ceil(5 / len(pool)))  # few documents: requests start at offsets spread through them
        start = (position // len(pool)) % spread * len(text) // spread
    body = (text[start:] + "\n\n" + text[:start]) if start else text
    repeats = math.ceil(want / max(1, len(body) + 2))
    return marker(depth, position) + "\n" + ("\n\n".join([body] * repeats))[:want] + "\n"


@dataclass(frozen=True)
class Contexts:
    """Where a sweep's contexts come from (see the module note): the user's documents, else the package's text
    (a prompt's own context always first)."""

    documents: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """A short content hash of the documents: part of a sweep's comparable settings."""
        return hashlib.sha256("\n---\n".join(self.documents).encode("utf-8")).hexdigest()[:16]

    def kind(self, prompt: Prompt) -> str:
        """Which text a prompt's context is: the user's, or the package's code-like text or prose."""
        return "user" if prompt.context or self.documents else "code" if prompt.category == "code" else "prose"

    def text(self, depth: int, position: int, prompt: Prompt, sizing: Sizing = Sizing()) -> str:
        kind = self.kind(prompt)
        if kind == "user":
            return user_text(depth, position, prompt.context, self.documents, sizing.user)
        return synthetic_text(depth, position, kind, getattr(sizing, kind))

    def at_depth(self, prompt: Prompt, depth: int, position: int, sizing: Sizing = Sizing()) -> Prompt:
        """``prompt`` with its context at ``depth`` before it (itself at depth 0)."""
        if depth <= 0:
            return prompt
        block = self.text(depth, position, prompt, sizing) + INTRO
        if prompt.messages:
            role, content = prompt.messages[-1]
            return replace(prompt, messages=(*prompt.messages[:-1], (role, block + content)))
        return replace(prompt, text=block + prompt.text)

    def sized(self, depth: int, prompts: tuple[Prompt, ...], count: Callable[[str], int | None]) -> Sizing:
        """For each kind of text the prompts use, the units that hold at least ``depth`` tokens with ``count`` (the
        server's tokenizer) on samples of that kind, the densest sample deciding (the user's: the first three
        prompts' contexts). Unsized (None) where the tokenizer did not answer."""
        kinds = {self.kind(p) for p in prompts}
        users = [p for p in prompts if self.kind(p) == "user"][:3]
        samples = {
            "code": [synthetic_text(depth, 0, "code")],
            "prose": [synthetic_text(depth, 0, "prose")],
            "user": [user_text(depth, i, p.context, self.documents) for i, p in enumerate(users)],
        }
        units = {"code": depth, "prose": depth, "user": depth * CHARS_PER_TOKEN}
        return Sizing(**{k: self._scale(depth, units[k], samples[k], count) for k in KINDS if k in kinds})

    @staticmethod
    def _scale(depth: int, units: int, samples: list[str], count: Callable[[str], int | None]) -> int | None:
        tokens = [count(s) for s in samples]
        if not tokens or any(not t for t in tokens):
            return None
        return math.ceil(units * depth / min(t for t in tokens if t) * SPARE)


def load_contexts(name: str, base_dir: str, problems: list[str]) -> Contexts:
    """settings.context_file's documents (a text file, documents between lines holding only ``---``)."""
    path = os.path.join(base_dir, os.path.expanduser(name))
    try:
        found = documents(files.read_text(path))
    except files.Unreadable as exc:
        problems.append(f"settings.context_file: cannot read {path}: it {exc.why}")
        return Contexts()
    if not found:
        problems.append(
            f"settings.context_file: {path} holds no text: give it the documents your prompts are asked "
            f"about, separated by lines holding only {SEPARATOR}"
        )
    binary = [i + 1 for i, d in enumerate(found) if sum(not (c.isprintable() or c.isspace()) for c in d) > len(d) // 10]
    if binary:
        problems.append(
            f"settings.context_file: {path}: document{'s' if len(binary) > 1 else ''} "
            f"{', '.join(map(str, binary[:5]))} {'are' if len(binary) > 1 else 'is'} not text (more than a tenth "
            "control characters or NUL bytes: a binary file?): give it the documents as plain text"
        )
        return Contexts()
    return Contexts(found)
