"""LM Studio: a daemon managed by ``lms`` that picks the draft per request; started and stopped here for
``server.py lm-studio``, measured with bench.py (not swept).

It does not run on the project's test machines: what is here is unit-tested against the documented shapes only
(see README)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from ..errors import DraftbenchError, ServerStartError


@dataclass(frozen=True)
class LMStudioSpec:
    model: str
    draft: str | None = None
    port: int = 1234


def commands(spec: LMStudioSpec) -> tuple[list[list[str]], list[list[str]]]:
    """(start commands, stop commands). The draft is not loaded here: it is chosen per request."""
    start = [["lms", "server", "start", "--port", str(spec.port)], ["lms", "load", spec.model]]
    stop = [["lms", "unload", "--all"], ["lms", "server", "stop"]]
    return start, stop


def request_fields(draft: str | None) -> dict:
    return {"draft_model": draft} if draft else {}


def draft_counts(stats: dict) -> tuple[int | None, int | None]:
    """(drafted, accepted) from the ``stats`` of an LM Studio response; (None, None) when it has no draft counts."""
    total = stats.get("total_draft_tokens_count")
    return (None, None) if total is None else (int(total), int(stats.get("accepted_draft_tokens_count") or 0))


class LMStudioServer:
    """LM Studio runs as a daemon managed by ``lms``: start it and load the model; unload and stop on exit."""

    def __init__(self, spec: LMStudioSpec):
        self.spec = spec
        self.url = f"http://127.0.0.1:{spec.port}"
        self._started = False

    def __enter__(self) -> "LMStudioServer":
        if shutil.which("lms") is None:
            raise DraftbenchError("lms not found on PATH: install LM Studio and run its 'lms bootstrap'")
        start, _ = commands(self.spec)
        self._started = True
        for cmd in start:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                self.__exit__()
                raise ServerStartError(f"{' '.join(cmd)} failed with code {proc.returncode}", (proc.stdout + proc.stderr)[-2000:])
        return self

    def __exit__(self, *exc) -> None:
        if not self._started:
            return
        self._started = False
        for cmd in commands(self.spec)[1]:
            subprocess.run(cmd, capture_output=True)
