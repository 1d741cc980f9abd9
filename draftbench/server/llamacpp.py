"""llama.cpp's llama-server: the model files checked before anything starts, its command line for this build's
flags (``llama_bin``), and the server it runs."""

from __future__ import annotations

import os
import sys
from typing import Callable

from ..core import gguf_header
from . import crash, llama_bin, ports
from .process import ServerProcess, ServerSpec, default_log_dir


def preflight(spec: ServerSpec) -> list[str]:
    """Check model files before anything starts; return warnings (vocabulary mismatch)."""
    gguf_header.check_gguf(spec.target, "target model")
    draft = spec.speculation.draft_path
    if draft is None:
        return []
    gguf_header.check_gguf(draft, "draft model")
    diffs = gguf_header.vocab_mismatch(spec.target, draft)
    if not diffs:
        return []
    return [
        f"draft {draft} has a different tokenizer from target {spec.target} ({'; '.join(diffs)}): "
        "llama.cpp will load it but run WITHOUT speculation; use a draft from the target's model family"
    ]


def _command_line(spec: ServerSpec, binary: str, flags: llama_bin.FlagMap, port: int, speculation_args: list[str]) -> list[str]:
    o = spec.options
    cmd = [
        binary,
        "-m",
        spec.target,
        "--host",
        o.host,
        "--port",
        str(port),
        "-ngl",
        str(o.gpu_layers),
        *flags.slot_args(spec.parallel, o.ctx_size),
    ]
    return (
        cmd
        + speculation_args
        + flags.draft_gpu_layers_args(spec.speculation, o.gpu_layers)
        + flags.trace_args(llama_bin.TRACE_ARGS)
        + list(o.extra_args)
    )


def _resolve(spec: ServerSpec) -> tuple[str, llama_bin.FlagMap, str, list[str]]:
    """The binary, its flags and version, and the setup's arguments as this build spells them."""
    binary = llama_bin.find_llama_server(spec.options.llama_bin)
    flags, version = llama_bin.probe(binary)
    return binary, flags, version, flags.speculation_args(spec.speculation)


def command(spec: ServerSpec, port: int) -> list[str]:
    """The command line ``launch`` would run on ``port`` (for the dry run)."""
    binary, flags, _, spec_args = _resolve(spec)
    return flags.secrets_to_env(_command_line(spec, binary, flags, port, spec_args))[0]


def launch(spec: ServerSpec, warn: Callable[[str], None] | None = None) -> ServerProcess:
    """Check inputs, resolve binary and flags, and return a not-yet-started ServerProcess."""
    warnings = preflight(spec)
    for w in warnings:
        (warn or (lambda m: print(f"warning: {m}", file=sys.stderr)))(w)
    o = spec.options
    binary, flags, version, spec_args = _resolve(spec)  # before the port check: no server yet
    port = ports.ensure_free(o.host, o.port)
    cmd, env = flags.secrets_to_env(_command_line(spec, binary, flags, port, spec_args))
    host = f"[{o.host}]" if ":" in o.host else o.host
    log_path = spec.log_path or os.path.join(default_log_dir(), f"llama-server-{port}.log")
    return ServerProcess(
        cmd,
        f"http://{host}:{port}",
        log_path,
        o.ready_timeout_s,
        version=version,
        warnings=warnings,
        discard_clean_log=spec.log_path is None,
        speculation_args=flags.secrets_to_env(spec_args)[0],
        env=env,
        build_flags=flags.flags,
        crash_advice=crash.advice,
    )
