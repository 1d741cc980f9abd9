"""Sweep configs: parse JSON into frozen dataclasses, reporting every problem at once with its JSON path."""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

from ..core import files, gguf_header
from ..errors import ConfigError, ModelFileError
from . import prompt_files
from .backend import BACKENDS, LLAMACPP, Backend
from .consistency import replayable, together, too_many
from .context import Contexts, load_contexts
from .prompts import BUILTIN, Prompt, fingerprint
from .settings import SweepSettings, parse_settings, unknown_key
from .speculation import (
    AXES,
    DRAFT_FAMILY,
    TARGET_HEADS,
    Setup,
    Speculation,
    axis_problem,
    expand,
    managed_problem,
    parse_types,
    type_family,
)


@dataclass(frozen=True)
class ModelEntry:
    label: str
    path: str
    size: str | None = None


@dataclass(frozen=True)
class SweepConfig:
    name: str
    hardware: str
    backend: Backend
    model_family: str
    targets: tuple[ModelEntry, ...]
    setups: tuple[Setup, ...]  # draft entries, axes expanded; the baseline is implicit
    settings: SweepSettings = field(default_factory=SweepSettings)
    axes: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # "*" (top level) and per entry label
    source: str = "<config>"
    prompts: tuple[Prompt, ...] = BUILTIN  # settings.prompts loaded, narrowed to settings.categories
    contexts: Contexts = Contexts()  # settings.context_file's documents, for context depth

    def comparable(self) -> dict[str, Any]:
        """Settings, prompts and axes: a finished sweep resumed with other ones would mix incomparable numbers."""
        return self._with_sets(self.settings.comparable())

    def settings_record(self) -> dict[str, Any]:
        """The ``settings`` object written to results files."""
        return self._with_sets(self.settings.to_dict())

    def _with_sets(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {
            **settings,
            "prompts_hash": fingerprint(self.prompts),
            **({"axes": self.axes} if self.axes else {}),
            **({"contexts_hash": self.contexts.fingerprint()} if self.contexts.documents else {}),
        }

    def input_files(self) -> list[tuple[str, str]]:
        """What the sweep reads and must never write over: the config, its prompt and context files, the models."""
        s, base = self.settings, os.path.dirname(os.path.abspath(self.source))
        named = (("settings.prompts", s.prompts if s.prompts != "builtin" else None), ("settings.context_file", s.context_file))
        found = [("--config", self.source)] + [(k, os.path.join(base, os.path.expanduser(v))) for k, v in named if v]
        models = [t.path for t in self.targets] + [s.speculation.draft_path for s in self.setups]
        return found + [("the model file", p) for p in dict.fromkeys(models) if p and os.path.exists(p)]

    def with_search(self, search: str) -> "SweepConfig":
        """The config with another search (``--adaptive``), checked like one that said so."""
        cfg = replace(self, settings=replace(self.settings, search=search))
        problems = together(cfg.settings, list(cfg.setups), {})
        if problems:
            raise ConfigError(self.source, [p + " (--adaptive)" for p in problems])
        return cfg


_TOP = {
    "name": str,
    "hardware": str,
    "backend": str,
    "model_family": str,
    "targets": list,
    "drafts": list,
    "settings": dict,
    "description": str,
    "axes": dict,
}
_TARGET = {"label": str, "path": str, "size": str}
_DRAFT = {"label": str, "path": str, "size": str, "spec_type": str, "extra_args": list, "axes": dict}  # and the axes


def _labelled(item: Any, at: str, allowed: dict, need_path: bool, problems: list[str]) -> bool:
    """Common checks of a target or draft entry; False when it cannot be used at all."""
    if not isinstance(item, dict):
        problems.append(f'{at}: must be an object with "label" and "path"')
        return False
    for key in item:
        if key not in allowed:
            problems.append(unknown_key(key, allowed, f"{at}."))
    ok = True
    for key in ("label", "path") if need_path else ("label",):
        if key not in item:
            problems.append(f"{at}.{key}: missing")
            ok = False
    for key in ("label", "path"):
        if key in item and (not isinstance(item[key], str) or not item[key].strip()):
            problems.append(f"{at}.{key}: must be a non-empty string")
            ok = False
    if "size" in item and not isinstance(item["size"], str):
        problems.append(f'{at}.size: must be a string such as "3B"')
    return ok


def _model_path(raw: str, at: str, base_dir: str, check_files: bool, problems: list[str]) -> str:
    path = os.path.join(base_dir, os.path.expanduser(raw))
    if check_files:
        try:
            gguf_header.check_gguf(path, "model")
        except ModelFileError as exc:
            problems.append(f"{at}.path: {exc}")
    return path


def _check_unique(labels: list[tuple[str, str]], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for label, at in labels:
        if label in seen:
            problems.append(f"{at}.label: duplicate label {label!r} (also {seen[label]}); labels must be unique")
        else:
            seen[label] = at


def _targets(raw: Any, base_dir: str, check_files: bool, problems: list[str]) -> list[ModelEntry]:
    if not isinstance(raw, list):
        problems.append('targets: must be a list of {"label", "path"} objects')
        return []
    out, labels = [], []
    for i, item in enumerate(raw):
        at = f"targets[{i}]"
        if _labelled(item, at, _TARGET, True, problems):
            size = item.get("size") if isinstance(item.get("size"), str) else None
            out.append(ModelEntry(item["label"], _model_path(item["path"], at, base_dir, check_files, problems), size))
            labels.append((item["label"], at))
    _check_unique(labels, problems)
    return out


def _axes(raw: Any, at: str, problems: list[str]) -> dict[str, list[Any]]:
    """``{"draft_max": [1, 2], "draft_p_min": [0, 0.7]}``, every value checked."""
    if not isinstance(raw, dict):
        problems.append(f'{at}: must be an object such as {{"draft_max": [1, 2, 3]}}')
        return {}
    out = {}
    for name, values in raw.items():
        if name not in AXES:
            full = {a.short: a.name for a in AXES.values()}.get(name)  # 'n_max', as labels say
            problems.append(f"{at}.{name}: unknown key (did you mean {full!r}?)" if full else unknown_key(name, AXES, f"{at}."))
            continue
        if not isinstance(values, list) or not values:
            problems.append(f"{at}.{name}: must be a non-empty list of values")
            continue
        bad = [(j, why) for j, v in enumerate(values) if (why := axis_problem(name, v))]
        for j, why in bad:
            problems.append(f"{at}.{name}[{j}]: {why}")
        if len(set(values)) != len(values):
            problems.append(f"{at}.{name}: lists a value twice")
        if not bad:
            out[name] = values
    return out


def _spec_types(item: dict, at: str, problems: list[str]) -> tuple[str, ...]:
    raw = item.get("spec_type")
    if raw is None:
        return ()
    types = parse_types(raw) if isinstance(raw, str) else ()
    if not types:
        problems.append(
            f'{at}.spec_type: must be a string of comma-separated types such as "ngram-mod" or "draft-simple,ngram-mod"'
        )
    elif "none" in types:
        problems.append(f"{at}.spec_type: 'none' is the baseline, which every target gets anyway: remove this entry")
    elif "path" in item and not any(type_family(t) == DRAFT_FAMILY for t in types):
        problems.append(
            f'{at}.spec_type: {raw!r} does not use the draft model in "path": add a draft type '
            f'("draft-simple,{raw}") or remove "path" for model-free speculation'
        )
    elif "path" not in item and any(type_family(t) == DRAFT_FAMILY and t != TARGET_HEADS for t in types):
        problems.append(
            f'{at}.spec_type: {raw!r} needs a draft model: add "path" (only {TARGET_HEADS} can draft '
            "with the target's own heads)"
        )
    return types


def _extra_args(extra: Any, at: str, problems: list[str]) -> list[str]:
    """An entry's pass-through arguments: strings, none of them a flag draftbench sets itself."""
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        problems.append(f"{at}.extra_args: must be a list of strings")
        return []
    if managed_problem(extra):
        problems.append(f"{at}.extra_args: {managed_problem(extra)}")
    return extra


def _drafts(
    raw: Any, top_axes: dict[str, list[Any]], settings: SweepSettings, base_dir: str, check_files: bool, problems: list[str]
) -> tuple[list[Setup], dict[str, dict[str, list[Any]]]]:
    """Draft entries, each expanded over its axes. Top-level axes and ``settings.draft_*`` apply to
    entries that draft with a model (a draft model, or the target's own MTP heads) and to fields the entry
    does not set itself; a model-free entry sets its own."""
    if not isinstance(raw, list):
        problems.append('drafts: must be a list of {"label", "path"} or {"label", "spec_type"} objects')
        return [], {}
    out: list[Setup] = []
    labels: list[tuple[str, str]] = []
    entry_axes: dict[str, dict[str, list[Any]]] = {}
    for i, item in enumerate(raw):
        at = f"drafts[{i}]"
        if not _labelled(item, at, {**_DRAFT, **AXES}, False, problems):
            continue
        if "path" not in item and "spec_type" not in item:
            problems.append(
                f'{at}: needs "path" (a draft model) or "spec_type" (such as "ngram-mod" for speculation without a draft model)'
            )
            continue
        types = _spec_types(item, at, problems)
        own = {}
        for name in AXES:
            if name in item:
                why = axis_problem(name, item[name])
                if why:
                    problems.append(f"{at}.{name}: {why}")
                else:
                    own[name] = AXES[name].value(item[name])
        extra = _extra_args(item.get("extra_args", []), at, problems)
        mine = _axes(item["axes"], f"{at}.axes", problems) if "axes" in item else {}
        for name in set(mine) & set(own):
            problems.append(f"{at}: {name} is both set and an axis: keep one")
        if mine:
            entry_axes[item["label"]] = mine
        path = _model_path(item["path"], at, base_dir, check_files, problems) if "path" in item else None
        fixed, axes = dict(own), dict(mine)
        if path or TARGET_HEADS in types:
            fixed = {**dict(settings.axis_defaults), **own}
            axes = {**{n: v for n, v in top_axes.items() if n not in own}, **mine}
        spec = Speculation(path, types, extra_args=tuple(extra)).with_axes(fixed)
        size = item.get("size") if isinstance(item.get("size"), str) else None
        why = too_many(axes, len(out))  # refused before it is built: 10 x 100 x 100 x 100 would fill the memory
        if why:
            problems.append(f"{at}: {why}")
            continue
        for setup in expand(Setup(item["label"], spec, size), axes):
            out.append(setup)
            labels.append((setup.label or "", at))
    _check_unique(labels, problems)
    return out, entry_axes


def parse_config(data: Any, source: str = "<config>", base_dir: str = ".", check_files: bool = True) -> SweepConfig:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(source, ["the top level must be a JSON object"])
    for key in data:
        if key not in _TOP:
            problems.append(unknown_key(key, _TOP, ""))
    for key in ("name", "targets"):
        if key not in data:
            problems.append(f"{key}: missing (required)")
    for key in ("name", "hardware", "backend", "model_family"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key}: must be a string")
    name: str = data["name"] if isinstance(data.get("name"), str) else ""
    if "name" in data and isinstance(data["name"], str) and not name.strip():
        problems.append("name: must not be empty (it names the results file)")
    name_of_backend = data.get("backend", LLAMACPP.name)
    backend = BACKENDS.get(name_of_backend) if isinstance(name_of_backend, str) else None
    if isinstance(name_of_backend, str) and backend is None:
        hint = difflib.get_close_matches(name_of_backend, BACKENDS, n=1)
        problems.append(
            f"backend: {name_of_backend!r} is not one of {', '.join(BACKENDS)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
        )
    if backend is not None and not backend.sweeps:
        problems.append(f"backend: {backend.name!r} sweeps are not supported ({backend.why_no_sweep})")
    backend = backend or LLAMACPP
    check = check_files and backend.local_files  # other backends take hub ids as well as paths
    targets = _targets(data["targets"], base_dir, check, problems) if "targets" in data else []
    if "targets" in data and isinstance(data["targets"], list) and not data["targets"]:
        problems.append("targets: must list at least one target model")
    settings = parse_settings(data.get("settings"), problems)
    top_axes = _axes(data["axes"], "axes", problems) if "axes" in data else {}
    setups, entry_axes = _drafts(data.get("drafts", []), top_axes, settings, base_dir, check, problems)
    suite: tuple[Prompt, ...] = ()
    try:
        replay = settings.conversation == "replay"
        suite = prompt_files.load(settings.prompts, base_dir, settings.categories, "settings.prompts", replay)
    except ConfigError as exc:
        problems.extend(exc.problems)
    contexts = load_contexts(settings.context_file, base_dir, problems) if settings.context_file else Contexts()
    problems += [] if problems else together(settings, setups, top_axes) + replayable(settings, suite)
    if problems:
        raise ConfigError(source, problems)
    hardware = data.get("hardware") or "auto"
    axes = {**({"*": top_axes} if top_axes else {}), **entry_axes}
    return SweepConfig(
        name=name,
        hardware=hardware,
        backend=backend,
        model_family=str(data.get("model_family") or name),
        targets=tuple(targets),
        setups=tuple(setups),
        settings=settings,
        axes=axes,
        source=source,
        prompts=suite,
        contexts=contexts,
    )


def load_config(path: str, check_files: bool = True) -> SweepConfig:
    try:
        text = files.read_text(path)
    except files.Unreadable as exc:
        raise ConfigError(path, [f"the config file {exc.why}"]) from exc
    try:
        data = files.parse_json(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, [f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]) from exc
    return parse_config(data, path, os.path.dirname(os.path.abspath(path)), check_files)
