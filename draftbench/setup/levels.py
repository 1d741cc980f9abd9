"""Levels: how a server is used while a setup is measured (requests in flight at once, sampling temperature, the
context before each prompt, requests arriving at a rate),
declared once in ``LEVELS``. A setting of a level takes one value or a list of them; each value is measured as
cells of its own, and each setup is compared with its target's baseline at the same level. Settings parsing,
cell titles, results files and the report read this table; a new level is a row here and a field of ``Level``."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

from ..core.limits import LIMITS, Limit


def rate_words(rate: float) -> str:
    """A request rate as titles say it: '2 req/s', or 'every request at once' for 0 ("inf")."""
    return "every request at once" if rate == 0 else f"{rate:g} req/s"


@dataclass(frozen=True)
class LevelAxis:
    """One way of using the server that a sweep can vary."""

    name: str  # the setting, the field of Level and of a run in results files
    limit: Limit  # each value's type and bounds
    example: str  # a list of values, as a config would give it
    words: Callable[[float], str]  # a value as titles and tables say it
    unsaid: float | None  # the value titles leave out unless the sweep varies the field (one stream)
    aliases: tuple[tuple[str, float], ...] = ()  # words a config may give for a value ("inf" for 0)
    order: Callable[[float], float] = float  # where a value sorts among the level's values (a rate of 0 is the highest)


LEVELS: dict[str, LevelAxis] = {
    a.name: a
    for a in (
        LevelAxis("concurrency", LIMITS["concurrency"], "[1, 2, 4]", lambda v: f"{v:g} stream{'s' if v != 1 else ''}", 1),
        LevelAxis("temperature", LIMITS["temperature"], "[0, 0.8]", lambda v: f"temperature {v:g}", None),
        LevelAxis("depth", LIMITS["depth"], "[0, 4096, 16384]", lambda v: f"depth {v:g}", None),
        LevelAxis(
            "request_rate",
            LIMITS["request_rate"],
            '[0.5, 1, 2, "inf"]',
            rate_words,
            None,
            (("inf", 0.0),),
            lambda v: math.inf if v == 0 else v,
        ),
    )
}


@dataclass(frozen=True)
class Level:
    """One level of a cell. ``temperature`` None: the sweep's one temperature (the setting's single value), as in
    files written before temperature could be a list."""

    concurrency: int = 1
    temperature: float | None = None
    depth: int | None = None  # tokens of context before each prompt; None: none (depth 0, as before)
    request_rate: float | None = None  # requests arriving per second (0: all at once); None: a closed loop

    @property
    def sort_key(self) -> tuple[float, ...]:
        return tuple(-1.0 if (v := getattr(self, f.name)) is None else LEVELS[f.name].order(v) for f in fields(self))

    @property
    def streams(self) -> int:
        return self.concurrency

    def text(self, shown: tuple[str, ...] | None = None) -> str:
        """'4 streams, temperature 0.8': the values that vary (``shown``; default: every value but those left
        unsaid, one stream), '' when none does."""
        names = shown if shown is not None else [f.name for f in fields(self) if getattr(self, f.name) != LEVELS[f.name].unsaid]
        return ", ".join(LEVELS[n].words(getattr(self, n)) for n in names if getattr(self, n) is not None)


def where(target: str, level: Level) -> str:
    """'T', or 'T @ 4 streams, temperature 0.8' away from one stream at the sweep's one temperature."""
    said = level.text()
    return f"{target} @ {said}" if said else target


def varying(levels: list[Level]) -> tuple[str, ...]:
    """The level fields with more than one value among ``levels``: what titles must say."""
    return tuple(f.name for f in fields(Level) if len({getattr(lv, f.name) for lv in levels}) > 1)
