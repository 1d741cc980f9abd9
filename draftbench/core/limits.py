"""The bounds of every number a user can give, declared once: config settings and command-line flags are all
checked here (an axis carries its own ``Limit`` in ``setup.speculation.AXES``), so a value refused in a config is
refused with the same words as a flag.

Upper bounds keep an absurd value (``"ctx_size": 1e20``) from passing validation and a dry run only to fail
in llama-server's argument parser hours later; they sit far above anything a real machine runs."""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Limit:
    low: float
    high: float
    kind: type = int  # int: whole numbers only; float: any finite number; str: one of ``choices``
    hint: str = ""  # what the low end means, when it is special ("0 picks a free port")
    choices: tuple[str, ...] = ()  # the words a str value may be

    @classmethod
    def one_of(cls, *choices: str) -> "Limit":
        return cls(0, 0, str, choices=choices)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of bounds or of the wrong kind, else None."""
        if self.kind is str:
            return None if value in self.choices else (f"must be {' or '.join(repr(c) for c in self.choices)}, got {value!r}")
        whole = self.kind is int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
            return f"must be {'an integer' if whole else 'a number'}, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if (self.low, self.high) == (0, 1) and not 0 <= value <= 1:
            return f"must be between 0 and 1, got {show(value)}"
        if value < self.low:
            return f"must be at least {show(self.low)}{self.hint}, got {show(value)}"
        if value > self.high:
            return f"must be at most {show(self.high)}, got {show(value)}"
        return None


def show(value: float) -> str:
    """A bound or a value as people write it: 16777216, 0.5, 1e+20 (not 1.67772e+07 nor 46 digits)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


LIMITS: dict[str, Limit] = {
    "runs": Limit(1, 1_000),
    "requests": Limit(1, 100_000),
    "warmup": Limit(0, 1_000),
    "max_tokens": Limit(1, 1_048_576),
    "temperature": Limit(0, 10, float),
    "gpu_layers": Limit(-1, 100_000, hint=" (-1: every layer)"),
    "ctx_size": Limit(64, 16_777_216),
    "port": Limit(0, 65_535, hint=" (0 picks a free port)"),
    "ready_timeout_s": Limit(1, 7 * 86_400, float),
    "request_timeout_s": Limit(1, 86_400, float),
    "seed": Limit(-1, 2**32 - 1, hint=" (-1: random)"),
    "block": Limit(2, 100_000),
    "baseline_every": Limit(0, 100_000, hint=" (0: never)"),
    "concurrency": Limit(1, 1_024),
    "depth": Limit(0, 4_194_304),
    "request_rate": Limit(0, 10_000, float, hint=' (0, or "inf": every request at once)'),
    "shards": Limit(1, 100_000),
    "warm_pool": Limit(0, 100_000),
    "memory_budget_mib": Limit(1, 1 << 30, float),
}


def problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``name`` (a key of LIMITS), else None."""
    return LIMITS[name].problem(value)


def arg(name: str | Limit) -> Callable[[str], float | int]:
    """An argparse ``type`` for a flag that sets ``name`` (or has that limit): the same bounds and words as the config."""
    limit = LIMITS[name] if isinstance(name, str) else name

    def parse(text: str) -> float | int:
        try:
            value: Any = limit.kind(text)
        except ValueError:
            value = text
        why = limit.problem(value)
        if why:
            raise argparse.ArgumentTypeError(why)
        return value

    parse.__name__ = limit.kind.__name__  # argparse names the type in its own messages
    return parse


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def url_problem(url: str) -> list[str]:
    """What is wrong with a server's base URL (--url): it needs http:// or https:// and a host."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        example = url.split("://")[-1] or "127.0.0.1:8080"
        return [f"--url {url!r} must be a server's address with its scheme, such as http://{example}"]
    return []


def host_problem(host: Any) -> str | None:
    """Why ``host`` cannot be an address to bind or reach (an IP address or a DNS name), else None."""
    if not isinstance(host, str) or not host:
        return f"must be an IP address or a host name such as 127.0.0.1 or localhost, got {host!r}"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) <= 253 and all(_LABEL.match(part) for part in name.split(".")):
        return None
    return f"invalid host {host!r}: give an IP address or a host name such as 127.0.0.1 or localhost"
