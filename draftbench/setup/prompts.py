"""Prompts: the built-in suite (eight kinds of task, four prompts each), the built-in conversations (chats and
agent loops, four turns each), the schedule that spreads a run's requests evenly over the kinds, and the
fingerprint that keeps a resume from mixing prompt sets. Acceptance depends on the text, so a run mixes kinds and
results are also kept per kind."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: the messages it adds (a user's, a tool's result, a system line), and the
    answer recorded after it (None: none recorded; a replay then sends the model's own)."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    answer: str | None = None


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    text: str
    messages: tuple[tuple[str, str], ...] = ()  # (role, content) pairs; empty: one user message with ``text``
    context: str = ""  # the prompt file's document for it: its context at depth (setup/context.py); '' none
    turns: tuple[Turn, ...] = ()  # a conversation of two turns or more, as a replay sends it; () one request

    def history(self, k: int, answers: list[str]) -> list[dict[str, str]]:
        """The messages a chat client sends at turn ``k`` (0-based): every earlier turn with its answer (the
        recorded one where the conversation has it, else the model's own from ``answers``), then turn ``k``."""
        out: list[dict[str, str]] = []
        for i, turn in enumerate(self.turns[: k + 1]):
            out += [{"role": role, "content": content} for role, content in turn.messages]
            if i < k:
                out.append({"role": "assistant", "content": turn.answer if turn.answer is not None else answers[i]})
        return out

    @property
    def recorded(self) -> bool:
        """Does the conversation carry its own answers (every turn before the last)? Then a replay sends them."""
        return all(t.answer is not None for t in self.turns[:-1])

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


def _conversation(d: dict) -> Prompt:
    turns = tuple(Turn(tuple(map(tuple, t["messages"])), t.get("answer")) for t in d["turns"])
    first = next(c for r, c in turns[0].messages if r == "user")
    return Prompt(d["id"], d["category"], first, turns[0].messages, turns=turns)


def _builtin_conversations() -> tuple[Prompt, ...]:
    """The built-in conversations: chats whose later turns build on the model's own answers, and agent loops
    whose recorded tool calls are followed by long tool results (builtin_conversations.jsonl, written for
    draftbench)."""
    text = (Path(__file__).parent / "builtin_conversations.jsonl").read_text(encoding="utf-8")
    return tuple(_conversation(d) for d in map(json.loads, text.splitlines()))


BUILTIN_CONVERSATIONS: tuple[Prompt, ...] = _builtin_conversations()


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
            p = _numbered(p, rnd + 1)
        out.append(p)
    return out


def _numbered(p: Prompt, n: int) -> Prompt:
    """A repeat of ``p`` whose first message says which request it is, so that no two requests send one text."""

    def first(messages: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return ((messages[0][0], f"Request {n}. {messages[0][1]}"), *messages[1:]) if messages else ()

    turns = tuple(replace(t, messages=first(t.messages)) if i == 0 else t for i, t in enumerate(p.turns))
    return replace(p, id=f"{p.id}#{n - 1}", text=f"Request {n}. {p.text}", messages=first(p.messages), turns=turns)


def fingerprint(suite: tuple[Prompt, ...]) -> str:
    """A short content hash of a prompt set: part of a sweep's comparable settings."""
    data = json.dumps(
        [
            [
                p.id,
                p.category,
                p.text,
                [list(m) for m in p.messages],
                *([p.context] if p.context else []),
                *([[[list(m) for m in t.messages], t.answer] for t in p.turns] if p.turns else []),
            ]
            for p in suite
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]
