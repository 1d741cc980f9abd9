"""Frozen records read back from JSON: one annotation-driven way to build a dataclass from a saved object, for files
of every version (fields of other versions ignored, older names read under their new ones). A field declared as
another record (or an optional one, a list, tuple or string-keyed dict of them) is decoded the same way, by its
annotation; a record class with a ``from_dict`` of its own (a flat or renamed layout) is decoded by it."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


_HINTS: dict[Any, dict[str, Any]] = {}


def hints(cls: Any) -> dict[str, Any]:
    """A class's field annotations, resolved (once per class)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _optional(hint: Any) -> tuple[Any, bool]:
    """The hint without None, and whether None was allowed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else hint), len(args) < len(typing.get_args(hint))
    return hint, False


def _record(cls: type, value: Any) -> Any:
    """One record from a saved value: by the class's own ``from_dict`` where it has one, else ``from_saved``;
    None where the value is not an object."""
    if not isinstance(value, dict):
        return None
    own = cls.__dict__.get("from_dict")
    return cls.from_dict(value) if own is not None else from_saved(cls, value)  # type: ignore[attr-defined]  # own


def decode(hint: Any, value: Any) -> Any:
    """``value`` as ``hint`` declares it where that involves records (see the module note); other values as they
    are. Items that are not records are left out; an empty mapping of records where None is allowed reads as None."""
    inner, optional = _optional(hint)
    if value is None:
        return None
    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
        return _record(inner, value)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    item = args[0] if args else None
    if origin in (list, tuple) and isinstance(item, type) and dataclasses.is_dataclass(item) and isinstance(value, (list, tuple)):
        decoded = [r for v in value if (r := _record(item, v)) is not None]
        return tuple(decoded) if origin is tuple else decoded
    if (
        origin is dict
        and len(args) == 2
        and isinstance(args[1], type)
        and dataclasses.is_dataclass(args[1])
        and isinstance(value, dict)
    ):
        found = {str(k): r for k, v in value.items() if (r := _record(args[1], v)) is not None}
        return found or (None if optional else {})
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value


def from_saved(cls: type[T], data: Any, renamed: Mapping[str, str] | None = None) -> T | None:
    """``cls`` from a saved object: its fields by name (an older name in ``renamed`` read as the new one,
    old -> new), each decoded by its annotation (``decode``); None when ``data`` is not an object or lacks a field
    without a default."""
    if not isinstance(data, dict):
        return None
    values = {renamed.get(k, k) if renamed else k: v for k, v in data.items()}
    declared = hints(cls)
    kept = {k: decode(declared[k], v) for k, v in values.items() if k in declared and k in cls.__dataclass_fields__}  # type: ignore[attr-defined]  # a dataclass
    try:
        return cls(**kept)
    except TypeError:  # a field without a default is missing
        return None


def renamed_keys(data: dict[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
    """``data`` with older names replaced by their new ones (a new name already present wins)."""
    return {renamed.get(k, k): v for k, v in data.items() if k not in renamed or renamed[k] not in data}
