"""Run records for tests: evaluated as every reader of a file evaluates them (one :func:`evaluate` call)."""

from __future__ import annotations

from draftbench.report import export, sweep_page
from draftbench.results import evaluate as ev_mod
from draftbench.results.evaluate import EvalSettings, evaluate
from draftbench.results.schema import FileMeta, RunResult


def evaluated(runs: list[RunResult], greedy: bool = False, resolution: float = 0.05, budget: int = 0) -> list[RunResult]:
    """Hand-made runs with their figures computed, as a sweep or a loaded file has them."""
    return list(evaluate(runs, EvalSettings(greedy, resolution, budget)).runs)


def compared(run: RunResult, base: RunResult, greedy: bool = False, others: tuple = ()) -> RunResult:
    """``run`` evaluated against ``base`` (and beside ``others``)."""
    found = evaluate([base, *others, run], EvalSettings(greedy)).run(run.key)
    assert found is not None
    return found


def loaded(path: str) -> list[RunResult]:
    """A results file's runs, evaluated as every reader evaluates them."""
    return list(ev_mod.load(path)[1].runs)


def _evaluation(meta: dict, runs: list[RunResult]) -> tuple[FileMeta, ev_mod.Evaluation]:
    file_meta = FileMeta.from_dict(meta)
    return file_meta, evaluate(runs, EvalSettings.of(file_meta.settings))


def rendered(meta: dict, runs: list[RunResult]) -> str:
    """The HTML report of hand-made runs and metadata, evaluated as a file's would be."""
    return sweep_page.render(*_evaluation(meta, runs))


def written(path: str, meta: dict, runs: list[RunResult]) -> str:
    return sweep_page.write_report(path, *_evaluation(meta, runs))


def markdown(meta: dict, runs: list[RunResult]) -> str:
    return export.to_markdown(*_evaluation(meta, runs))
