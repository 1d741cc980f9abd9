"""Keep secrets (API keys) out of logs, results files and reports."""

from __future__ import annotations


SECRET_FLAGS = ("--api-key", "--api-key-file", "--ssl-key-file")


def redact(cmd: list[str]) -> list[str]:
    """The command with values of secret flags replaced, for logs and results files."""
    out = list(cmd)
    for i, arg in enumerate(out[:-1]):
        if arg in SECRET_FLAGS:
            out[i + 1] = "***"
    return [a.split("=", 1)[0] + "=***" if a.startswith(tuple(f + "=" for f in SECRET_FLAGS)) else a for a in out]
