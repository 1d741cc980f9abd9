"""Start and stop an inference server as a context manager in its own process group."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import requests

from ..core.machine import nvidia_smi
from ..core.redaction import redact
from ..errors import ServerStartError
from ..setup.settings import ServerOptions
from ..setup.speculation import Speculation
from . import crash, lifeline

POLL_S = 0.05
STOP_GRACE_S = 10.0
_LIVE: set["ServerProcess"] = set()


def default_log_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "draftbench", "logs")


@dataclass(frozen=True)
class ServerSpec:
    """Everything needed to launch one server: a target, a speculation setup, and options."""

    target: str
    speculation: Speculation = field(default_factory=Speculation)
    options: ServerOptions = field(default_factory=ServerOptions)
    log_path: str | None = None
    parallel: int = 1  # slots (--parallel) for concurrent requests; 1 leaves the server's default
    batch_schedule: tuple[tuple[int, int, int], ...] = ()  # vLLM: num_speculative_tokens_per_batch_size (a schedule)


def _read_tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def read_head(path: str, limit: int = 8 << 20) -> str:
    """The start of a log (where a server names its buffers), at most ``limit`` bytes (-1: all); "" if unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _server_complaint(tail: str) -> str:
    """The server's own last error line from a log tail, so a start-up failure says why."""
    keys = ("error", "removed", "failed", "invalid", "unknown", "cannot", "unable")
    for line in reversed(tail.splitlines()):
        low = line.lower()
        if any(k in low for k in keys):
            return line.strip()[:300]
    return ""


def _peak_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _group(pgid: int) -> list[int]:
    """The processes of a process group (Linux /proc; the leader alone elsewhere), for the memory of a tree."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return [pgid]
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                    fields_ = fh.read().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if len(fields_) > 2 and fields_[2] == str(pgid):
                out.append(int(name))
    return out or [pgid]


def _vram_mb(pid: int) -> float | None:
    out = nvidia_smi("--query-compute-apps=pid,used_memory", timeout_s=5)
    if out is None:
        return None
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            try:
                return float(parts[1])
            except ValueError:
                return None
    return None


def _wait_group_gone(pgid: int, timeout_s: float = 5.0) -> None:
    """Until no process of the group is left (a killed worker takes a moment to go), at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(POLL_S)


