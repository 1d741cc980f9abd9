"""Prompts: the built-in suite (eight kinds of task, four prompts each), the schedule that spreads a run's
requests evenly over the kinds, and the fingerprint that keeps a resume from mixing prompt sets.
Acceptance depends on the text, so a run mixes kinds and results are also kept per kind."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    text: str
    messages: tuple[tuple[str, str], ...] = ()  # (role, content) pairs; empty: one user message with ``text``
    context: str = ""  # the prompt file's document for it: its context at depth (setup/context.py); '' none

    def chat(self) -> list[dict[str, str]]:
        if self.messages:
            return [{"role": role, "content": content} for role, content in self.messages]
        return [{"role": "user", "content": self.text}]


def _builtin() -> tuple[Prompt, ...]:
    """The built-in suite, kept as data beside this module (one JSON object a line: id, category, text)."""
    text = (Path(__file__).parent / "builtin_prompts.jsonl").read_text(encoding="utf-8")
    return tuple(Prompt(d["id"], d["category"], d["text"]) for d in map(json.loads, text.splitlines()))


BUILTIN: tuple[Prompt, ...] = _builtin()
# Warm-up requests send these, never a prompt of the measured set: no measured request follows its own text.
WARMUP: tuple[Prompt, ...] = tuple(
    Prompt(f"warmup-{i + 1}", "warmup", text)
    for i, text in enumerate(
        (
            "List the colours of the rainbow.",
            "Name the months that have thirty days.",
            "Write one sentence about the sea.",
            "Give three examples of prime numbers.",
        )
    )
)


def custom(texts: list[str]) -> tuple[Prompt, ...]:
    return tuple(Prompt(f"custom-{i + 1}", "custom", t) for i, t in enumerate(texts))


def categories(suite: tuple[Prompt, ...]) -> list[str]:
    """The suite's categories, in order of first appearance."""
    return list(dict.fromkeys(p.category for p in suite))


def balanced(suite: tuple[Prompt, ...]) -> list[Prompt]:
    """The suite interleaved by category (one of each kind in turn), so any stretch of the schedule has
    every category within one request of the others."""
    groups = [[p for p in suite if p.category == c] for c in categories(suite)]
    return [g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)]


def select(suite: tuple[Prompt, ...], wanted: tuple[str, ...]) -> tuple[Prompt, ...]:
    """The prompts of the ``wanted`` categories (all when empty); unknown names raise ValueError."""
    if not wanted:
        return suite
    known = categories(suite)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(
            f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} (this prompt set has: {', '.join(known)})"
        )
    return tuple(p for p in suite if p.category in wanted)


def schedule(suite: tuple[Prompt, ...], count: int, offset: int = 0) -> list[Prompt]:
    """``count`` prompts cycling through the balanced suite from ``offset``. When the suite is too small to avoid
    sending the same text twice in a row, later repeats get a numbered prefix so each request differs."""
    if not suite:
        raise ValueError("empty prompt suite")
    order = balanced(suite)
    out = []
    for i in range(count):
        p = order[(offset + i) % len(order)]
        rnd = (offset + i) // len(order)
        if rnd and len(order) < 2:
            p = Prompt(f"{p.id}#{rnd}", p.category, f"Request {rnd + 1}. {p.text}", p.messages)
            if p.messages:
                p = Prompt(
                    p.id, p.category, p.text, ((p.messages[0][0], f"Request {rnd + 1}. {p.messages[0][1]}"), *p.messages[1:])
                )
        out.append(p)
    return out


def fingerprint(suite: tuple[Prompt, ...]) -> str:
    """A short content hash of a prompt set: part of a sweep's comparable settings."""
    data = json.dumps(
        [[p.id, p.category, p.text, [list(m) for m in p.messages], *([p.context] if p.context else [])] for p in suite],
        ensure_ascii=False,
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]
