"""What a server's models cost in memory, read from llama-server's log: each model's weights, KV cache and compute
buffers per device, as it allocates them, and the server process's peak resident memory.

llama-server b11434 prints, at trace verbosity (``-lv 4``, which every server of a sweep gets), one line per buffer:
``load_tensors: <dev> model buffer size = X MiB`` (weights), ``llama_kv_cache: <dev> KV buffer size = X MiB``,
``sched_reserve: <dev> compute buffer size = X MiB`` and ``llama_context: <dev> output buffer size = X MiB``. The
target's come first; ``common_speculative_init_result:`` starts the draft's (a draft model or head file, or the MTP
context made from the target's own layers). A compute buffer reserved twice for one model and device is counted
once, at its largest: the scheduler is resized, not doubled."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.records import from_saved
from ..setup.repacking import EXTRA_BUFFERS

MODELS = ("target", "draft")
_BUFFER_RE = re.compile(r"(load_tensors|llama_kv_cache|sched_reserve|llama_context):\s+(\S+)\s+"
                        r"(model|KV|compute|output) buffer size\s*=\s*([0-9.]+) MiB")
_KIND = {"model": "weights", "KV": "kv", "compute": "compute", "output": "compute"}
DRAFT_START = "common_speculative_init_result:"
SERVING = ("llama_server: model loaded", "main: server is listening", "listening on")
LOG_CHARS = 8 << 20  # a log's buffers are printed while it loads; at trace verbosity it grows with every request


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

    @classmethod
    def from_dict(cls, data: object) -> "Buffers | None":
        return from_saved(cls, data)


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

    @classmethod
    def from_dict(cls, data: object) -> "Memory | None":
        if not isinstance(data, dict):
            return None
        buffers = tuple(b for b in (Buffers.from_dict(x) for x in data.get("buffers") or []) if b is not None)
        return from_saved(cls, {**data, "buffers": buffers})


def parse_log(text: str) -> tuple[Buffers, ...]:
    """The buffers a llama-server log reports, per model and device, in the order they appear."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    model = MODELS[0]
    for line in text.splitlines():
        if DRAFT_START in line:
            model = MODELS[1]
        elif any(mark in line for mark in SERVING):
            break
        m = _BUFFER_RE.search(line)
        if not m:
            continue
        parts = found.setdefault((model, m.group(2)), {})
        kind, mib = _KIND[m.group(3)], float(m.group(4))
        if m.group(1) == "sched_reserve":  # a reserve again resizes the same scheduler
            parts["sched"] = max(parts.get("sched", 0.0), mib)
        else:
            parts[kind] = parts.get(kind, 0.0) + mib
    return tuple(Buffers(model, device, round(p.get("weights", 0.0), 2), round(p.get("kv", 0.0), 2),
                         round(p.get("compute", 0.0) + p.get("sched", 0.0), 2)) for (model, device), p in found.items())


def measured(log_text: str, peak_rss_mib: float | None, gpu_used_mib: float | None) -> Memory:
    buffers = parse_log(log_text)
    total = round(sum(b.total_mib for b in buffers), 1) if buffers else None
    return Memory(buffers, total, peak_rss_mib, gpu_used_mib,
                  source="llama-server log" if buffers else ("process" if peak_rss_mib is not None else "none"))
