"""vLLM: its --speculative-config for a setup, its command line, and its spec-decode counters from /metrics.

It does not run on the project's test machines: what is here is unit-tested against the documented shapes only
(see README)."""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Callable

from ..errors import DraftbenchError, UnsupportedSetup
from ..setup.speculation import AXES, DRAFT_FAMILY, Speculation, type_family
from . import ports
from .process import ServerProcess, ServerSpec, default_log_dir


SPEC_COUNTERS = {
    "vllm:spec_decode_num_draft_tokens_total": "draft_tokens",
    "vllm:spec_decode_num_accepted_tokens_total": "accepted_tokens",
    "vllm:spec_decode_num_drafts_total": "drafts",
}


DEFAULT_TOKENS = 5



def speculative_config(spec: Speculation) -> dict | None:
    """vLLM's --speculative-config for a setup: a draft model, or n-gram (prompt lookup) speculation."""
    if spec.is_baseline:
        return None
    unsupported = [a.name for a in AXES.values() if a.vllm_key is None and getattr(spec, a.name) is not None]
    if spec.extra_args:
        unsupported.append("extra_args (put server arguments in settings.extra_args)")
    families = {type_family(t) for t in spec.spec_type}
    mapped = {"num_speculative_tokens": DEFAULT_TOKENS, **{a.vllm_key: getattr(spec, a.name) for a in AXES.values()
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


def speculation_args(spec: Speculation) -> list[str]:
    config = speculative_config(spec)
    return ["--speculative-config", json.dumps(config)] if config else []


def command(spec: ServerSpec, port: int) -> list[str]:
    """``vllm serve``; with concurrency levels, as many sequences at once as the largest level (unless the
    config's ``extra_args`` set ``--max-num-seqs`` themselves)."""
    extra = list(spec.options.extra_args)
    seqs = [] if spec.parallel <= 1 or any(a.startswith("--max-num-seqs") for a in extra) else \
        ["--max-num-seqs", str(spec.parallel)]
    return (["vllm", "serve", spec.target, "--host", spec.options.host, "--port", str(port)]
            + speculation_args(spec.speculation) + seqs + extra)


def launch(spec: ServerSpec, warn: Callable[[str], None] | None = None) -> ServerProcess:
    spec_args = speculation_args(spec.speculation)  # an unsupported setup fails before anything starts
    if shutil.which("vllm") is None:
        raise DraftbenchError("vllm not found on PATH: pip install vllm (needs a CUDA GPU)")
    port = ports.ensure_free(spec.options.host, spec.options.port)
    log = spec.log_path or os.path.join(default_log_dir(), f"vllm-{port}.log")
    return ServerProcess(command(spec, port), f"http://{spec.options.host}:{port}", log,
                         spec.options.ready_timeout_s, discard_clean_log=spec.log_path is None,
                         speculation_args=spec_args)


_METRIC_RE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)\s*$")


def parse_metrics(text: str) -> dict[str, float]:
    """Sum vLLM's spec-decode counters (over all label sets) from a Prometheus /metrics page."""
    totals = {short: 0.0 for short in SPEC_COUNTERS.values()}
    seen = False
    for line in text.splitlines():
        m = _METRIC_RE.match(line.strip())
        if m and m.group(1) in SPEC_COUNTERS:
            totals[SPEC_COUNTERS[m.group(1)]] += float(m.group(3))
            seen = True
    return totals if seen else {}


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}

