"""What a sweep command writes, declared once (``Outputs``): its results file where it writes one, its HTML report,
and the table it prints on stdout (``--format``). Checked before anything runs (``check``: no output is one of the
command's inputs or another output, a report replaces only a report, each can be written), then written in one
place (``publish``: the report, the evaluation's lines on stderr, the export on stdout)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..core import files
from ..report import export, sweep_page
from ..results.evaluate import Evaluation
from ..results.schema import FileMeta


def chart_for(results: str, chart: str | None) -> str:
    """``--chart``, else the results path with .html."""
    return chart or os.path.splitext(results)[0] + ".html"


@dataclass(frozen=True)
class Outputs:
    chart: str
    results: str | None = None  # the results file the command writes (a sweep, a merge); None: it reads one
    fmt: str | None = None  # "md" or "csv": a table on stdout too

    @classmethod
    def of(cls, results: str, chart: str | None, fmt: str | None, writes_results: bool = True) -> "Outputs":
        return cls(chart_for(results, chart), results if writes_results else None, fmt)

    def check(self, inputs: list[tuple[str, str]], writable: bool = True) -> None:
        """Refuse now, before any server starts, what writing later would refuse (``writable``: probe the
        folders too; a dry run writes nothing and only refuses what the run would)."""
        named = [("--results", self.results)] if self.results else []
        files.guard_outputs([*named, ("--chart", self.chart)], inputs)
        files.guard_report(self.chart)
        if writable:
            if self.results:
                files.check_writable(self.results)
            files.check_writable(self.chart, "--chart", "the report")

    def report(self, meta: FileMeta, ev: Evaluation) -> str:
        return sweep_page.write_report(self.chart, meta, ev)

    def publish(self, meta: FileMeta, ev: Evaluation, lines: list[str]) -> None:
        """The report, then ``lines`` (progress and answers) on stderr and the export on stdout."""
        self.report(meta, ev)
        self.say(meta, ev, lines)

    def say(self, meta: FileMeta, ev: Evaluation, lines: list[str]) -> None:
        for line in lines:
            print(line, file=sys.stderr)
        if self.fmt == "md":
            sys.stdout.write(export.to_markdown(meta, ev))
        elif self.fmt == "csv":
            sys.stdout.write(export.to_csv(ev.runs, ev.recommendations))
