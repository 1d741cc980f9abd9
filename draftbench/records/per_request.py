"""Whether a server honours per-request draft settings, as saved (``PerRequestProbe``)."""

from __future__ import annotations

from dataclasses import dataclass

PROBE_N_MAX = (1, 8)


@dataclass(frozen=True)
class PerRequestProbe:
    """Does the server honour per-request ``speculative.n_max``? Measured, never read off a version."""

    honoured: bool
    drafted_per_pass: tuple[float | None, float | None]  # with n_max 1 and n_max 8

    def describe(self) -> str:
        low, high = (f"{v:.2f}" if v is not None else "n/a" for v in self.drafted_per_pass)
        verdict = "honoured" if self.honoured else "ignored"
        return (
            f"per-request draft settings are {verdict} by this server (drafted tokens per target pass: "
            f"{low} with n_max {PROBE_N_MAX[0]}, {high} with n_max {PROBE_N_MAX[1]})"
        )
