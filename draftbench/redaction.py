"""Make text safe to show and store: secrets (API keys) redacted, control characters made visible."""

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


def html_text(value: object) -> str:
    """HTML-escaped, with control characters (terminal escapes) shown rather than kept."""
    return html.escape(visible(str(value)))
