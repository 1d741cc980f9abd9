"""Port checks: is a port free, pick a free one."""

from __future__ import annotations

import socket

from .errors import PortInUse


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # same rule llama-server binds with
    sock.bind((host, port))
    return sock


def port_is_free(host: str, port: int) -> bool:
    try:
        _bind(host, port).close()
        return True
    except OSError:
        return False


def ensure_free(host: str, port: int) -> int:
    """Return ``port``, or a free one when it is 0; raise PortInUse when it is taken."""
    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise PortInUse(host, port) from exc
    with sock:
        return sock.getsockname()[1]
