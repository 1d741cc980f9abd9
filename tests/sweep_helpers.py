"""Helpers for tests that drive sweep.py as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from conftest import ROOT

FAST = {"requests": 2, "warmup": 0, "max_tokens": 24, "port": 0, "gpu_layers": 0, "ctx_size": 1024}


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


def sweep_until(args: list[str], marker: str, sig: int = signal.SIGINT, timeout: float = 120):
    """Start sweep.py, send ``sig`` once ``marker`` appears on stderr; return (exit code, stderr text)."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "sweep.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if marker in line:
                proc.send_signal(sig)
                break
        rest = proc.communicate(timeout=timeout)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(seen) + rest


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
