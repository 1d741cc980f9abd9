"""Each backend's server: its launcher and command line, chosen by the backend's type (``setup.backend``)."""

from __future__ import annotations

from typing import Callable

from ..setup.backend import LLAMACPP, VLLM, Backend
from . import llama_bin, llamacpp, vllm
from .process import ServerProcess, ServerSpec

_SERVERS = {LLAMACPP.name: llamacpp, VLLM.name: vllm}  # LM Studio is not started by draftbench for a sweep


def launch(backend: Backend, spec: ServerSpec, warn: Callable[[str], None] | None = None) -> ServerProcess:
    """A server for ``spec`` on ``backend``, not yet started (an unsupported setup fails here, before it starts)."""
    return _SERVERS[backend.name].launch(spec, warn)


def command(backend: Backend, spec: ServerSpec, port: int) -> list[str]:
    """The command line ``launch`` would run (for the dry run)."""
    if backend is LLAMACPP:
        binary = llama_bin.find_llama_server(spec.options.llama_bin)
        flags, _ = llama_bin.probe(binary)
        return llamacpp.command(spec, binary, flags, port, flags.speculation_args(spec.speculation))
    return vllm.command(spec, port)
