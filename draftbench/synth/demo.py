"""The built-in demo: a synthetic demo-size family, generated once and cached."""

from __future__ import annotations

import os
import sys

from ..errors import DraftbenchError
from . import model_family

DEMO_REVISION = 3  # bump when the models change, so stale caches are regenerated (the config is written each time)


def demo_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "draftbench", f"demo-r{DEMO_REVISION}")


def ensure_demo(echo=lambda m: print(m, file=sys.stderr, flush=True)) -> str:
    """Return the demo sweep config path, generating the models the first time."""
    folder = demo_dir()
    config = os.path.join(folder, "sweep.json")
    if all(
        os.path.exists(os.path.join(folder, f"{name}.gguf"))
        for name in ["target", *(f"draft-{k}" for k in model_family.SIZES["demo"].draft_layers)]
    ):
        echo(f"Using the demo models in {folder}")
        try:
            model_family.write_config(folder, "demo")
        except OSError as exc:
            raise DraftbenchError(f"cannot write {config}: {exc.strerror}") from exc
        return config
    echo(f"Generating the demo models in {folder} (once; about 1 GB) ...")
    try:
        model_family.generate(folder, "demo")
    except OSError as exc:
        raise DraftbenchError(
            f"cannot write the demo models to {folder}: {exc.strerror}; set XDG_CACHE_HOME to a folder with ~2 GB free"
        ) from exc
    return config