@dataclass
class ServerProcess:
    """A server process in its own session. ``with ServerProcess(...) as s:`` starts it, waits
    until ready, and stops the whole process group on the way out, whatever the way out is."""

    command: list[str]
    url: str
    log_path: str
    ready_timeout_s: float = 600.0
    health_path: str = "/health"
    version: str = "unknown"
    proc: subprocess.Popen | None = None
    load_time_s: float | None = None
    peak_rss_mib: float | None = None
    peak_vram_mib: float | None = None
    warnings: list[str] = field(default_factory=list)
    discard_clean_log: bool = False  # delete the log after a clean stop (default log folder only)
    watchdog: subprocess.Popen | None = None  # where the kernel cannot tie the server to us (macOS)
    speculation_args: list[str] = field(default_factory=list)  # the part of ``command`` that speculates
    env: dict[str, str] = field(default_factory=dict)  # set for the server only: secrets kept off its command line
    tree: bool = False  # the server starts processes of its own (vLLM): a watchdog ends them if draftbench dies
    build_flags: frozenset[str] = frozenset()  # what the build accepts (llama-server's --help), for crash.fix
    crash_advice: Callable[[int, str, list[str]], str] | None = None  # the backend's word on a death by a signal
    fixes: tuple[str, ...] = ()  # flags added after a crash at start-up without them (crash.fix), in ``command``

    def __hash__(self) -> int:
        return id(self)

    def start(self) -> "ServerProcess":
        started = time.monotonic()
        try:
            os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
            log_file = open(self.log_path, "wb")
        except OSError as exc:  # a full disk or a folder that refuses, as the next server's log opens
            raise ServerStartError(
                f"cannot write the server log {self.log_path}: {exc.strerror}; free some space "
                "or make the results folder writable, then rerun to resume"
            ) from exc
        with log_file as log:
            log.write(("$ " + " ".join(redact(self.command)) + "\n").encode())
            log.flush()
            tie, kernel_tied = lifeline.preexec_for_parent(os.getpid())
            with lifeline.signals_held():
                try:
                    self.proc = subprocess.Popen(
                        self.command,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        preexec_fn=tie,
                        env={**os.environ, **self.env} if self.env else None,
                    )
                except OSError as exc:
                    raise ServerStartError(f"cannot start {self.command[0]}: {exc.strerror}") from exc
                _LIVE.add(self)
        if not kernel_tied or self.tree:  # the kernel's tie ends the server alone, not its children
            self.watchdog = lifeline.start_watchdog(self.proc.pid)
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.load_time_s = time.monotonic() - started
        return self

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.ready_timeout_s
        session = requests.Session()
        assert self.proc is not None
        while True:
            code = self.proc.poll()
            if code is not None:
                tail = _read_tail(self.log_path)
                number = crash.signal_of(code)
                if number is None:
                    said = _server_complaint(tail)
                    raise ServerStartError(
                        f"server exited with code {code} during start-up"
                        + (f": {said}" if said else "")
                        + f" (log: {self.log_path})",
                        tail,
                    )
                advice = self.crash_advice(number, read_head(self.log_path), self.command) if self.crash_advice else ""
                how = crash.killed_by(number) if code < 0 else f"exited with code {code}, a shell's {crash.killed_by(number)}"
                raise ServerStartError(
                    f"server {how} during start-up" + (f"; {advice}" if advice else "") + f" (log: {self.log_path})", tail, number
                )
            try:
                if session.get(self.url + self.health_path, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"server not ready after {self.ready_timeout_s:.0f} s (log: {self.log_path}); "
                    "big models can need longer: raise ready_timeout_s",
                    _read_tail(self.log_path),
                )
            time.sleep(POLL_S)

    def with_fix(self, flag: str, log_path: str | None = None) -> "ServerProcess":
        """This server again, not started, with ``flag`` added (a fix for a crash at start-up), logging to
        ``log_path``; by default a log of its own beside the crashed one's (which stays for the user to read)."""
        stem, ext = os.path.splitext(self.log_path)
        return replace(
            self,
            command=[*self.command, flag],
            log_path=log_path or f"{stem}__{flag.lstrip('-')}{ext or '.log'}",
            proc=None,
            load_time_s=None,
            peak_rss_mib=None,
            peak_vram_mib=None,
            watchdog=None,
            warnings=list(self.warnings),
            fixes=(*self.fixes, flag),
        )

    def log_tail(self, lines: int = 30) -> str:
        return _read_tail(self.log_path, lines)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample_memory(self) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        pids = _group(self.proc.pid) if self.tree else [self.proc.pid]  # vLLM: its engine core holds the model
        peaks = [p for p in map(_peak_rss_mib, pids) if p is not None]
        rss = round(sum(peaks), 1) if peaks else None
        if rss is not None:
            self.peak_rss_mib = max(rss, self.peak_rss_mib or 0.0)
        vram = _vram_mb(self.proc.pid)
        if vram is not None:
            self.peak_vram_mib = max(vram, self.peak_vram_mib or 0.0)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period. Safe to call twice."""
        proc = self.proc
        if proc is None:
            return
        clean = self.load_time_s is not None and proc.poll() is None
        try:  # whatever interrupts the polite stop, the group ends by SIGKILL
            try:
                self.sample_memory()
            except Exception:
                pass
            for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
                try:
                    os.killpg(proc.pid, sig)
                    os.killpg(proc.pid, signal.SIGCONT)  # a stopped (hung) process must run to see SIGTERM
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except KeyboardInterrupt:
                    continue
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group (vLLM's engine and workers)
            except (ProcessLookupError, PermissionError):
                pass
            _wait_group_gone(proc.pid)
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
        _LIVE.discard(self)
        if clean and self.discard_clean_log:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass

    def __enter__(self) -> "ServerProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


_SIGNALLED: list[int] = []  # SIGTERMs received: raised again at a safe point if their exception was swallowed


def install_sigterm_handler() -> None:
    """Turn SIGTERM into an exception so context managers stop their servers. The exception is raised wherever the
    program is; raised inside a finalizer (a garbage-collected connection closing), Python prints it and goes on, so
    the signal is also remembered and :func:`raise_if_signalled` raises it again at the next safe point."""
    from ..errors import Interrupted

    def handler(signum, frame):
        _SIGNALLED.append(signum)
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, handler)


def raise_if_signalled() -> None:
    """Raise the interruption of a SIGTERM whose exception was lost (see :func:`install_sigterm_handler`)."""
    from ..errors import Interrupted

    if _SIGNALLED:
        raise Interrupted(_SIGNALLED[-1])
