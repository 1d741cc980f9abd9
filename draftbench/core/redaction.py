"""Make text safe to show and store: secrets (API keys) redacted, control characters made visible, and one
escaping per output (console, HTML, Markdown, CSV) that every writer of that output uses."""

from __future__ import annotations

import html

SECRET_FLAGS = ("--api-key", "--api-key-file", "--ssl-key-file")


def redact(cmd: list[str]) -> list[str]:
    """The command with values of secret flags replaced, for logs and results files."""
    out = list(cmd)
    for i, arg in enumerate(out[:-1]):
        if arg in SECRET_FLAGS:
            out[i + 1] = "***"
    return [a.split("=", 1)[0] + "=***" if a.startswith(tuple(f + "=" for f in SECRET_FLAGS)) else a for a in out]


def visible(text: str) -> str:
    """Control characters (terminal escape sequences in a label, say) shown as escapes, not obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def console_text(text: str) -> str:
    """A message for the terminal: each line made visible, the line breaks kept."""
    return "\n".join(visible(line) for line in text.split("\n"))


def html_text(value: object) -> str:
    """HTML-escaped, with control characters (terminal escapes) shown rather than kept."""
    return html.escape(visible(str(value)))


def md_cell(value: object) -> str:
    """Text for a Markdown table cell: control characters shown, HTML and the cell separator escaped."""
    return html_text(value).replace("|", "\\|")


_FORMULA_START = ("=", "+", "-", "@")


def csv_cell(value: object) -> object:
    """A CSV value: text with control characters shown, and text a spreadsheet would run as a formula
    ('=HYPERLINK(...)' in a label) prefixed with a quote; numbers and empty cells as they are."""
    if not isinstance(value, str):
        return value
    text = visible(value)
    return "'" + text if text.startswith(_FORMULA_START) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
