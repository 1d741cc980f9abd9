"""A request as measured and saved: its timings, tokens, drafts and text (``RequestResult``), and drafted and
accepted tokens summed over requests (``DraftCounts``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RequestResult:
    """One request. Times in seconds, rates in tokens per second; ``error`` set when it failed."""

    prompt_id: str
    category: str | None = None  # the prompt's kind of task
    ttft_s: float | None = None
    decode_tps: float | None = None
    client_decode_tps: float | None = None
    total_s: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens the server took from its cache (llama.cpp timings.cache_n)
    completion_tokens: int | None = None
    tokens_from: str | None = None  # how completion_tokens was known: a key of TOKEN_SOURCES, None: unknown
    draft_n: int | None = None
    draft_n_accepted: int | None = None
    text: str = ""
    error: str | None = None
    http_status: int | None = None
    server_s: float | None = None  # the server's own prompt + generation time (llama.cpp timings)
    sent_at_s: float | None = None  # when it was sent and when it ended, from the first send of its level
    ended_at_s: float | None = None
    sent_unix_s: float | None = None  # when it was sent, by the wall clock: what baseline drift is interpolated on
    scheduled_at_s: float | None = None  # at a request rate: when it should have been sent, from the first arrival
    output_problems: tuple[str, ...] = ()  # what health.check found wrong with the text (empty: healthy)
    echo_share: float | None = None  # see draftbench.core.health
    repeat_share: float | None = None
    distinct_ratio: float | None = None
    conversation: str | None = None  # a replayed conversation's id (measure/replay.py); None: a one-shot request
    turn: int | None = None  # its turn in that conversation, from 1
    history: str | None = None  # the earlier answers it sent: "recorded" (the conversation's own) or "own" (the model's)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RequestResult":
        """A saved request (fields of other versions ignored)."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["prompt_id"] = str(values.get("prompt_id", "?"))
        values["text"] = values.get("text") if isinstance(values.get("text"), str) else ""
        values["output_problems"] = tuple(values.get("output_problems") or ())
        return cls(**values)


@dataclass(frozen=True)
class SlotDrafts:
    """One server slot's requests of a run and their drafted and accepted tokens (llama-server's log)."""

    slot: int
    requests: int
    drafted: int
    accepted: int

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None


def scheduled(requests: list[RequestResult]) -> int:
    """The places of the prompt schedule ``requests`` took: one per one-shot request, one per replayed
    conversation (its first turn)."""
    return sum(1 for q in requests if (q.turn or 1) == 1)


@dataclass(frozen=True)
class DraftCounts:
    """Drafted and accepted tokens summed over the requests that report them (not a mean of ratios), and the
    tokens those requests produced: acceptance = accepted / drafted, and each verification pass yields
    produced / (produced - accepted) tokens."""

    drafted: int = 0
    accepted: int = 0
    produced: int = 0

    @classmethod
    def of(cls, requests: list[RequestResult]) -> "DraftCounts":
        counted = [q for q in requests if not q.error and q.draft_n is not None]
        return cls(
            sum(q.draft_n or 0 for q in counted),
            sum(q.draft_n_accepted or 0 for q in counted),
            sum(q.completion_tokens or 0 for q in counted),
        )

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None

    @property
    def passes(self) -> int:
        """Target passes that produced these tokens: each yields its accepted drafts and one token of its own."""
        return max(0, self.produced - self.accepted)

    @property
    def mean_accepted_length(self) -> float | None:
        return self.produced / self.passes if self.drafted and self.passes else None
