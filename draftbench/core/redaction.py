"""Make text safe to show and store: secrets (API keys) redacted, control characters made visible, and one
escaping per output (console, HTML, Markdown, CSV) that every writer of that output uses."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# A flag is secret when its name says so (--api-key, --hf-token, --ssl-key-file, a --password of a later build);
# llama-server's short aliases of such flags are named here (b11434: -hft for --hf-token).
_SECRET_NAME = re.compile(r"(token(?!s)|key|secret|passw|auth)", re.IGNORECASE)  # not --image-max-tokens
SECRET_ALIASES = ("-hft",)
MASK = "***"


def is_secret_flag(arg: str) -> bool:
    name = arg.split("=", 1)[0]
    return name.startswith("-") and (name in SECRET_ALIASES or bool(_SECRET_NAME.search(name.lstrip("-"))))


def values_to_env(args: list[str], variables: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """``args`` without the values of the flags in ``variables`` (flag -> the environment variable the server also
    reads it from), and that environment: ``--flag VALUE`` and ``--flag=VALUE`` both move."""
    kept, env, i = [], {}, 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        var = variables.get(name)
        if var and (eq or i + 1 < len(args)):
            env[var] = value if eq else args[i + 1]
            i += 1 if eq else 2
            continue
        kept.append(args[i])
        i += 1
    return kept, env


def redact(cmd: list[str]) -> list[str]:
    """The command with values of secret flags replaced and credentials in URLs masked: what every command line
    printed, saved in a results file or written to a log shows."""
    out = [redact_url(a) for a in cmd]
    for i, arg in enumerate(out):
        if is_secret_flag(arg) and "=" in arg:
            out[i] = arg.split("=", 1)[0] + "=" + MASK
        elif i and is_secret_flag(out[i - 1]) and "=" not in out[i - 1] and not cmd[i].startswith("-"):
            out[i] = MASK
    return out


def redact_url(url: str) -> str:
    """``url`` with a user's password (or token) and secret-looking query parameters masked."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}:{MASK}@{host}"
        query = urlencode([(k, MASK if _SECRET_NAME.search(k) else v) for k, v in parse_qsl(parts.query, True)], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url


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
