"""Results files on disk: read any version with every value's JSON type checked against the records' own
declarations (:mod:`schema`), and written atomically. A bad file raises an error naming the file and the field."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..core import jsontypes, records
from ..core.files import Unreadable, parse_json, read_text, write_json_atomic, write_text_atomic
from ..errors import ResultsFileError
from ..records.requests import RequestResult
from ..setup.levels import LEVELS
from ..setup.settings import setting_types
from ..setup.speculation import AXES
from .schema import RENAMED, SCHEMA_VERSION, BaselineCheck, CategoryResult, FileMeta, RunResult


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def _non_finite(value: Any, at: str) -> str | None:
    """The JSON path of the first NaN or infinity in ``value`` (Python's json reads NaN, Infinity, 1e999)."""
    if isinstance(value, float) and not math.isfinite(value):
        return at or "the file"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{at}.{key}" if isinstance(key, str) else f"{at}[{key}]")
        if found:
            return found.lstrip(".")
    return None


def _misfit(value: Any, hint: Any) -> tuple[str, str] | None:
    """None when a JSON value fits a field's annotation (``core.jsontypes``), a saved request, baseline check or
    category checked field by field too, else (path below the value, what it must be)."""
    return jsontypes.misfit(value, hint, lambda cls, item: _first_misfit(item, _NESTED[cls]) if cls in _NESTED else None)


def _first_misfit(item: dict[str, Any], hints: dict[str, Any]) -> tuple[str, str] | None:
    """The first field of a saved object whose JSON type its declaration does not allow: (path, what it must be)."""
    for key, hint in hints.items():
        miss = _misfit(item[key], hint) if item.get(key) is not None else None  # null: not recorded
        if miss:
            alone = not miss[0] and not miss[1].endswith("null")
            return f".{key}{miss[0]}", miss[1] + (" or null" if alone else "")
    return None


def _mistyped(item: dict[str, Any], hints: dict[str, Any], at: str) -> str | None:
    """What is wrong with a saved object, as a sentence naming the field, or None."""
    miss = _first_misfit(item, hints)
    return f"{at}{miss[0]} must be {miss[1]}" if miss else None


def _hints(cls: type, *without: str) -> dict[str, Any]:
    """A record's JSON types, from its annotations (older names of renamed fields too)."""
    hints = {k: v for k, v in records.hints(cls).items() if k not in ("other", *without)}
    return {**hints, **{old: hints[new] for old, new in RENAMED.items() if new in hints}}


# Records saved inside others whose own fields are checked too, and a file's own fields and its runs'.
_NESTED = {
    RequestResult: {**records.hints(RequestResult), "prompt_id": str | int},
    BaselineCheck: records.hints(BaselineCheck),
    CategoryResult: _hints(CategoryResult),
}
_META_TYPES = _hints(FileMeta, "schema_version")  # schema_version: said on its own, below
_RUN_TYPES = {
    **_hints(RunResult, "speculation"),
    "draft_path": str | None,
    "spec_type": str | None,
    "extra_args": list[str] | None,
}


def _settings_types() -> dict[str, Any]:
    return {key: hint | None for key, hint in setting_types().items()}


def _run_types() -> dict[str, Any]:
    return {**_RUN_TYPES, **{a.name: a.limit.kind | None for a in AXES.values()}}


def load_results(path: str) -> tuple[FileMeta, list[RunResult]]:
    """Read any version of a results file: its metadata and its runs as stored (figures not yet evaluated).
    Raise a clear error naming the file for anything missing, truncated or malformed."""
    try:
        text = read_text(path)
    except Unreadable as exc:
        raise ResultsFileError(f"results file not found: {path}" if exc.missing else f"results file {path} {exc.why}") from exc
    if not text.strip():
        raise ResultsFileError(f"results file {path} is empty")
    try:
        data = parse_json(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(
            f"results file {path} is not valid JSON (truncated or corrupt?): {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ResultsFileError(f'results file {path} has no "results" list: is it a draftbench results file?')
    odd = _non_finite(data, "")
    if odd:
        raise ResultsFileError(
            f"results file {path}: {odd} is not a finite number (NaN or infinity): a measured "
            "value is a number or null; fix or remove that run"
        )
    wrong = _mistyped(data, _META_TYPES, "") or _mistyped(data.get("settings") or {}, _settings_types(), "settings")
    if wrong:
        raise ResultsFileError(f"results file {path}: {wrong.lstrip('.')}; was the file edited by hand?")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsFileError(
            f"results file {path}: schema_version must be a whole number from 1 to "
            f"{SCHEMA_VERSION}, got {json.dumps(version)}; was the file edited by hand?"
        )
    if version > SCHEMA_VERSION:
        raise ResultsFileError(
            f"results file {path} has schema_version {version!r}, newer than this draftbench "
            f"understands ({SCHEMA_VERSION}): upgrade draftbench"
        )
    runs = []
    for i, item in enumerate(data["results"]):
        if not isinstance(item, dict) or not isinstance(item.get("target"), str):
            raise ResultsFileError(f'results file {path}: results[{i}] has no "target" label')
        draft = item.get("draft")
        if draft is not None and not isinstance(draft, str):
            raise ResultsFileError(f"results file {path}: results[{i}].draft must be a label or null")
        wrong = _mistyped(item, _run_types(), f"results[{i}]") or _impossible(item, f"results[{i}]")
        if wrong:
            raise ResultsFileError(
                f"results file {path}: {wrong}; fix or remove that run (a results file is JSON "
                "written by draftbench: was it edited by hand?)"
            )
        runs.append(RunResult.from_dict(item))
    return FileMeta.from_dict(data), runs


RATES = ("mean_tps", "median_tps", "aggregate_tps", "decode_tps")  # measured speeds: never below 0
MOST_TPS = 1e7  # no server decodes ten million tokens a second: a speed above it was not measured


def _impossible(item: dict[str, Any], at: str) -> str | None:
    """A measured speed below zero or beyond any server (a run's, or one of its requests'), or a level the config
    refuses (the same bounds, from LEVELS): no measurement says that."""
    for name in RATES:
        if isinstance(item.get(name), (int, float)) and not 0 <= item[name] <= MOST_TPS:
            return f"{at}.{name} is {item[name]}, {_speed_wrong(item[name])}"
    for name, axis in LEVELS.items():
        value = item.get(name)
        why = axis.limit.problem(value) if value is not None and not isinstance(value, bool) else None
        if why:
            return f"{at}.{name}: {why} (the level's bounds, as a config has them)"
    for j, q in enumerate(item.get("requests") or []):
        if isinstance(q, dict) and isinstance(q.get("decode_tps"), (int, float)) and not 0 <= q["decode_tps"] <= MOST_TPS:
            return f"{at}.requests[{j}].decode_tps is {q['decode_tps']}, {_speed_wrong(q['decode_tps'])}"
    return None


def as_saved(run: RunResult) -> RunResult:
    """``run`` exactly as a file holds it (values rounded as written): what the sweep evaluates, so that a file
    read back says the same figures as the sweep that wrote it."""
    return RunResult.from_dict(_round(run.to_dict()))


def _plain(item: Any) -> Any:
    return _round(item.to_dict() if hasattr(item, "to_dict") else item)


def dump_results(meta: FileMeta, runs: list[RunResult], computed: Mapping[str, Sequence[Any]] | None = None) -> dict[str, Any]:
    """The file's JSON; ``computed``: what was evaluated from the runs (the recommendations, the crossovers; records or
    their dicts), for readers of the file (computed again from the runs whenever it is read)."""
    lists = {name: [_plain(x) for x in items] for name, items in (computed or {}).items()}
    return {**_round(meta.to_dict()), **lists, "results": [_plain(r) for r in runs]}


def save_results(
    path: str,
    meta: FileMeta,
    runs: list[RunResult],
    computed: Mapping[str, Sequence[Any]] | None = None,
    texts: "RunTexts | None" = None,
) -> None:
    """Write the file; ``texts``: a sweep's cache of its records' JSON (runs, and the evaluation's records), so that a
    save makes again only the text of what changed (the file is byte for byte what ``dump_results`` gives)."""
    if texts is None:
        write_json_atomic(path, dump_results(meta, runs, computed))
        return
    lists: dict[str, Sequence[Any]] = {**(computed or {}), "results": runs}
    parts = ["{"]  # written as they are, never joined: a file of 1,000 setups is about 12 MB
    for i, (key, value) in enumerate({**_round(meta.to_dict()), **lists}.items()):
        parts.append(f"{',' if i else ''}\n  {json.dumps(key, ensure_ascii=False)}: ")
        if key not in lists:
            parts.append(json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  "))
        elif not value:
            parts.append("[]")
        else:
            parts.append("[\n")
            for j, x in enumerate(value):
                parts += (",\n", texts.text(x)) if j else (texts.text(x),)
            parts.append("\n  ]")
    texts.keep([x for value in lists.values() for x in value])
    write_text_atomic(path, parts + ["\n}\n"])


class RunTexts:
    """Each record's JSON as the file holds it (indented for its place in a list of the file), made once per record
    object: a store's runs not evaluated again, and the evaluation's figures kept from one save to the next, are
    the same objects."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}

    def text(self, record: Any) -> str:
        hit = self._texts.get(id(record))
        if hit is None or hit[0] is not record:
            body = json.dumps(_plain(record), indent=2, ensure_ascii=False)
            hit = (record, "    " + body.replace("\n", "\n    "))
            self._texts[id(record)] = hit
        return hit[1]

    def keep(self, records: list[Any]) -> None:
        """Forget the texts of records no longer in the file."""
        ids = {id(r) for r in records}
        self._texts = {i: hit for i, hit in self._texts.items() if i in ids}


def _speed_wrong(value: float) -> str:
    return "a speed below zero" if value < 0 else f"a speed no server measures (at most {MOST_TPS:,.0f} tok/s)"
