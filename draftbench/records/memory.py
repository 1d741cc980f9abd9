"""A run's memory as saved: each model's buffers per device (``Buffers``) and the run's totals, peak resident
memory and the estimate beside them (``Memory``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..setup.repacking import EXTRA_BUFFERS


@dataclass(frozen=True)
class Buffers:
    """One model's buffers on one device, MiB."""

    model: str  # "target" or "draft" (a draft model, a head, or the MTP context)
    device: str  # as llama.cpp names it: CPU, CPU_Mapped, CUDA0, Metal, ...
    weights_mib: float = 0.0
    kv_mib: float = 0.0
    compute_mib: float = 0.0

    @property
    def total_mib(self) -> float:
        return self.weights_mib + self.kv_mib + self.compute_mib


@dataclass(frozen=True)
class Memory:
    """A run's memory: the buffers its server allocated (``source`` says where they were read), their total, the
    server's peak resident memory and the GPU memory it used (None where unknown), and the dry run's estimate."""

    buffers: tuple[Buffers, ...] = ()
    total_mib: float | None = None  # every buffer of every model on every device
    peak_rss_mib: float | None = None
    gpu_used_mib: float | None = None
    estimate_mib: float | None = None  # from the GGUF headers and ctx_size, before it ran (setup/footprint)
    estimate_repacked_mib: float | None = None  # the part of it in repacked copies of weights (AMX, CPU_REPACK)
    source: str = "none"  # "llama-server log", or "process" (peak memory only)

    def of(self, model: str) -> float:
        return sum(b.total_mib for b in self.buffers if b.model == model)

    def on(self, device: str) -> float:
        return sum(b.total_mib for b in self.buffers if b.device == device)

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.device for b in self.buffers))

    def part(self, kind: str) -> float:
        """weights, kv or compute, summed over models and devices."""
        return sum(getattr(b, f"{kind}_mib") for b in self.buffers)

    @property
    def repacked_mib(self) -> float:
        """The weights llama.cpp copied into extra CPU buffers (setup/repacking), over models."""
        return sum(b.weights_mib for b in self.buffers if b.device in EXTRA_BUFFERS)

    @property
    def needed_mib(self) -> float | None:
        """The figure a budget is held against: the buffers' total, else the peak resident memory."""
        return self.total_mib if self.total_mib is not None else self.peak_rss_mib
