"""Helpers for tests that drive sweep.py as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from conftest import ROOT, kill_tree, spawn

# baseline_every 0: no baseline checks, which test_drift_real exercises on their own
FAST = {"requests": 2, "warmup": 0, "max_tokens": 24, "port": 0, "gpu_layers": 0, "ctx_size": 1024, "baseline_every": 0}


def write_config(family, folder, name="t", drafts=None, **settings) -> str:
    data = json.loads(json.dumps(family["config"]))
    data["name"] = name
    data["hardware"] = "testbox"
    if drafts is not None:
        data["drafts"] = [{"label": label, "path": family[key]} for label, key in drafts]
    data["settings"].update(FAST, **settings)
    path = os.path.join(str(folder), f"{name}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return path


def sweep_until(args: list[str], markers, sig: int | None = signal.SIGINT, timeout: float = 600, action=None):
    """Start sweep.py; once each of ``markers`` (a string or a sequence, matched in order) has appeared on
    stderr, run ``action`` and send ``sig`` (either may be None). Return (exit code, all stderr text).
    stderr is read as raw bytes: progress such as "Starting server ... " has no newline yet."""
    pending = [markers] if isinstance(markers, str) else list(markers)
    proc = spawn(
        [sys.executable, os.path.join(ROOT, "sweep.py"), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    text, pos = "", 0
    try:
        while pending:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            text += chunk.decode("utf-8", errors="replace")
            while pending and (found := text.find(pending[0], pos)) >= 0:
                pos = found + len(pending.pop(0))
        if not pending:
            if action is not None:
                action()
            if sig is not None:
                proc.send_signal(sig)
        text += proc.communicate(timeout=timeout)[1].decode("utf-8", errors="replace")
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    return proc.returncode, text


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
