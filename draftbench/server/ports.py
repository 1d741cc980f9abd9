"""Port checks: is a port free, pick a free one, and who holds a busy one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

from ..errors import PortInUse


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # same rule llama-server binds with
    sock.bind((host, port))
    return sock


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (any address), from /proc/net/tcp and tcp6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def _proc_listener(port: int) -> int | None:
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port)}
    if not inodes or not os.path.isdir("/proc"):
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(os.path.join(fd_dir, fd)) in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def _lsof_listener(port: int) -> int | None:
    if shutil.which("lsof") is None:
        return None
    try:
        out = subprocess.run(
            ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-t"], capture_output=True, text=True, timeout=5
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return int(out[0]) if out and out[0].isdigit() else None


def _command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        return os.path.basename(argv[0].decode(errors="replace"))
    except OSError:
        pass
    try:
        return (
            subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
            .stdout.strip()
            .rsplit("/", 1)[-1]
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""


def listener(port: int) -> tuple[int, str] | None:
    """(pid, program name) of the process listening on ``port``, when this user can see it."""
    pid = _proc_listener(port) if os.path.isdir("/proc/net") else _lsof_listener(port)
    return (pid, _command_of(pid)) if pid else None


def ensure_free(host: str, port: int) -> int:
    """Return ``port``, or a free one when it is 0; raise PortInUse (naming the holder) when it is taken."""
    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise PortInUse(host, port, listener(port)) from exc
    with sock:
        return sock.getsockname()[1]
