"""Describe the machine: a short hardware id for file names, and details for result files."""

from __future__ import annotations

import os
import platform
import re
import subprocess


def nvidia_smi(query: str, timeout_s: float = 10) -> str | None:
    """``nvidia-smi <query> --format=csv,noheader,nounits``'s output; None without the tool or when it fails."""
    try:
        return subprocess.run(
            ["nvidia-smi", query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=timeout_s
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _gpus() -> list[tuple[str, int]]:
    out = nvidia_smi("--query-gpu=name,memory.total")
    if out is None:
        return []
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 1)]
        if len(parts) == 2 and parts[1].isdigit():
            gpus.append((parts[0], int(parts[1])))
    return gpus


def _cpu_model() -> str:
    if platform.system() == "Darwin":
        try:
            return (
                subprocess.run(
                    ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
                ).stdout.strip()
                or platform.machine()
            )
        except (OSError, subprocess.TimeoutExpired):
            return platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> int | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError, AttributeError):
        return None


def slug(text: str) -> str:
    text = re.sub(r"\((r|tm)\)|nvidia|geforce|intel|amd|core|processor|cpu|with|radeon graphics|@.*", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40] or "unknown"


def hardware_id() -> str:
    """e.g. ``rtx-4090-24gb``, ``apple-m4-max-128gb``, ``xeon-platinum-8480-2c-24gb``."""
    gpus = _gpus()
    if gpus:
        name, mem_mb = gpus[0]
        count = f"{len(gpus)}x-" if len(gpus) > 1 else ""
        return f"{count}{slug(name)}-{round(mem_mb / 1024)}gb"
    ram = _ram_gb()
    cores = os.cpu_count() or 0
    return f"{slug(_cpu_model())}-{cores}c" + (f"-{ram}gb" if ram else "")


def machine_info() -> dict:
    return {
        "hostname": platform.node(),
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "gpus": [{"name": n, "memory_mb": m} for n, m in _gpus()],
        "python": platform.python_version(),
    }
