"""The built-in demo: a synthetic demo-size family, generated once and cached."""

from __future__ import annotations

import json
import os
import sys

from ..errors import DraftbenchError
from . import model_family

DEMO_REVISION = 3  # bump when synth output changes, so stale caches are regenerated


def demo_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "draftbench", f"demo-r{DEMO_REVISION}")


def ensure_demo(echo=lambda m: print(m, file=sys.stderr, flush=True)) -> str:
    """Return the demo sweep config path, generating the models the first time."""
    folder = demo_dir()
    config = os.path.join(folder, "sweep.json")
    if os.path.exists(config):
        try:
            with open(config, encoding="utf-8") as fh:
                data = json.load(fh)
            paths = [e["path"] for e in data["targets"] + data["drafts"]]
            if all(os.path.exists(p) for p in paths):
                echo(f"Using the demo models in {folder}")
                return config
        except (OSError, ValueError, KeyError, TypeError):
            pass
    echo(f"Generating the demo models in {folder} (once; about 1 GB) ...")
    try:
        model_family.generate(folder, "demo")
    except OSError as exc:
        raise DraftbenchError(f"cannot write the demo models to {folder}: {exc.strerror}; "
                              "set XDG_CACHE_HOME to a folder with ~2 GB free") from exc
    return config
