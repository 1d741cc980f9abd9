"""What the cost model's probes saved: tokens accepted at each draft position (``PositionCounts``), a setup's
verification time in the speculative loop (``LoopVerification``) and a draft model's own speed (``DraftAlone``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PositionCounts:
    """Verifications between two statistics lines and the tokens accepted at each draft position meanwhile."""

    passes: int
    accepted: tuple[int, ...]  # at draft position 1, 2, ...


@dataclass(frozen=True)
class LoopVerification:
    """A setup run with synthetic acceptance: its verification time per pass in the speculative loop."""

    verify_ms_per_pass: float
    drafted_per_pass: float
    passes: int
    drafting_ms_per_pass: float
    synthetic_rate: float


@dataclass(frozen=True)
class DraftAlone:
    """A draft model's own decode speed on a server of its own (its step cost), or why it was not measured."""

    decode_tps: float | None = None
    n_requests: int | None = None
    error: str | None = None
