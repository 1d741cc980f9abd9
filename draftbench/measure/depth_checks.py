"""What the server's own counts say of requests measured at a context depth: each prefilled in full and none from a
cache, and contexts that came out much deeper than asked (the tokenizer could not size them)."""

from __future__ import annotations

from ..records.requests import RequestResult
from ..setup.consistency import PROMPT_ROOM

OVERSHOOT = 1.1  # a context more than this times its depth (plus the prompt's room) is said: it measures a deeper one


def not_at_depth(r: RequestResult, depth: int) -> str | None:
    """Why a request does not count at ``depth`` (fewer prompt tokens prefilled than the depth, or any taken from
    the server's cache), or None."""
    if (r.cached_tokens or 0) > 0 or (r.prompt_tokens or 0) < depth:
        return (
            f"not measured at depth {depth}: the server prefilled {r.prompt_tokens} prompt tokens and took "
            f"{r.cached_tokens or 0} from its cache (needs at least {depth}, none cached)"
        )
    return None


def overshoot(results: list[RequestResult], depth: int) -> list[str]:
    """A warning where the contexts held far more than ``depth`` tokens (none at depth 0)."""
    deepest = max((r.prompt_tokens or 0 for r in results if r.ok), default=0)
    if not depth or deepest <= depth * OVERSHOOT + PROMPT_ROOM:
        return []
    return [
        f"contexts at depth {depth} held up to {deepest} prompt tokens: the server's tokenizer could not size "
        "them (see /tokenize); the run measures a deeper context"
    ]
