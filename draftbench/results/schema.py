"""Results files: self-describing JSON, written atomically, read in every known version.

Version 1 is the original tool's format (no ``schema_version``): a list of results with
``target``, ``draft``, ``mean_tps``, ``median_tps``, ``mean_ttft``, ``mean_total_time``,
``acceptance_rate``. Version 2 keeps those fields and adds the ones in ``RunResult``. Version 3
adds each run's speculation setup, flat (``spec_type``, ``draft_max``, ``draft_min``,
``draft_p_min``, ``extra_args`` next to ``draft_path``), and the flags that ran it
(``speculation_flags``). Runs of older files have no known setup (``speculation`` None). Version 4
adds the adaptive search's fields (``pruned``, ``pruned_as``, ``pruned_vs``, ``pruned_reason``,
``pruned_interval``, ``in_progress``) and concurrency levels (``concurrency``, ``aggregate_tps``,
``aggregate_speedup``, ``median_ttft``, ``p95_ttft_s``, ``loop_wall_s``, ``max_in_flight``) and per-category
results (``categories``); older runs read as measured in full, one request at a time, without categories.
Version 5 computes ``speedup`` and ``speedup_ci95`` paired, request by request against the baseline on the
same prompts (see :mod:`stats`), and says so in ``speedup_design`` with ``speedup_n`` pairs; older files
with requests are recomputed that way when loaded, and those without (version 1) read as unpaired. It also
adds the output checks of :mod:`health` (``degenerate_output``; per request ``output_problems``,
``echo_share``, ``repeat_share``, ``distinct_ratio``); older runs read as unchecked (None). Version 6 adds
baseline drift and machine load (see :mod:`drift`): a baseline's ``baseline_checks`` (the baseline measured again
during the sweep), a setup's ``drift_factor`` and ``speedup_uncorrected``, each request's ``sent_unix_s``, and
the load of other processes while a run was measured (``other_cpu_share``, ``other_cpu_share_before``,
``gpu_busy_before_pct``); older runs read as measured once, load unknown (None), and nothing is corrected.
Version 7 adds the cost model's measurements in the speculative loop (see :mod:`costmodel`): a setup's
``verify_in_loop`` (its verification time per pass, from a run of the same setup with synthetic acceptance)
and ``position_counts`` (accepted tokens at each draft position); older runs are explained with v(k) from
prompt batches and one acceptance rate for every position, and their parts say so.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..core.files import Unreadable, read_text, write_json_atomic
from ..errors import ResultsFileError
from ..measure.bench import Measured
from ..measure.stream import RequestResult
from ..setup.settings import setting_types
from ..setup.speculation import AXES, Speculation
from .costmodel import Parts

SCHEMA_VERSION = 7
MIN_FREE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class BaselineCheck:
    """The baseline measured again part-way through its target's setups: one block of the schedule's first
    prompts, on a server of its own, after the setup named in ``after``."""

    after: str
    requests: list[RequestResult] = field(default_factory=list)
    other_cpu_share: float | None = None  # other processes' share of the CPUs while it ran

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BaselineCheck":
        return cls(str(data.get("after")), [RequestResult.from_dict(q) for q in data.get("requests") or []
                                            if isinstance(q, dict)], data.get("other_cpu_share"))


@dataclass(frozen=True)
class RunResult(Measured):
    """One cell of the matrix: a target alone (``draft`` None) or with one speculation setup, whose label is
    ``draft``: what its requests measured (``Measured``, taken from its summary) and what the sweep learnt. In JSON
    the setup's fields sit flat beside the others. Frozen: a sweep builds it once (``CellMeasurer.record``), and
    what is computed from runs (speedups, per-category results, cost-model parts, an early stop) is a new value
    (``dataclasses.replace``), never an assignment."""

    target: str
    draft: str | None
    concurrency: int = 1  # requests in flight at once while it was measured
    aggregate_speedup: float | None = None  # aggregate_tps over the baseline's at the same level
    speedup: float | None = None
    speedup_ci95: list[float] | None = None
    speedup_n: int | None = None  # pairs of requests (paired) or requests (unpaired) behind speedup
    speedup_design: str | None = None  # "paired" (request by request on the same prompts) or "unpaired"
    parts: Parts | None = None  # the cost model's parts and verdict (costmodel.Parts)
    verify_costs: dict[str, float] | None = None  # a baseline's v(k), keyed by k
    draft_alone_tps: float | None = None  # the draft model's own decode tok/s
    draft_ms_per_pass: float | None = None  # drafting time per target pass, measured in-process
    verify_in_loop: dict[str, Any] | None = None  # the setup with synthetic acceptance: verify_ms_per_pass, ...
    position_counts: dict[str, Any] | None = None  # {"passes": verifications, "accepted": [at position 1, 2, ...]}
    output_match: float | None = None
    baseline_checks: list[BaselineCheck] | None = None  # a baseline's later measurements (drift.py)
    drift_factor: float | None = None  # the baseline's speed when this setup ran over its first measurement
    speedup_uncorrected: float | None = None  # the speedup before the drift correction (set when one applied)
    other_cpu_share: float | None = None  # share of all CPUs other processes used while the requests ran
    other_cpu_share_before: float | None = None  # the same, in a short sample before its server started
    gpu_busy_before_pct: float | None = None  # GPU utilisation (nvidia-smi) before its server started
    wall_time_s: float | None = None
    load_time_s: float | None = None
    peak_rss_mb: float | None = None
    peak_vram_mb: float | None = None
    target_path: str | None = None
    target_id: str | None = None  # the target file's identity (gguf_header.identity): size and a hash
    draft_id: str | None = None  # the draft model file's, for setups with one
    speculation: Speculation | None = None
    speculation_flags: list[str] | None = None
    draft_size: str | None = None
    server_command: list[str] | None = None
    server_version: str | None = None
    log_path: str | None = None
    categories: dict[str, dict[str, Any]] | None = None  # per prompt category: requests, tok/s, acceptance, speedup
    pruned: bool = False  # adaptive search stopped it early: its numbers cover n_requests requests
    pruned_as: str | None = None  # "slower" (than pruned_vs) or "tied" (with it, within the resolution)
    pruned_vs: str | None = None  # the setup it was compared with ("baseline" for the target alone)
    pruned_reason: str | None = None
    pruned_interval: list[float] | None = None  # its ratio to pruned_vs, at the search's confidence
    in_progress: bool = False  # adaptive search saved it between two blocks; resume continues it
    error: str | None = None
    log_excerpt: str | None = None
    other: dict[str, Any] = field(default_factory=dict)  # fields of other versions, kept as they were

    @property
    def key(self) -> tuple[str, str | None, int]:
        return (self.target, self.draft, self.concurrency)

    @property
    def baseline_key(self) -> tuple[str, None, int]:
        return (self.target, None, self.concurrency)

    @property
    def done(self) -> bool:
        return self.error is None and self.mean_tps is not None and not self.in_progress

    @property
    def draft_path(self) -> str | None:
        return self.speculation.draft_path if self.speculation else self.other.get("draft_path")

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.other)
        out.update(asdict(self))
        del out["speculation"], out["other"]
        if self.speculation is not None:
            out.update(self.speculation.to_dict())
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        """Any version's run. Without ``spec_type`` (versions 1-2) the setup is unknown: None."""
        known = {f.name for f in fields(cls)} - {"speculation", "other"}
        setup = set(Speculation.field_names()) if "spec_type" in data else set()
        values = {k: v for k, v in data.items() if k in known}
        values["other"] = {k: v for k, v in data.items() if k not in known and k not in setup}
        values.setdefault("draft", None)  # a baseline written without its null draft
        for name in _REQUIRED_VALUE:  # null where a value is declared (concurrency, pruned): the default
            if name in values and values[name] is None:
                del values[name]
        if setup:
            values["speculation"] = Speculation.from_dict(data)
        values["parts"] = Parts.from_dict(values.get("parts"))
        if values.get("baseline_checks") is not None:
            values["baseline_checks"] = [BaselineCheck.from_dict(c) for c in values["baseline_checks"]]
        values["requests"] = [RequestResult.from_dict(q) for q in values.get("requests") or [] if isinstance(q, dict)]
        return cls(**values)


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


