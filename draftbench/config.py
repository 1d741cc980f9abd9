"""Sweep configs: parse JSON into frozen dataclasses, reporting every problem at once with its JSON path."""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any

from . import gguf_header
from .redaction import redact
from .errors import ConfigError, ModelFileError

BACKENDS = ("llamacpp", "vllm", "lmstudio")


@dataclass(frozen=True)
class ModelEntry:
    label: str
    path: str
    size: str | None = None


@dataclass(frozen=True)
class SweepSettings:
    """Measurement settings. ``runs`` repeats the prompt set within one server session, so each
    cell measures ``runs * requests`` requests."""

    runs: int = 1
    requests: int = 5
    warmup: int = 1
    max_tokens: int = 512
    temperature: float = 0.0
    gpu_layers: int = 99
    ctx_size: int = 4096
    port: int = 8080
    host: str = "127.0.0.1"
    llama_bin: str | None = None
    draft_max: int | None = None
    draft_min: int | None = None
    draft_p_min: float | None = None
    extra_args: tuple[str, ...] = ()
    ready_timeout_s: float = 600.0
    request_timeout_s: float = 300.0
    seed: int = 0

    def comparable(self) -> dict[str, Any]:
        """The settings that change measured numbers: resuming with different ones would mix them."""
        keep = ("runs", "requests", "warmup", "max_tokens", "temperature", "gpu_layers", "ctx_size",
                "draft_max", "draft_min", "draft_p_min", "extra_args", "seed")
        return {k: v for k, v in self.to_dict().items() if k in keep}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; secrets in ``extra_args`` are redacted."""
        out = self._raw()
        out["extra_args"] = redact(out["extra_args"])
        return out

    def _raw(self) -> dict[str, Any]:
        return {f.name: (list(getattr(self, f.name)) if isinstance(getattr(self, f.name), tuple)
                         else getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class SweepConfig:
    name: str
    hardware: str
    backend: str
    model_family: str
    targets: tuple[ModelEntry, ...]
    drafts: tuple[ModelEntry, ...]
    settings: SweepSettings = field(default_factory=SweepSettings)
    source: str = "<config>"

    @property
    def run_count(self) -> int:
        return len(self.targets) * (1 + len(self.drafts))


_TOP = {"name": str, "hardware": str, "backend": str, "model_family": str, "targets": list, "drafts": list,
        "settings": dict, "description": str}
_ENTRY = {"label": str, "path": str, "size": str}
_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "runs": (int,), "requests": (int,), "warmup": (int,), "max_tokens": (int,), "temperature": (int, float),
    "gpu_layers": (int,), "ctx_size": (int,), "port": (int,), "host": (str,), "llama_bin": (str,),
    "draft_max": (int,), "draft_min": (int,), "draft_p_min": (int, float), "extra_args": (list,),
    "ready_timeout_s": (int, float), "request_timeout_s": (int, float), "seed": (int,),
}
_MINIMUM = {"runs": 1, "requests": 1, "warmup": 0, "max_tokens": 1, "gpu_layers": -1, "ctx_size": 64, "port": 0,
            "draft_max": 1, "draft_min": 0, "ready_timeout_s": 1, "request_timeout_s": 1, "temperature": 0}


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join({int: "integer", float: "number", str: "string", list: "list", dict: "object"}[t]
                       for t in types)


def _is(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


def _unknown(key: str, allowed, where: str) -> str:
    hint = difflib.get_close_matches(key, list(allowed), n=1)
    return f"{where}{key}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else
                                           f" (allowed: {', '.join(sorted(allowed))})")


def _entries(raw: Any, where: str, base_dir: str, check_files: bool, problems: list[str]) -> list[ModelEntry]:
    if not isinstance(raw, list):
        problems.append(f"{where}: must be a list of {{\"label\", \"path\"}} objects")
        return []
    out, seen = [], {}
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: must be an object with \"label\" and \"path\"")
            continue
        for key in item:
            if key not in _ENTRY:
                problems.append(_unknown(key, _ENTRY, f"{at}."))
        bad = False
        for key in ("label", "path"):
            if key not in item:
                problems.append(f"{at}.{key}: missing")
                bad = True
            elif not isinstance(item[key], str) or not item[key].strip():
                problems.append(f"{at}.{key}: must be a non-empty string")
                bad = True
        if "size" in item and not isinstance(item["size"], str):
            problems.append(f"{at}.size: must be a string such as \"3B\"")
        if bad:
            continue
        label = item["label"]
        if label in seen:
            problems.append(f"{at}.label: duplicate label {label!r} (also {where}[{seen[label]}]); labels must be unique")
        seen[label] = i
        path = os.path.join(base_dir, os.path.expanduser(item["path"]))
        if check_files:
            try:
                gguf_header.check_gguf(path, "model")
            except ModelFileError as exc:
                problems.append(f"{at}.path: {exc}")
        size = item.get("size") if isinstance(item.get("size"), str) else None
        out.append(ModelEntry(label, path, size))
    return out


def _settings(raw: Any, problems: list[str]) -> SweepSettings:
    if raw is None:
        return SweepSettings()
    if not isinstance(raw, dict):
        problems.append("settings: must be an object")
        return SweepSettings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SETTING_TYPES:
            problems.append(_unknown(key, _SETTING_TYPES, "settings."))
            continue
        if value is None and key in ("llama_bin", "draft_max", "draft_min", "draft_p_min"):
            continue
        types = _SETTING_TYPES[key]
        if not _is(value, types):
            problems.append(f"settings.{key}: must be {_type_name(types)}, got {json.dumps(value)}")
            continue
        if key in _MINIMUM and value < _MINIMUM[key]:
            problems.append(f"settings.{key}: must be at least {_MINIMUM[key]}, got {value}")
            continue
        if key == "port" and value > 65535:
            problems.append(f"settings.port: must be at most 65535 (0 picks a free port), got {value}")
            continue
        if key == "extra_args":
            if not all(isinstance(a, str) for a in value):
                problems.append("settings.extra_args: must be a list of strings")
                continue
            value = tuple(value)
        if key == "draft_p_min" and not 0 <= value <= 1:
            problems.append(f"settings.draft_p_min: must be between 0 and 1, got {value}")
            continue
        if key in ("temperature", "draft_p_min", "ready_timeout_s", "request_timeout_s"):
            value = float(value)
        values[key] = value
    return SweepSettings(**values)


def parse_config(data: Any, source: str = "<config>", base_dir: str = ".", check_files: bool = True) -> SweepConfig:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(source, ["the top level must be a JSON object"])
    for key in data:
        if key not in _TOP:
            problems.append(_unknown(key, _TOP, ""))
    for key in ("name", "targets"):
        if key not in data:
            problems.append(f"{key}: missing (required)")
    for key in ("name", "hardware", "backend", "model_family"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key}: must be a string")
    name = data.get("name") if isinstance(data.get("name"), str) else ""
    if "name" in data and isinstance(data["name"], str) and not name.strip():
        problems.append("name: must not be empty (it names the results file)")
    backend = data.get("backend", "llamacpp")
    if isinstance(backend, str) and backend not in BACKENDS:
        hint = difflib.get_close_matches(backend, BACKENDS, n=1)
        problems.append(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}"
                        + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if backend == "lmstudio":
        problems.append("backend: 'lmstudio' sweeps are not supported (LM Studio picks drafts per request and "
                        "is managed by lms): start it with 'server.py lm-studio' and measure with bench.py")
    check = check_files and backend != "vllm"  # vLLM takes hub ids as well as paths
    targets = _entries(data.get("targets", []), "targets", base_dir, check, problems) if "targets" in data else []
    if "targets" in data and isinstance(data["targets"], list) and not data["targets"]:
        problems.append("targets: must list at least one target model")
    drafts = _entries(data.get("drafts", []), "drafts", base_dir, check, problems)
    settings = _settings(data.get("settings"), problems)
    if problems:
        raise ConfigError(source, problems)
    hardware = data.get("hardware") or "auto"
    return SweepConfig(name=name, hardware=hardware, backend=backend,
                       model_family=data.get("model_family") or name, targets=tuple(targets),
                       drafts=tuple(drafts), settings=settings, source=source)


def load_config(path: str, check_files: bool = True) -> SweepConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, [f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]) from exc
    return parse_config(data, path, os.path.dirname(os.path.abspath(path)), check_files)
