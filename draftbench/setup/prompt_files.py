"""Your own prompts from a file, in the shapes people already have:

- JSONL, one object per line: ``{"prompt": "..."}`` or ``{"messages": [{"role": ..., "content": ...}]}``,
  with optional ``"category"`` and ``"id"``;
- Spec-Bench's ``question.jsonl``: ``question_id``, ``category``, ``turns`` (the first turn is sent);
- ShareGPT-style JSON: a list of ``{"conversations": [{"from": "human", "value": ...}, ...]}`` (the first
  human turn is sent);
- plain text: prompts separated by blank lines.

Every problem is reported with the file and line, all at once (:class:`PromptFileError`)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

from ..core import files
from ..errors import ConfigError
from .prompts import BUILTIN, Prompt, select

BUILTIN_NAME = "builtin"
DEFAULT_CATEGORY = "custom"


class PromptFileError(ConfigError):
    """A prompt file that cannot be used: every problem with its line."""


def _from_object(obj: Any, where: str, n: int, problems: list[str]) -> Prompt | None:
    """A prompt of a JSON object, with its optional ``context`` (the document it is asked about, sent before it
    when the sweep measures at a context depth)."""
    prompt = _prompt_of(obj, where, n, problems)
    context = obj.get("context", "") if prompt is not None else ""
    if not isinstance(context, str):
        problems.append(f'{where}: "context" must be a string: the document the prompt is asked about')
        return None
    return replace(prompt, context=context.strip()) if prompt is not None and context.strip() else prompt


def _prompt_of(obj: Any, where: str, n: int, problems: list[str]) -> Prompt | None:
    if not isinstance(obj, dict):
        problems.append(f'{where}: expected a JSON object with "prompt", "messages" or "turns"')
        return None
    category = obj.get("category", DEFAULT_CATEGORY)
    if not isinstance(category, str) or not category.strip():
        problems.append(f'{where}: "category" must be a non-empty string')
        return None
    pid = str(obj.get("id", obj.get("question_id", f"{category}-{n}")))
    if "prompt" in obj:
        text = obj["prompt"]
        if not isinstance(text, str) or not text.strip():
            problems.append(f'{where}: "prompt" is empty or not a string')
            return None
        return Prompt(pid, category, text)
    if "turns" in obj:  # Spec-Bench
        turns = obj["turns"]
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], str) or not turns[0].strip():
            problems.append(f'{where}: "turns" must be a list whose first turn is a non-empty string')
            return None
        return Prompt(pid, category, turns[0])
    if "messages" in obj:
        msgs = obj["messages"]
        ok = (
            isinstance(msgs, list)
            and msgs
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs)
        )
        if not ok or not any(m["role"] == "user" and m["content"].strip() for m in msgs):
            problems.append(f'{where}: "messages" must be a list of {{"role", "content"}} strings with a non-empty user message')
            return None
        pairs = tuple((m["role"], m["content"]) for m in msgs)
        return Prompt(pid, category, next(c for r, c in pairs if r == "user"), pairs)
    problems.append(f'{where}: no prompt: expected a "prompt", "messages" or "turns" field')
    return None


def _sharegpt(data: list, path: str, problems: list[str]) -> list[Prompt]:
    out = []
    for i, item in enumerate(data):
        where = f"{path}: item {i + 1}"
        conv = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(conv, list):
            problems.append(f'{where}: expected {{"conversations": [{{"from", "value"}}, ...]}}')
            continue
        first = next((t.get("value") for t in conv if isinstance(t, dict) and t.get("from") in ("human", "user")), None)
        if not isinstance(first, str) or not first.strip():
            problems.append(f"{where}: no human turn with text")
            continue
        category = item.get("category") if isinstance(item.get("category"), str) else DEFAULT_CATEGORY
        out.append(Prompt(str(item.get("id", f"sharegpt-{i + 1}")), category, first))
    return out


def _jsonl(text: str, path: str, problems: list[str]) -> list[Prompt]:
    out: list[Prompt] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = files.parse_json(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc.msg}, column {exc.colno})")
            continue
        prompt = _from_object(obj, where, len(out) + 1, problems)
        if prompt is not None:
            out.append(prompt)
    return out


def _plain(text: str) -> list[Prompt]:
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    return [Prompt(f"{DEFAULT_CATEGORY}-{i + 1}", DEFAULT_CATEGORY, b) for i, b in enumerate(b for b in blocks if b)]


def parse(text: str, path: str) -> tuple[Prompt, ...]:
    """Prompts from a file's text, its shape recognised from the content."""
    problems: list[str] = []
    stripped = text.lstrip()
    prompts: list[Prompt]
    if stripped.startswith("["):
        try:
            data = files.parse_json(text)
        except json.JSONDecodeError as exc:
            raise PromptFileError(path, [f"{path}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"]) from exc
        prompts = _sharegpt(data, path, problems)
    elif stripped.startswith("{"):
        prompts = _jsonl(text, path, problems)
    else:
        prompts = _plain(text)
    if not prompts and not problems:
        problems.append(f"{path}: no prompts found (JSONL, Spec-Bench, ShareGPT JSON or text with blank lines between prompts)")
    ids = [p.id for p in prompts]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{path}: id {dup!r} is used twice: ids must be unique")
    if problems:
        raise PromptFileError(path, problems)
    return tuple(prompts)


def load(source: str, base_dir: str = ".", categories: tuple[str, ...] = (), what: str = "prompts") -> tuple[Prompt, ...]:
    """``"builtin"`` or a file (relative to ``base_dir``), narrowed to ``categories``."""
    if source == BUILTIN_NAME:
        suite, name = BUILTIN, BUILTIN_NAME
    else:
        name = os.path.join(base_dir, os.path.expanduser(source))
        try:
            text = files.read_text(name)
        except files.Unreadable as exc:
            raise PromptFileError(name, [f"{what}: cannot read {name}: it {exc.why}"]) from exc
        suite = parse(text, name)
    try:
        return select(suite, categories)
    except ValueError as exc:
        raise PromptFileError(name, [f"categories: {exc}"]) from exc
