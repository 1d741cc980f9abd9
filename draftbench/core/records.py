"""Frozen records read back from JSON: one way to build a dataclass from a saved object, for files of every
version (fields of other versions ignored, older names read under their new ones)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def from_saved(cls: type[T], data: Any, renamed: Mapping[str, str] | None = None) -> T | None:
    """``cls`` from a saved object: its fields by name (an older name in ``renamed`` read as the new one,
    old -> new), lists as tuples where the field is declared a tuple; None when ``data`` is not an object or
    lacks a field without a default."""
    if not isinstance(data, dict):
        return None
    values = {renamed.get(k, k) if renamed else k: v for k, v in data.items()}
    # next line's type: ignore: cls is a dataclass type: every caller passes one
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kept = {k: v for k, v in values.items() if k in names}
    for name, f in names.items():
        if isinstance(kept.get(name), list) and str(f.type).startswith("tuple"):
            kept[name] = tuple(kept[name])
    try:
        return cls(**kept)
    except TypeError:  # a field without a default is missing
        return None


def renamed_keys(data: dict[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
    """``data`` with older names replaced by their new ones (a new name already present wins)."""
    return {renamed.get(k, k): v for k, v in data.items() if k not in renamed or renamed[k] not in data}
