"""The one vocabulary of JSON types: whether a JSON value fits a field's annotation (``int``, ``float``, ``str``,
``bool``, lists, tuples and dicts of them, unions, records as objects) and how to say what it must be. A config's
settings and a results file's fields are checked by it, so both say a wrong type in the same words."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Callable

NAMES = {
    type(None): "null",
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    tuple: "a list",
    dict: "an object",
}
Miss = tuple[str, str]  # (the path below the value, what it must be)
Nested = Callable[[Any, dict], "Miss | None"]  # a record's own fields checked: (record class, saved object)


def expected(hint: Any) -> str:
    """'an integer or null', 'a number or a list': what a value of this annotation must be."""
    parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return " or ".join(dict.fromkeys(NAMES.get(typing.get_origin(p) or p, "an object") for p in parts))


def misfit(value: Any, hint: Any, nested: Nested | None = None) -> Miss | None:
    """None when a JSON value fits ``hint``, else (path below the value, what it must be). An integer field takes
    a whole number written as a float (``3.0``); a float field takes an integer; ``nested`` checks the fields of a
    record saved inside another."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        misses = [misfit(value, a, nested) for a in args]
        if None in misses:
            return None
        deeper = [m for m in misses if m and m[0]]  # a container that fits but holds a wrong value: say where
        return deeper[0] if deeper else ("", expected(hint))
    if origin in (list, tuple, dict):
        if not isinstance(value, dict if origin is dict else list):
            return "", expected(hint)
        inner = (args[-1] if origin is dict else args[0]) if args else Any
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for k, v in items:
            miss = misfit(v, inner, nested)
            if miss:
                return (f".{k}" if origin is dict else f"[{k}]") + miss[0], miss[1]
        return None
    if hint is Any:
        fits = True
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, dict) and nested is not None:
            return nested(hint, value)
        fits = isinstance(value, dict)
    elif hint in (int, float):
        fits = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (hint is float or isinstance(value, int) or value.is_integer())
        )
    else:
        fits = isinstance(value, hint)
    return None if fits else ("", expected(hint))
