"""What answers at a URL: llama.cpp's server or another OpenAI-compatible one (once it has loaded), the model it
serves, and vLLM's speculative-decoding counters from its ``/metrics``."""

from __future__ import annotations

import time

import requests

from ..core.redaction import redact_url
from ..errors import ServerUnreachable
from ..records.engine import Counters
from ..server import vllm_metrics
from ..setup.backend import LLAMACPP, OPENAI, Backend


def detect_server(session: requests.Session, url: str, ready_timeout_s: float, headers: dict) -> Backend:
    """Wait while the server loads (503), then say what it is: llama.cpp's server or another OpenAI-compatible one."""
    deadline = time.monotonic() + ready_timeout_s
    delay = 0.05
    while True:
        try:
            health = session.get(url + "/health", timeout=5, headers=headers)
        except requests.Timeout as exc:
            raise ServerUnreachable(redact_url(url), "no answer to /health within 5 s: timeout, the server may be hung") from exc
        except requests.RequestException as exc:
            raise ServerUnreachable(redact_url(url), type(exc).__name__) from exc
        if health.status_code != 503:
            break
        if time.monotonic() > deadline:
            raise ServerUnreachable(redact_url(url), f"still loading (HTTP 503) after {ready_timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    try:
        props = session.get(url + "/props", timeout=5, headers=headers)
        if props.status_code == 200 and "default_generation_settings" in props.json():
            return LLAMACPP
    except (requests.RequestException, ValueError):
        pass
    return OPENAI


def vllm_counters(session: requests.Session, url: str, headers: dict) -> Counters | None:
    """vLLM's spec-decode counters now (None: no /metrics, or no speculation on this server)."""
    try:
        resp = session.get(url + "/metrics", timeout=5, headers=headers)
    except requests.RequestException:
        return None
    return vllm_metrics.parse_metrics(resp.text) if resp.status_code == 200 else None


def served_model(session: requests.Session, url: str, headers: dict) -> str | None:
    """The model an OpenAI-compatible server serves (the first of /v1/models): vLLM answers only to its name."""
    try:
        data = session.get(url + "/v1/models", timeout=5, headers=headers).json().get("data") or []
        return str(data[0]["id"]) if data and isinstance(data[0], dict) and data[0].get("id") else None
    except (requests.RequestException, ValueError, AttributeError, KeyError):
        return None
