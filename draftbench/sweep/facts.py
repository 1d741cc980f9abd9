"""What measuring one cell learns, filled in as it is learnt (by the sessions, the cost probes and the cell
itself); the run record is built from it once (``CellMeasurer.record``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..records.distribution import DistributionSamples
from ..records.memory import Memory
from ..records.probes import LoopVerification, PositionCounts
from ..records.requests import SlotDrafts


@dataclass
class RunFacts:
    warnings: list[str] = field(default_factory=list)
    speculation_flags: list[str] | None = None  # as the server ran them, secrets redacted
    server_command: list[str] | None = None
    server_fixes: list[str] | None = None  # flags added after its server crashed at start-up without them
    server_version: str | None = None
    log_path: str | None = None
    load_time_s: float | None = None
    draft_alone_tps: float | None = None  # the cost model's: the draft model's own speed
    verify_in_loop: LoopVerification | None = None
    draft_ms_per_pass: float | None = None
    position_counts: PositionCounts | None = None
    verify_costs: dict[str, float] | None = None  # a baseline's v(k), keyed by k
    distribution_samples: DistributionSamples | None = None  # check_distribution's continuations
    gpu_busy_before_pct: float | None = None
    other_cpu_share_before: float | None = None
    other_cpu_share: float | None = None
    peak_rss_mib: float | None = None
    peak_vram_mib: float | None = None
    memory: Memory | None = None
    slots: list[SlotDrafts] | None = None  # with several slots: drafted and accepted tokens per slot (measure/slots.py)
    wall_time_s: float | None = None
    error: str | None = None
    log_excerpt: str | None = None

    def failed(self, error: str, log_excerpt: str | None = None) -> None:
        self.error, self.log_excerpt = error, log_excerpt

    def values(self) -> dict[str, Any]:
        """The fields, shallow (records inside stay records): a run record's keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
