"""Values each fine alone that do not go together: a sweep that would run but not measure what it says (a level
above its requests, an adaptive block as large as the budget, draft_min above draft_max, axes nothing takes), and
a plan too large to build. The config's parser and ``--adaptive`` ask these; so does the dry run, through them."""

from __future__ import annotations

import math
from typing import Any

from .prompts import Prompt
from .settings import SweepSettings
from .speculation import TARGET_HEADS, Setup

PROMPT_ROOM = 512  # tokens a prompt and its chat template may take beside the context (the built-in ones: < 300)
MAX_SETUPS = 1_000  # setups per sweep, axes expanded: each is at least one server start and its requests


def too_many(axes: dict[str, list[Any]], so_far: int) -> str | None:
    """Why an entry's axes would make the sweep too large (with ``so_far`` setups already), or None."""
    count = math.prod(len(v) for v in axes.values())
    if so_far + count <= MAX_SETUPS:
        return None
    widest = ", ".join(f"{n} ({len(v)} values)" for n, v in sorted(axes.items(), key=lambda kv: -len(kv[1])))
    return (
        f"its axes make {count:,} setups ({widest}); a sweep takes at most {MAX_SETUPS:,} setups in all: use "
        "fewer values, or the adaptive search on a coarser grid first"
    )


def together(settings: SweepSettings, setups: list[Setup], top_axes: dict[str, list[Any]]) -> list[str]:
    """What is wrong with values that are each fine alone: a sweep that would run but measure nothing it says."""
    s, budget = settings, settings.requests * settings.runs
    out = [
        f"settings.concurrency: {n} requests in flight at once, but a level measures only {budget} "
        f"(runs x requests): raise requests or lower the level"
        for n in s.concurrency
        if n > budget
    ]
    deepest = max(s.depth)
    if deepest and deepest + s.max_tokens + PROMPT_ROOM > s.server.ctx_size:
        out.append(
            f"settings.depth: {deepest} tokens of context + max_tokens {s.max_tokens} + about {PROMPT_ROOM} "
            f"for the prompt and its template do not fit ctx_size {s.server.ctx_size}: raise ctx_size to at "
            f"least {deepest + s.max_tokens + PROMPT_ROOM} or lower the depth"
        )
    if s.search == "model" and not s.cost_model:
        out.append(
            'settings.search: "model" predicts setups with the cost model, which "cost_model": false turns '
            'off: remove "cost_model": false, or use "search": "adaptive"'
        )
    if s.search in ("adaptive", "model") and s.block >= budget:
        out.append(
            f"settings.block: {s.block} requests per look, but each setup measures only {budget} "
            "(runs x requests): the adaptive search could never stop one early; lower block or raise requests"
        )
    out += [
        f"drafts: {c.label!r}: draft_min {c.speculation.draft_min} is above draft_max {c.speculation.draft_max}: "
        "it would never draft; lower draft_min"
        for c in setups
        if c.speculation.draft_min is not None
        and c.speculation.draft_max is not None
        and c.speculation.draft_min > c.speculation.draft_max
    ]
    if top_axes and setups and not any(c.speculation.draft_path or TARGET_HEADS in c.speculation.spec_type for c in setups):
        out.append(
            f"axes: {', '.join(top_axes)} applies to setups with a draft model or MTP heads, and this config "
            'has none: move the axes into the n-gram entries ("axes" inside each) or drop them'
        )
    return out


def replayable(settings: SweepSettings, suite: tuple[Prompt, ...]) -> list[str]:
    """What a conversation replay cannot measure: conversations run one at a time, turn by turn, in one slot."""
    s = settings
    if s.conversation != "replay":
        return []
    fix = 'or set settings.conversation to "first-turn"'
    out = [
        f"settings.{key}: {value} with a conversation replay: conversations run one at a time, each turn after the last; "
        f"{why}, {fix}"
        for key, value, bad, why in (
            ("concurrency", list(s.concurrency), s.concurrency != (1,), "measure concurrency in another sweep"),
            ("depth", list(s.depth), s.depth != (0,), "a conversation's own turns are its context: drop depth"),
            ("search", repr(s.search), s.search != "exhaustive", 'use "exhaustive"'),
            ("endpoint", repr(s.endpoint), s.endpoint != "chat", 'conversations need the chat endpoint: use "chat"'),
            ("warm_pool", s.warm_pool, s.warm_pool != 0, "set it to 0"),
        )
        if bad
    ]
    if suite and not any(p.turns for p in suite):
        out.append(
            f'settings.conversation: "replay", but {s.prompts} holds no conversation of two turns or more: use a file '
            f"of conversations (Spec-Bench turns, ShareGPT, OpenAI messages or a request log), {fix}"
        )
    return out
