"""Measurement settings: the typed value (flat in JSON: how requests are measured, the adaptive search,
concurrency levels, prompts, and the server options) and its parser, which reports every problem at once."""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

from ..core import jsontypes, limits
from ..core.redaction import redact
from .levels import LEVELS, Level
from .speculation import AXES, managed_problem


@dataclass(frozen=True)
class ServerOptions:
    """How to run a server, whatever it speculates with (shared by sweeps and server.py)."""

    host: str = "127.0.0.1"
    port: int = 8080
    gpu_layers: int = 99
    ctx_size: int = 4096
    llama_bin: str | None = None
    extra_args: tuple[str, ...] = ()
    ready_timeout_s: float = 600.0


@dataclass(frozen=True)
class SweepSettings:
    """Measurement settings. ``runs`` repeats the prompt set within one server session, so each
    cell measures ``runs * requests`` requests. ``draft_*`` are the defaults of every draft-model
    setup; ``server`` holds how servers run. In JSON all of them are one flat object."""

    runs: int = 1
    requests: int = 5
    warmup: int = 1
    max_tokens: int = 512
    temperature: tuple[float, ...] = (0.0,)  # levels: sampling temperatures, each measured as its own cells
    request_timeout_s: float = 300.0
    seed: int = 0
    cost_model: bool = True  # measure the cost model's parts: v(k) per target, a short draft-alone run per draft
    search: str = "exhaustive"  # or "adaptive": stop a setup once the data say it cannot be the best
    block: int = 3  # adaptive search: requests between two looks at a setup
    resolution: float = 0.05  # adaptive search: setups closer than this (in speedup) are tied; drift worth a word
    baseline_every: int = 4  # each target's baseline again (one block) after this many setups, when the load changes,
    # and after its last setup (0: never)
    concurrency: tuple[int, ...] = (1,)  # levels: requests in flight at once, each measured as its own cell
    depth: tuple[int, ...] = (0,)  # levels: tokens of context before each prompt (setup/context.py)
    request_rate: tuple[float, ...] = ()  # levels: requests arriving per second, open loop (measure/loop.py); () closed
    arrival: str = "poisson"  # or "constant": the gaps between arrivals at a request rate (drawn from the seed)
    slo: tuple[tuple[str, float], ...] = ()  # latency targets (ttft_s, tpot_s, e2e_s) and their percentile (results/traffic.py)
    prompts: str = "builtin"  # the built-in suite, or a prompt file (JSONL, Spec-Bench, ShareGPT, plain text)
    context_file: str | None = None  # the user's documents for context depth (setup/context.py); None: the package's
    categories: tuple[str, ...] = ()  # only these categories of the prompt set (all when empty)
    endpoint: str = "chat"  # or "completion": raw text, no chat template (llama.cpp /completion, else /v1/completions)
    conversation: str = "first-turn"  # or "replay": each conversation turn by turn, the prompt cache on (measure/replay.py)
    warm_pool: int = 0  # stateful n-gram setups also measured after this many requests of other prompts (0: never)
    shards: int = 1  # a Kubernetes Indexed Job's completions: the shard count beside JOB_COMPLETION_INDEX
    memory_budget_mib: float | None = None  # setups whose server needs more are measured, never recommended
    check_distribution: bool = False  # at temperature > 0: sample short continuations, test them against the baseline's
    axis_defaults: tuple[tuple[str, Any], ...] = ()  # flat in JSON ("draft_max": 3): every draft-model setup's
    server: ServerOptions = field(default_factory=ServerOptions)

    def levels(self) -> list[Level]:
        """Every level of the sweep, in measuring order; a level setting with one value stays out of the level
        (temperature None: the sweep's one temperature, as files before version 9 say it)."""
        temps: tuple[float | None, ...] = self.temperature if len(self.temperature) > 1 else (None,)
        depths: tuple[int | None, ...] = self.depth if self.depth != (0,) else (None,)
        rates: tuple[float | None, ...] = self.request_rate or (None,)
        return [Level(n, t, d, r) for n in self.concurrency for t in temps for d in depths for r in rates]

    def temperature_at(self, level: Level) -> float:
        return self.temperature[0] if level.temperature is None else level.temperature

    def comparable(self) -> dict[str, Any]:
        """The settings that change measured numbers: resuming with different ones would mix them."""
        keep = (
            "runs",
            "requests",
            "warmup",
            "max_tokens",
            "temperature",
            "gpu_layers",
            "ctx_size",
            *AXES,
            "extra_args",
            "seed",
            "endpoint",
            "conversation",
            "arrival",
        )
        return {k: v for k, v in self.to_dict().items() if k in keep}

    def to_dict(self) -> dict[str, Any]:
        """Plain flat JSON values; secrets in ``extra_args`` are redacted."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("server", "axis_defaults")}
        out["temperature"] = list(self.temperature) if len(self.temperature) > 1 else self.temperature[0]
        out["depth"] = list(self.depth) if len(self.depth) > 1 else self.depth[0]
        out["request_rate"] = list(self.request_rate)
        out["slo"] = dict(self.slo)
        out.update({name: dict(self.axis_defaults).get(name) for name in AXES}, **asdict(self.server))
        out["extra_args"] = redact(list(out["extra_args"]))
        return out


_SERVER_KEYS = {f.name for f in fields(ServerOptions)}


def _json_hint(hint: Any) -> Any:
    """The JSON a setting declared as ``hint`` takes: its one kind (``str | None``: a string; a tuple: a list)."""
    kinds = (
        [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else [hint]
    )
    return kinds[0]


# Each setting's JSON type, from the dataclasses' declarations; a level: one value or a list of them.
_SETTING_TYPES = {
    **{
        name: _json_hint(hint)
        for cls in (SweepSettings, ServerOptions)
        for name, hint in typing.get_type_hints(cls).items()
        if name not in ("server", "axis_defaults")
    },
    **{name: a.limit.kind | (str if a.aliases else a.limit.kind) | list for name, a in LEVELS.items()},
    "slo": dict,
}


def setting_types() -> dict[str, Any]:
    """Every settings key and the JSON type it takes, as an annotation (the axes' from their table)."""
    return {**_SETTING_TYPES, **{a.name: a.limit.kind for a in AXES.values()}}


SEARCHES = ("exhaustive", "adaptive", "model")
ENDPOINTS = ("chat", "completion")
CONVERSATIONS = ("first-turn", "replay")


def unknown_key(key: str, allowed, where: str) -> str:
    hint = difflib.get_close_matches(key, list(allowed), n=1)
    return f"{where}{key}: unknown key" + (
        f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
    )


def _levels(name: str) -> Callable[[Any], tuple[Any, str | None]]:
    """A level's check: one value or a list of different ones, each within the level's bounds."""
    axis = LEVELS[name]

    def check(value: Any) -> tuple[Any, str | None]:
        values = [
            dict(axis.aliases).get(v, v) if isinstance(v, str) else v for v in (value if isinstance(value, list) else [value])
        ]
        if values and not any(axis.limit.problem(v) for v in values) and len(set(values)) == len(values):
            return tuple(sorted((axis.limit.kind(v) for v in values), key=axis.order)), None
        low, high = limits.show(axis.limit.low), limits.show(axis.limit.high)
        kind = "an integer" if axis.limit.kind is int else "a number"
        return value, (
            f"must be {kind} from {low} to {high} or a list of different ones such as {axis.example}, got {json.dumps(value)}"
        )

    return check


SLO_TARGETS = {"ttft_s": "time to first token", "tpot_s": "time per output token after the first", "e2e_s": "end to end"}


def slo_check(value: Any) -> tuple[Any, str | None]:
    """``{"ttft_s": 0.5, "tpot_s": 0.1, "percentile": 90}``: targets in seconds, met at the percentile (default 90)."""
    fix = 'must be an object of latency targets in seconds such as {"ttft_s": 0.5, "tpot_s": 0.1, "percentile": 90}'
    if not isinstance(value, dict) or not value or not set(value) - {"percentile"}:
        return value, f"{fix}, got {json.dumps(value)}"
    unknown = [k for k in value if k not in SLO_TARGETS and k != "percentile"]
    if unknown:
        return value, f"{unknown[0]!r} is not a target: use {', '.join(SLO_TARGETS)} ({fix})"
    for k, v in value.items():
        low, high = (50, 99.9) if k == "percentile" else (0.0, 3600.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not low < v <= high:
            return value, f"{k} must be a number above {low:g} and at most {high:g}, got {json.dumps(v)}"
    return tuple(sorted((k, float(v)) for k, v in value.items())), None


def _choice(allowed: dict[str, str]) -> Callable[[Any], tuple[Any, str | None]]:
    return lambda v: (
        v,
        None
        if v in allowed
        else "must be " + " or ".join(f"{json.dumps(k)} ({why})" for k, why in allowed.items()) + f", got {json.dumps(v)}",
    )


# Checks beyond type and bounds: the value to keep and what is wrong with it (None: nothing).
_CHECKS: dict[str, Callable[[Any], tuple[Any, str | None]]] = {
    "host": lambda v: (v, limits.host_problem(v)),
    "extra_args": lambda v: (
        tuple(v),
        "must be a list of strings" if not all(isinstance(a, str) for a in v) else managed_problem(v),
    ),
    **{name: _levels(name) for name in LEVELS},
    "categories": lambda v: (
        tuple(v),
        None
        if v and all(isinstance(c, str) and c.strip() for c in v)
        else f'must be a non-empty list of category names such as ["code", "math"], got {json.dumps(v)}',
    ),
    "search": _choice(
        {
            s: why
            for s, why in zip(
                SEARCHES,
                (
                    "every setup measured in full",
                    "stop setups that cannot win",
                    "predict setups with the cost model, measure the contenders",
                ),
            )
        }
    ),
    "endpoint": _choice(
        {
            e: why
            for e, why in zip(
                ENDPOINTS, ("the server applies the model's chat template", "the prompt's text as it is, for base models")
            )
        }
    ),
    "arrival": _choice({"poisson": "random gaps, as independent users send", "constant": "one gap, 1/rate"}),
    "slo": lambda v: slo_check(v),
    "conversation": _choice(
        {
            c: why
            for c, why in zip(
                CONVERSATIONS,
                (
                    "one request per prompt: a conversation's first turn, the prompt cache off",
                    "each conversation turn by turn in one slot, the prompt cache on, like a chat client",
                ),
            )
        }
    ),
    "resolution": lambda v: (
        float(v),
        None if 0 < v < 1 else f"must be a fraction of speedup between 0 and 1 (0.05 is 5%), got {v}",
    ),
}


def _setting(key: str, value: Any, hint: Any) -> tuple[Any, str | None]:
    """One setting's value as kept, and what is wrong with it (None: nothing)."""
    if jsontypes.misfit(value, hint) is not None or (hint is int and isinstance(value, float)):  # a config: 3, not 3.0
        return value, f"must be {jsontypes.expected(hint)}, got {json.dumps(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return value, f"must be a finite number, got {json.dumps(value)}"
    limit = AXES[key].limit if key in AXES else limits.LIMITS.get(key) if key not in LEVELS else None
    why = limit.problem(value) if limit else None
    if why or key in _CHECKS:
        return (value, why) if why else _CHECKS[key](value)
    if key in AXES:
        return AXES[key].value(value), None
    return (float(value) if hint is float else value), None


def parse_settings(raw: Any, problems: list[str]) -> SweepSettings:
    if raw is None or not isinstance(raw, dict):
        problems.extend([] if raw is None else ["settings: must be an object"])
        return SweepSettings()
    values: dict[str, Any] = {}
    known = setting_types()
    for key, value in raw.items():
        if key not in known:
            problems.append(unknown_key(key, known, "settings."))
        elif value is not None or key not in ("llama_bin", *AXES):
            value, why = _setting(key, value, known[key])
            if why:
                problems.append(f"settings.{key}: {why}")
            else:
                values[key] = value
    server = ServerOptions(**{k: values.pop(k) for k in list(values) if k in _SERVER_KEYS})
    axis_defaults = tuple((k, values.pop(k)) for k in AXES if k in values)
    return SweepSettings(server=server, axis_defaults=axis_defaults, **values)
