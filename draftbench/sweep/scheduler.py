"""Who decides the order of measurement: a policy per ``settings.search``, asked by the sweep for the cells in turn
given the runs so far (``order``), for the blocks of a setup (``sizes``), and after each block whether to pause,
look or stop. ``Policy`` itself is the exhaustive sweep (every cell in plan order, each in one block, never
stopped); the adaptive search (``adaptive.Search``) and the model search (``model_search.ModelSearch``) refine it.
The sweep and the cell measurer ask one policy and never test which one they have."""

from __future__ import annotations

from typing import Iterator, Mapping

from ..results.predict import Prediction
from ..results.schema import RunResult
from ..setup.settings import SweepSettings
from . import stopping
from .plan import Cell


class Policy:
    """The exhaustive sweep: every cell in plan order, each setup measured in full in one block; nothing pauses,
    looks or stops. ``adaptive``: setups may stop early, measured in blocks (the progress line then says "at
    most", and a server is not kept for a setup's next level, which may be stopped)."""

    adaptive = False
    pause_note = ""  # why a setup pauses after a block

    def __init__(self, settings: SweepSettings):
        self.total = settings.requests * settings.runs  # requests per setup measured in full

    def describe(self) -> str:
        """A line for the console before the first cell ("": nothing to say)."""
        return ""

    def order(self, cells: list[Cell], runs: Mapping[tuple, RunResult]) -> Iterator[Cell]:
        """The cells in the order they are measured (lazily: each choice may see the runs measured so far)."""
        return iter(cells)

    def sizes(self, done: int) -> list[int]:
        """The blocks still to measure for a setup that has ``done`` requests."""
        return [self.total - done]

    def pauses(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> bool:
        """After a block: does the setup pause (saved as in progress) for others to go first?"""
        return False

    def look_pending(self, run: RunResult) -> bool:
        """A setup paused where its look is due, taken when it is picked again."""
        return False

    def predicted_stop(self, cell: Cell, runs: Mapping[tuple, RunResult]) -> stopping.Stop | None:
        """A setup never measured that the policy stops on a prediction (the model search)."""
        return None

    def prediction_of(self, cell: Cell) -> Prediction | None:
        """What a measured run keeps of the policy's view of it before it was measured (the model search)."""
        return None

    def verdict(self, run: RunResult) -> str | None:
        """After a block: what the policy learnt from it beyond the look (the model search's check)."""
        return None

    def look(self, run: RunResult, runs: Mapping[tuple, RunResult]) -> stopping.Decision | None:
        """The decision after a block: keep measuring, or stop as slower or tied."""
        return None
