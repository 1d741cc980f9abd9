"""Who decides the order of measurement: a policy per ``settings.search``, asked by the sweep for the next cell
given the runs so far (``order``), for the blocks of a setup (``sizes``), and after each block whether to pause,
look or stop. The exhaustive sweep is a policy like the searches (every cell in plan order, each in one block,
never stopped), so the sweep and the cell measurer ask one policy and never test which one they have."""

from __future__ import annotations

from typing import Iterator, Mapping, Protocol

from ..results.predict import Prediction
from ..results.schema import RunResult
from ..setup.settings import SweepSettings
from . import stopping
from .adaptive import Search
from .model_search import ModelSearch
from .plan import Cell


class Policy(Protocol):
    """What the sweep asks of its policy. ``adaptive``: setups may stop early, measured in blocks (so the progress
    line says "at most", and a server is not kept for a setup's next level, which may be stopped)."""

    adaptive: bool
    total: int  # requests per setup measured in full
    pause_note: str

    def describe(self) -> str: ...
    def order(self, cells: list[Cell], runs: Mapping[tuple, RunResult]) -> Iterator[Cell]: ...
    def sizes(self, done: int) -> list[int]: ...
    def pauses(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> bool: ...
    def look_pending(self, run: RunResult) -> bool: ...
    def predicted_stop(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> stopping.Stop | None: ...
    def prediction_of(self, cell: Cell) -> Prediction | None: ...
    def verdict(self, run: RunResult) -> str | None: ...
    def look(self, run: RunResult, runs: Mapping[tuple, RunResult]) -> stopping.Decision | None: ...


class Exhaustive:
    """Every cell in plan order, each setup measured in full in one block: nothing pauses, looks or stops."""

    adaptive = False
    pause_note = ""

    def __init__(self, settings: SweepSettings):
        self.total = settings.requests * settings.runs

    def describe(self) -> str:
        return ""

    def order(self, cells: list[Cell], runs: Mapping[tuple, RunResult]) -> Iterator[Cell]:
        return iter(cells)

    def sizes(self, done: int) -> list[int]:
        return [self.total - done]

    def pauses(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> bool:
        return False

    def look_pending(self, run: RunResult) -> bool:
        return False

    def predicted_stop(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> stopping.Stop | None:
        return None

    def prediction_of(self, cell: Cell) -> Prediction | None:
        return None

    def verdict(self, run: RunResult) -> str | None:
        return None

    def look(self, run: RunResult, runs: Mapping[tuple, RunResult]) -> stopping.Decision | None:
        return None


def policy(settings: SweepSettings) -> Policy:
    """The policy ``settings.search`` names: "exhaustive", "adaptive" (``adaptive.Search``) or "model"
    (``model_search.ModelSearch``)."""
    searches: dict[str, type[Search]] = {"adaptive": Search, "model": ModelSearch}
    return searches[settings.search](settings) if settings.search in searches else Exhaustive(settings)