_NAMES = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string",
          list: "a list", tuple: "a list", dict: "an object"}


def _expected(hint: Any) -> str:
    parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return " or ".join(_NAMES.get(typing.get_origin(p) or p, "an object") for p in parts)


def _misfit(value: Any, hint: Any) -> tuple[str, str] | None:
    """None when a JSON value fits a field's annotation, else (path below the value, what it must be)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        misses = [_misfit(value, a) for a in args]
        if None in misses:
            return None
        deeper = [m for m in misses if m and m[0]]  # a container that fits but holds a wrong value: say where
        return deeper[0] if deeper else ("", _expected(hint))
    if origin in (list, tuple, dict):
        if not isinstance(value, dict if origin is dict else list):
            return "", _expected(hint)
        inner = (args[-1] if origin is dict else args[0]) if args else Any
        items = value.items() if origin is dict else enumerate(value)
        for k, v in items:
            miss = _misfit(v, inner)
            if miss:
                return (f".{k}" if origin is dict else f"[{k}]") + miss[0], miss[1]
        return None
    if hint is Any:
        fits = True
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, dict) and hint in _NESTED:  # a saved request: its own fields checked too
            return _first_misfit(value, _NESTED[hint])
        fits = isinstance(value, dict)
    elif hint in (int, float):
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) and \
            (hint is float or isinstance(value, int) or value.is_integer())
    else:
        fits = isinstance(value, hint)
    return None if fits else ("", _expected(hint))


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


_REQUIRED_VALUE = tuple(name for name, hint in typing.get_type_hints(RunResult).items()
                        if name not in ("target", "draft") and type(None) not in typing.get_args(hint))

# The JSON types of a file's own fields (what reports and resumes read from it), and of its settings' values.
_META_TYPES: dict[str, Any] = {
    "timestamp": str, "name": str, "hardware": str, "backend": str, "model_family": str, "settings": dict[str, Any],
    "draftbench_version": str, "server_version": str, "setup_sessions": str, "config_path": str,
    "command_line": list[str], "machine": dict[str, Any], "warnings": list[str],
    "per_request_speculation": dict[str, Any], "draft_alone": dict[str, dict[str, Any]],
}

# The JSON types of a run's fields, derived from the dataclasses (the setup's fields sit flat beside them).
_REQUEST_TYPES = {**typing.get_type_hints(RequestResult), "prompt_id": str | int}
_RUN_TYPES = {k: v for k, v in typing.get_type_hints(RunResult).items() if k not in ("speculation", "other")}
_NESTED = {RequestResult: _REQUEST_TYPES, BaselineCheck: typing.get_type_hints(BaselineCheck)}  # dataclasses saved inside a run whose fields are checked as well
_RUN_TYPES.update({"draft_path": str | None, "spec_type": str | None, "extra_args": list[str] | None})


def _settings_types() -> dict[str, Any]:
    return {key: typing.Union[types] for key, types in setting_types().items()}  # type: ignore[valid-type]


def _run_types() -> dict[str, Any]:
    return {**_RUN_TYPES, **{a.name: a.limit.kind | None for a in AXES.values()}}


def load_results(path: str) -> dict[str, Any]:
    """Read any version of a results file; ``results`` entries become RunResult. Raise a clear error
    naming the file for anything missing, truncated or malformed."""
    try:
        text = read_text(path)
    except Unreadable as exc:
        raise ResultsFileError(f"results file not found: {path}" if exc.missing else
                               f"results file {path} {exc.why}") from exc
    if not text.strip():
        raise ResultsFileError(f"results file {path} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"results file {path} is not valid JSON (truncated or corrupt?): "
                               f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ResultsFileError(f"results file {path} has no \"results\" list: is it a draftbench results file?")
    odd = _non_finite(data, "")
    if odd:
        raise ResultsFileError(f"results file {path}: {odd} is not a finite number (NaN or infinity): a measured "
                               "value is a number or null; fix or remove that run")
    wrong = _mistyped(data, _META_TYPES, "") or _mistyped(data.get("settings") or {}, _settings_types(), "settings")
    if wrong:
        raise ResultsFileError(f"results file {path}: {wrong.lstrip('.')}; was the file edited by hand?")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsFileError(f"results file {path} has schema_version {version!r}, newer than this draftbench "
                               f"understands ({SCHEMA_VERSION}): upgrade draftbench")
    runs = []
    for i, item in enumerate(data["results"]):
        if not isinstance(item, dict) or not isinstance(item.get("target"), str):
            raise ResultsFileError(f"results file {path}: results[{i}] has no \"target\" label")
        draft = item.get("draft")
        if draft is not None and not isinstance(draft, str):
            raise ResultsFileError(f"results file {path}: results[{i}].draft must be a label or null")
        wrong = _mistyped(item, _run_types(), f"results[{i}]")
        if wrong:
            raise ResultsFileError(f"results file {path}: {wrong}; fix or remove that run (a results file is JSON "
                                   "written by draftbench: was it edited by hand?)")
        runs.append(RunResult.from_dict(item))
    data = dict(data)
    data["schema_version"] = version
    data["results"] = runs
    return data


def dump_results(meta: dict[str, Any], runs: list[RunResult]) -> dict[str, Any]:
    out = dict(meta)
    out["schema_version"] = SCHEMA_VERSION
    out["results"] = [_round(r.to_dict()) for r in runs]
    return out


def save_results(path: str, meta: dict[str, Any], runs: list[RunResult]) -> None:
    write_json_atomic(path, dump_results(meta, runs))
