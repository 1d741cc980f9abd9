"""Each backend's server: its launcher and command line, chosen by the backend's type (``setup.backend``)."""

from __future__ import annotations

from typing import Callable

from ..setup.backend import LLAMACPP, VLLM, Backend
from . import llamacpp, vllm
from .process import ServerProcess, ServerSpec

_SERVERS = {LLAMACPP: llamacpp, VLLM: vllm}  # LM Studio is not started by draftbench for a sweep


def launch(backend: Backend, spec: ServerSpec, warn: Callable[[str], None] | None = None) -> ServerProcess:
    """A server for ``spec`` on ``backend``, not yet started (an unsupported setup fails here, before it starts)."""
    return _SERVERS[backend].launch(spec, warn)


def command(backend: Backend, spec: ServerSpec, port: int) -> list[str]:
    """The command line ``launch`` would run (for the dry run)."""
    return _SERVERS[backend].command(spec, port)
