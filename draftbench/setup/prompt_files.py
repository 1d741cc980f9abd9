"""Your own prompts from a file, in the shapes people already have:

- JSONL, one object per line: ``{"prompt": "..."}`` or ``{"messages": [{"role": ..., "content": ...}]}``,
  with optional ``"category"`` and ``"id"``; a recorded chat-completion request (``messages`` at the top or in
  ``"body"``, as OpenAI's batch files have it);
- Spec-Bench's ``question.jsonl``: ``question_id``, ``category``, ``turns``;
- ShareGPT-style JSON: a list of ``{"conversations": [{"from": "human", "value": ...}, ...]}``;
- plain text: prompts separated by blank lines.

Each of the first three may hold conversations of several turns. ``conversation: "first-turn"`` sends what the
original tool sent (Spec-Bench's and ShareGPT's first user turn, a ``messages`` list whole); ``"replay"`` keeps
every turn (:class:`prompts.Turn`), and a request whose messages extend an earlier line's is that line's next
turn (a recorded request log). Every problem is reported with the file and line, all at once
(:class:`PromptFileError`)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

from ..core import files
from ..errors import ConfigError
from .prompts import BUILTIN, BUILTIN_CONVERSATIONS, Prompt, Turn, select

BUILTIN_NAME = "builtin"
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant"}
ROLES |= {"system": "system", "tool": "tool", "function": "tool", "observation": "tool"}  # ShareGPT's names too
DEFAULT_CATEGORY = "custom"


class PromptFileError(ConfigError):
    """A prompt file that cannot be used: every problem with its line."""


def split(messages: tuple[tuple[str, str], ...], where: str, later: list[str]) -> tuple[Turn, ...]:
    """A conversation's turns: each a run of messages up to an assistant's, whose content is the turn's recorded
    answer; () for one turn. What is wrong with it goes to ``later`` (only a replay needs the turns)."""
    turns: list[Turn] = []
    pending: list[tuple[str, str]] = []
    for i, (role, content) in enumerate(messages):
        if role != "assistant":
            pending.append((role, content))
        elif not pending:
            later.append(f"{where}: message {i + 1} is an assistant's with no user message before it: a turn starts with one")
            return ()
        else:
            turns.append(Turn(tuple(pending), content))
            pending = []
    if pending:
        turns.append(Turn(tuple(pending)))
    return tuple(turns) if len(turns) > 1 else ()


def _from_object(obj: Any, where: str, n: int, problems: list[str], later: list[str]) -> Prompt | None:
    """A prompt of a JSON object, with its optional ``context`` (the document it is asked about, sent before it
    when the sweep measures at a context depth)."""
    prompt = _prompt_of(obj, where, n, problems, later)
    context = obj.get("context", "") if prompt is not None else ""
    if not isinstance(context, str):
        problems.append(f'{where}: "context" must be a string: the document the prompt is asked about')
        return None
    return replace(prompt, context=context.strip()) if prompt is not None and context.strip() else prompt


def _prompt_of(obj: Any, where: str, n: int, problems: list[str], later: list[str]) -> Prompt | None:
    if not isinstance(obj, dict):
        problems.append(f'{where}: expected a JSON object with "prompt", "messages" or "turns"')
        return None
    category = obj.get("category", DEFAULT_CATEGORY)
    if not isinstance(category, str) or not category.strip():
        problems.append(f'{where}: "category" must be a non-empty string')
        return None
    pid = str(obj.get("id", obj.get("question_id", obj.get("custom_id", f"{category}-{n}"))))
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
        bad = next((i for i, t in enumerate(turns) if not isinstance(t, str) or not t.strip()), None)
        if bad is not None:
            later.append(f'{where}: "turns"[{bad}] must be a non-empty string (each turn is a user message)')
            return Prompt(pid, category, turns[0])
        return Prompt(pid, category, turns[0], turns=tuple(Turn((("user", t),)) for t in turns) if len(turns) > 1 else ())
    if "messages" in obj or isinstance(obj.get("body"), dict) and "messages" in obj["body"]:
        msgs = obj["messages"] if "messages" in obj else obj["body"]["messages"]
        ok = (
            isinstance(msgs, list)
            and msgs
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs)
        )
        if not ok or not any(m["role"] == "user" and m["content"].strip() for m in msgs):
            problems.append(f'{where}: "messages" must be a list of {{"role", "content"}} strings with a non-empty user message')
            return None
        pairs = tuple((m["role"], m["content"]) for m in msgs)
        return Prompt(pid, category, next(c for r, c in pairs if r == "user"), pairs, turns=split(pairs, where, later))
    problems.append(f'{where}: no prompt: expected a "prompt", "messages" or "turns" field')
    return None


def _role(name: Any) -> str | None:
    return ROLES.get(name) if isinstance(name, str) else None


def _sharegpt(data: list, path: str, problems: list[str], later: list[str]) -> list[Prompt]:
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
        pairs = [(_role(t.get("from")), t.get("value")) if isinstance(t, dict) else (None, None) for t in conv]
        bad = next((j for j, (r, v) in enumerate(pairs) if r is None or not isinstance(v, str)), None)
        if bad is not None:
            later.append(f'{where}: conversations[{bad}] must be {{"from": one of {", ".join(ROLES)}, "value": a string}}')
        turns = split(tuple(pairs), where, later) if bad is None else ()  # type: ignore[arg-type]  # checked above
        out.append(Prompt(str(item.get("id", f"sharegpt-{i + 1}")), category, first, turns=turns))
    return out


def _jsonl(text: str, path: str, problems: list[str], later: list[str]) -> list[Prompt]:
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
        prompt = _from_object(obj, where, len(out) + 1, problems, later)
        if prompt is not None:
            out.append(prompt)
    return out


def _plain(text: str) -> list[Prompt]:
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    return [Prompt(f"{DEFAULT_CATEGORY}-{i + 1}", DEFAULT_CATEGORY, b) for i, b in enumerate(b for b in blocks if b)]


def parse(text: str, path: str, replay: bool = False) -> tuple[Prompt, ...]:
    """Prompts from a file's text, its shape recognised from the content; ``replay``: as conversations (every
    turn kept and checked, a request log's lines joined into conversations), else their first turns."""
    problems: list[str] = []
    later: list[str] = []  # what is wrong with turns after the first: a problem only when they are replayed
    stripped = text.lstrip()
    prompts: list[Prompt]
    if stripped.startswith("["):
        try:
            data = files.parse_json(text)
        except json.JSONDecodeError as exc:
            raise PromptFileError(path, [f"{path}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"]) from exc
        prompts = _sharegpt(data, path, problems, later)
    elif stripped.startswith("{"):
        prompts = _jsonl(text, path, problems, later)
    else:
        prompts = _plain(text)
    if not prompts and not problems:
        problems.append(f"{path}: no prompts found (JSONL, Spec-Bench, ShareGPT JSON or text with blank lines between prompts)")
    if replay:
        problems += later
        prompts = joined(prompts)
    else:
        prompts = [replace(p, turns=()) for p in prompts]
    ids = [p.id for p in prompts]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{path}: id {dup!r} is used twice: ids must be unique")
    if problems:
        raise PromptFileError(path, problems)
    return tuple(prompts)


