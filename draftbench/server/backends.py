"""Each backend's launcher and command line; vLLM and LM Studio: command construction and response parsing.

Neither runs on the project's test machines: what is here is unit-tested against
the documented shapes only (see README).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

from ..errors import DraftbenchError, ServerStartError, UnsupportedSetup
from ..setup.speculation import AXES, DRAFT_FAMILY, Speculation, type_family
from ..setup.backend import LLAMACPP, VLLM, Backend
from . import llama_bin, ports, process
from .process import ServerSpec

VLLM_SPEC_COUNTERS = {
    "vllm:spec_decode_num_draft_tokens_total": "draft_tokens",
    "vllm:spec_decode_num_accepted_tokens_total": "accepted_tokens",
    "vllm:spec_decode_num_drafts_total": "drafts",
}


VLLM_DEFAULT_TOKENS = 5


def vllm_speculative_config(spec: Speculation) -> dict | None:
    """vLLM's --speculative-config for a setup: a draft model, or n-gram (prompt lookup) speculation."""
    if spec.is_baseline:
        return None
    unsupported = [a.name for a in AXES.values() if a.vllm_key is None and getattr(spec, a.name) is not None]
    if spec.extra_args:
        unsupported.append("extra_args (put server arguments in settings.extra_args)")
    families = {type_family(t) for t in spec.spec_type}
    mapped = {"num_speculative_tokens": VLLM_DEFAULT_TOKENS, **{a.vllm_key: getattr(spec, a.name) for a in AXES.values()
                                                                if a.vllm_key and getattr(spec, a.name) is not None}}
    if spec.draft_path and families == {DRAFT_FAMILY}:
        config = {"method": "draft_model", "model": spec.draft_path, **mapped}
    elif not spec.draft_path and families and all(f.startswith("ngram") for f in families):
        config = {"method": "ngram", **mapped}
    else:
        raise UnsupportedSetup(f"vLLM sweeps run a draft model or n-gram speculation, not spec type "
                               f"{','.join(spec.spec_type)}")
    if unsupported:
        raise UnsupportedSetup(f"vLLM sweeps do not map {', '.join(unsupported)}: drop them for vLLM")
    return config


def vllm_speculation_args(spec: Speculation) -> list[str]:
    config = vllm_speculative_config(spec)
    return ["--speculative-config", json.dumps(config)] if config else []


def vllm_command(spec: ServerSpec, port: int) -> list[str]:
    """``vllm serve``; with concurrency levels, as many sequences at once as the largest level (unless the
    config's ``extra_args`` set ``--max-num-seqs`` themselves)."""
    extra = list(spec.options.extra_args)
    seqs = [] if spec.parallel <= 1 or any(a.startswith("--max-num-seqs") for a in extra) else \
        ["--max-num-seqs", str(spec.parallel)]
    return (["vllm", "serve", spec.target, "--host", spec.options.host, "--port", str(port)]
            + vllm_speculation_args(spec.speculation) + seqs + extra)


def launch_vllm(spec: ServerSpec) -> process.ServerProcess:
    spec_args = vllm_speculation_args(spec.speculation)  # an unsupported setup fails before anything starts
    if shutil.which("vllm") is None:
        raise DraftbenchError("vllm not found on PATH: pip install vllm (needs a CUDA GPU)")
    port = ports.ensure_free(spec.options.host, spec.options.port)
    log = spec.log_path or os.path.join(process.default_log_dir(), f"vllm-{port}.log")
    return process.ServerProcess(vllm_command(spec, port), f"http://{spec.options.host}:{port}", log,
                                  spec.options.ready_timeout_s, discard_clean_log=spec.log_path is None,
                                  speculation_args=spec_args)


def launch(backend: Backend, spec: ServerSpec, warn: Callable[[str], None] | None = None) -> process.ServerProcess:
    """A server for ``spec`` on ``backend``, not yet started."""
    if backend is VLLM:
        return launch_vllm(spec)
    assert backend is LLAMACPP, f"{backend.title} is not started by draftbench"
    return process.launch_llama(spec, warn)


def command(backend: Backend, spec: ServerSpec, port: int) -> list[str]:
    """The command line ``launch`` would run (for the dry run)."""
    if not backend.llama_flags:
        return vllm_command(spec, port)
    binary = llama_bin.find_llama_server(spec.options.llama_bin)
    flags, _ = llama_bin.probe(binary)
    return process.llama_command(spec, binary, flags, port, flags.speculation_args(spec.speculation))


_METRIC_RE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)\s*$")


def parse_vllm_metrics(text: str) -> dict[str, float]:
    """Sum vLLM's spec-decode counters (over all label sets) from a Prometheus /metrics page."""
    totals = {short: 0.0 for short in VLLM_SPEC_COUNTERS.values()}
    seen = False
    for line in text.splitlines():
        m = _METRIC_RE.match(line.strip())
        if m and m.group(1) in VLLM_SPEC_COUNTERS:
            totals[VLLM_SPEC_COUNTERS[m.group(1)]] += float(m.group(3))
            seen = True
    return totals if seen else {}


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


@dataclass(frozen=True)
class LMStudioSpec:
    model: str
    draft: str | None = None
    port: int = 1234


def lmstudio_commands(spec: LMStudioSpec) -> tuple[list[list[str]], list[list[str]]]:
    """(start commands, stop commands). The draft is not loaded here: it is chosen per request."""
    start = [["lms", "server", "start", "--port", str(spec.port)], ["lms", "load", spec.model]]
    stop = [["lms", "unload", "--all"], ["lms", "server", "stop"]]
    return start, stop


def lmstudio_request_fields(draft: str | None) -> dict:
    return {"draft_model": draft} if draft else {}


def lmstudio_draft_counts(body: dict) -> tuple[int | None, int | None]:
    """(drafted, accepted) from an LM Studio response's ``stats``; (None, None) when absent."""
    stats = body.get("stats") or {}
    total = stats.get("total_draft_tokens_count")
    accepted = stats.get("accepted_draft_tokens_count")
    return (int(total) if total is not None else None, int(accepted) if accepted is not None else None)


class LMStudioServer:
    """LM Studio runs as a daemon managed by ``lms``: start it and load the model; unload and stop on exit."""

    def __init__(self, spec: LMStudioSpec):
        self.spec = spec
        self.url = f"http://127.0.0.1:{spec.port}"
        self._started = False

    def __enter__(self) -> "LMStudioServer":
        if shutil.which("lms") is None:
            raise DraftbenchError("lms not found on PATH: install LM Studio and run its 'lms bootstrap'")
        start, _ = lmstudio_commands(self.spec)
        self._started = True
        for cmd in start:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                self.__exit__()
                raise ServerStartError(f"{' '.join(cmd)} failed with code {proc.returncode}",
                                       (proc.stdout + proc.stderr)[-2000:])
        return self

    def __exit__(self, *exc) -> None:
        if not self._started:
            return
        self._started = False
        for cmd in lmstudio_commands(self.spec)[1]:
            subprocess.run(cmd, capture_output=True)
