"""Machine load: the share of all CPUs that other processes used over an interval (Linux ``/proc``), and GPU
utilisation where ``nvidia-smi`` exists. A run measured while something else used a large share of the machine
is slower than the machine is, and says so. Elsewhere (macOS) the CPU share is not measured (None)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from .machine import nvidia_smi

BUSY_SHARE = 0.25  # other processes' share of all CPUs from which a run's numbers carry a warning
BUSY_GPU_PCT = 20.0  # GPU utilisation before a server started from which the same holds


@dataclass(frozen=True)
class CpuTimes:
    """Clock ticks since boot: of every CPU together, of them busy, and of this process and a server's group."""

    total: int
    busy: int
    own: int


def _proc_ticks(stat: str) -> tuple[int, int]:
    """(process group, utime + stime) from the text of a /proc/PID/stat file."""
    rest = stat.rsplit(")", 1)[1].split()
    return int(rest[2]), int(rest[11]) + int(rest[12])


def cpu_times(group: int | None = None, proc: str = "/proc") -> CpuTimes | None:
    """Now: all CPUs' ticks (``cpu`` line of /proc/stat), and those of this process plus every process in
    ``group`` (a server's own process group, its children included). None where /proc is not readable."""
    try:
        with open(f"{proc}/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:9]]
        own = 0
        for entry in (e for e in os.listdir(proc) if e.isdigit()):
            try:
                with open(f"{proc}/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    pgrp, ticks = _proc_ticks(fh.read())
            except (OSError, ValueError, IndexError):
                continue  # ended meanwhile
            if int(entry) == os.getpid() or (group is not None and pgrp == group):
                own += ticks
    except (OSError, ValueError):
        return None
    return CpuTimes(sum(fields), sum(fields) - fields[3] - fields[4], own)  # idle and iowait are not busy


def other_share(start: CpuTimes | None, end: CpuTimes | None) -> float | None:
    """The share of all CPUs that processes other than ours used between two readings."""
    if start is None or end is None or end.total <= start.total:
        return None
    others = (end.busy - start.busy) - (end.own - start.own)
    return round(min(1.0, max(0.0, others / (end.total - start.total))), 3)


def gpu_busy_pct() -> float | None:
    """The busiest GPU's utilisation (%) now, from nvidia-smi; None without one."""
    out = nvidia_smi("--query-gpu=utilization.gpu") if shutil.which("nvidia-smi") else None
    try:
        return max(float(v) for v in out.split()) if out and out.split() else None
    except ValueError:
        return None


def busy(share: float | None) -> bool:
    """Did other processes use enough of the CPUs for a measurement's tok/s to be in doubt?"""
    return share is not None and share >= BUSY_SHARE


def warning(during: float | None, before: float | None, gpu_pct: float | None) -> str | None:
    """What a run measured on a busy machine carries, with how to fix it; None when the machine was quiet."""
    said = [
        f"other processes used {share:.0%} of the CPUs {when}"
        for share, when in ((during, "while it was measured"), (before, "just before its server started"))
        if busy(share)
    ]
    if gpu_pct is not None and gpu_pct >= BUSY_GPU_PCT:
        said.append(f"the GPU was {gpu_pct:.0f}% busy before its server started")
    if not said:
        return None
    return (
        "busy machine: " + " and ".join(said) + ": its tok/s may be low; rerun it on a quieter machine (on a "
        'shared CPU, fewer llama.cpp threads also help: "extra_args": ["--threads", "N"])'
    )
