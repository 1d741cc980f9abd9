"""Conversations replayed as a chat client sends them: one conversation at a time, turn by turn, each turn
sending the conversation so far with ``cache_prompt`` on, so the server reuses what it has of it. The earlier
answers sent are the conversation's recorded ones where it has them (an agent loop's tool calls: the tool result
that follows was written for that call, so every setup sends the same turns), else the model's own (a chat:
what a client would send). A conversation's first turn goes with the cache off: it never profits from an earlier
conversation; each later turn records what it reused (``cached_tokens``) and is flagged where that was nothing."""

from __future__ import annotations

import time
from typing import Callable

from ..records.requests import RequestResult
from ..setup.prompts import Prompt
from .loop import LoopResult

Send = Callable[[int, list[dict[str, str]], bool, int], RequestResult]  # conversation's place, messages, cache, turn


def replay(conversations: list[Prompt], send: Send, clock: Callable[[], float] = time.perf_counter) -> LoopResult:
    """Every turn of ``conversations`` in order, through ``send``; a turn that failed ends its conversation
    (the next turn would send an answer that never came)."""
    results: list[RequestResult] = []
    start = clock()
    for i, conversation in enumerate(conversations):
        turns = conversation.turns or ()
        answers: list[str] = []
        history = "recorded" if conversation.recorded else "own"
        for k in range(max(1, len(turns))):
            messages = conversation.history(k, answers) if turns else conversation.chat()
            r = send(i, messages, k > 0, k + 1)
            r.conversation, r.turn, r.history = conversation.id, k + 1, history if k else None
            r.prompt_id = f"{conversation.id}/{k + 1}"
            results.append(r)
            if not r.ok:
                break
            answers.append(r.text)
    return LoopResult(results, clock() - start, 1 if results else 0)


def uncached(results: list[RequestResult]) -> list[RequestResult]:
    """Later turns that reused nothing of the conversation from the server's cache (a server that counts it):
    measured as one-shot requests, not as a chat client's turns."""
    return [r for r in results if r.ok and (r.turn or 0) > 1 and r.cached_tokens == 0]


def uncached_warning(results: list[RequestResult]) -> list[str]:
    """The warning for :func:`uncached` turns, with how to fix it ([] when none)."""
    missed, later = uncached(results), [r for r in results if r.ok and (r.turn or 0) > 1]
    if not missed:
        return []
    return [
        f"{len(missed)} of {len(later)} later turns reused nothing from the prompt cache (cached_tokens 0): their "
        "wait includes prefilling the whole conversation again; a server started with --cache-reuse 0 or "
        "--no-cache-prompt, or a slot shared with other clients, does this: give the server its slot to itself"
    ]


def shared_pool(results: list[RequestResult]) -> list[str]:
    """For a setup whose n-gram pool outlives a request: which conversations shared its server, in order (a later
    one may draft from an earlier one's text, as a chat client's server would), said rather than hidden."""
    order = list(dict.fromkeys(r.conversation for r in results if r.conversation))
    if len(order) < 2:
        return []
    return [
        f"its n-gram pool is kept across requests: {len(order)} conversations shared one server, in this order: "
        f"{', '.join(order)}; a later one may draft from an earlier one's text (shared tool results, a shared system "
        "prompt): measure it with one conversation per sweep (settings.requests 1) to see it alone"
    ]
