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

from ..records.memory import Buffers, Memory

MODELS = ("target", "draft")
_BUFFER_RE = re.compile(
    r"(load_tensors|llama_kv_cache|sched_reserve|llama_context):\s+(\S+)\s+"
    r"(model|KV|compute|output) buffer size\s*=\s*([0-9.]+) MiB"
)
_KIND = {"model": "weights", "KV": "kv", "compute": "compute", "output": "compute"}
DRAFT_START = "common_speculative_init_result:"
SERVING = ("llama_server: model loaded", "main: server is listening", "listening on")
LOG_CHARS = 8 << 20  # a log's buffers are printed while it loads; at trace verbosity it grows with every request


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
    return tuple(
        Buffers(
            model,
            device,
            round(p.get("weights", 0.0), 2),
            round(p.get("kv", 0.0), 2),
            round(p.get("compute", 0.0) + p.get("sched", 0.0), 2),
        )
        for (model, device), p in found.items()
    )


def measured(log_text: str, peak_rss_mib: float | None, gpu_used_mib: float | None) -> Memory:
    buffers = parse_log(log_text)
    total = round(sum(b.total_mib for b in buffers), 1) if buffers else None
    return Memory(
        buffers,
        total,
        peak_rss_mib,
        gpu_used_mib,
        source="llama-server log" if buffers else ("process" if peak_rss_mib is not None else "none"),
    )