def joined(prompts: list[Prompt]) -> list[Prompt]:
    """A request log's lines as conversations: a request whose messages begin with all of an earlier one's (its
    answer, then more) is that request's next turn; the conversation keeps the first request's id and place."""
    out: list[Prompt] = []
    for p in prompts:
        mine = _messages(p)
        extends = next((i for i in reversed(range(len(out))) if _extends(mine, _messages(out[i]))), None)
        if extends is None:
            out.append(p)
        else:
            first = out[extends]
            out[extends] = replace(first, turns=split(mine, first.id, []) or first.turns)
    return out


def _messages(p: Prompt) -> tuple[tuple[str, str], ...]:
    if not p.turns:
        return p.messages or (("user", p.text),)
    return tuple(m for t in p.turns for m in (*t.messages, *((("assistant", t.answer),) if t.answer is not None else ())))


def _extends(later: tuple[tuple[str, str], ...], earlier: tuple[tuple[str, str], ...]) -> bool:
    """Does ``later`` continue ``earlier``: all of it, then an assistant's answer, then more?"""
    n = len(earlier)
    return len(later) > n + 1 and later[:n] == earlier and later[n][0] == "assistant"


def load(
    source: str, base_dir: str = ".", categories: tuple[str, ...] = (), what: str = "prompts", replay: bool = False
) -> tuple[Prompt, ...]:
    """``"builtin"`` (with ``replay``: the built-in conversations) or a file (relative to ``base_dir``), narrowed
    to ``categories``; ``replay``: its conversations, every turn kept (see :func:`parse`)."""
    if source == BUILTIN_NAME:
        suite, name = (BUILTIN_CONVERSATIONS if replay else BUILTIN), BUILTIN_NAME
    else:
        name = os.path.join(base_dir, os.path.expanduser(source))
        try:
            text = files.read_text(name)
        except files.Unreadable as exc:
            raise PromptFileError(name, [f"{what}: cannot read {name}: it {exc.why}"]) from exc
        suite = parse(text, name, replay)
    try:
        return select(suite, categories)
    except ValueError as exc:
        raise PromptFileError(name, [f"categories: {exc}"]) from exc
