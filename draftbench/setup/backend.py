"""The inference servers draftbench can drive, as values: what each is called and what it can do. The server layer
maps each onto its command and launcher (``server.backends``); everything else asks these capabilities instead of
comparing names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    name: str  # as configs and results files spell it
    cli_name: str  # server.py's subcommand
    local_files: bool  # models are GGUF files on disk: headers checked, identities recorded, sizes for the ETA
    llama_flags: bool  # a llama-server build whose --help is probed and whose chat templates come from the GGUF
    per_request_speculation: bool  # may honour draft settings per request (one server for several setups)
    cost_model: bool  # reports prompt timings and drafting statistics for the cost model
    sweeps: bool = True  # draftbench starts and stops it for a sweep
    why_no_sweep: str = ""
    completion_path: str = "/v1/completions"  # raw text, no chat template


LLAMACPP = Backend("llamacpp", "llama-cpp", True, True, True, True, completion_path="/completion")
VLLM = Backend("vllm", "vllm", False, False, False, False)
LMSTUDIO = Backend(
    "lmstudio",
    "lm-studio",
    False,
    False,
    False,
    False,
    sweeps=False,
    why_no_sweep="LM Studio picks drafts per request and is managed by lms: start it with "
    "'server.py lm-studio' and measure with bench.py",
)
BACKENDS = {b.name: b for b in (LLAMACPP, VLLM, LMSTUDIO)}
# What bench.py finds at a URL that is not llama-server: any OpenAI-compatible server (vLLM, LM Studio, others).
OPENAI = Backend("openai", "", False, False, False, False, sweeps=False)
