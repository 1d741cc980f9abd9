"""What a sweep says as it goes and at the end: per-run lines, time accounting, the summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..core import stats
from ..core.redaction import console_text, visible
from ..results.evaluate import Evaluation
from ..results.schema import RunResult
from ..setup.levels import where


@dataclass
class Accounting:
    wall_s: float = 0.0
    load_s: float = 0.0
    generation_s: float = 0.0
    probe_s: float = 0.0  # the per-request settings probe and the cost model's parts (v(k), draft-alone runs)
    check_s: float = 0.0  # the requests of baseline checks (their server loads count as loads)
    distribution_s: float = 0.0  # the distribution check's samples (check_distribution)

    @property
    def overhead_s(self) -> float:
        return max(0.0, self.wall_s - self.load_s - self.generation_s - self.probe_s - self.check_s - self.distribution_s)

    def line(self) -> str:
        share = self.overhead_s / self.wall_s if self.wall_s else 0.0
        probe = f" + {self.probe_s:.1f} s probes and cost-model parts" if self.probe_s else ""
        probe += f" + {self.check_s:.1f} s baseline checks" if self.check_s else ""
        probe += f" + {self.distribution_s:.1f} s distribution check" if self.distribution_s else ""
        return (
            f"Time: {self.wall_s:.1f} s wall = {self.load_s:.1f} s server loads + {self.generation_s:.1f} s "
            f"generation{probe} + {self.overhead_s:.1f} s harness overhead ({share:.1%})"
        )


class Console:
    """Progress on stderr: ordinary lines, and a status line that a terminal overwrites in place (the next
    message replaces it) while a log gets it as a plain line."""

    def __init__(self, echo: Callable[..., None], tty: bool):
        self.echo, self.tty, self.pending = echo, tty, False

    def _clear(self) -> None:
        if self.pending:
            self.echo("\r\033[K", end="")
            self.pending = False

    def __call__(self, msg: str = "", end: str = "\n") -> None:
        self._clear()
        self.echo(console_text(msg), end=end)

    def status(self, line: str) -> None:
        if self.tty:
            self._clear()
            self.echo("\r\033[K" + console_text(line), end="")
            self.pending = True
        else:
            self(line)


@dataclass
class SweepOutcome:
    results_path: str
    evaluation: Evaluation
    accounting: Accounting
    chart_path: str | None = None
    shard: bool = False  # it measured one shard of a fleet's plan

    @property
    def runs(self) -> tuple[RunResult, ...]:
        return self.evaluation.runs

    @property
    def failures(self) -> list[RunResult]:
        return [r for r in self.runs if r.error is not None]


def run_lines(run: RunResult) -> list[str]:
    """The console lines for one finished run."""
    if run.error:
        lines = [f"  FAILED: {run.error}"]
        if run.log_excerpt:
            tail = run.log_excerpt.splitlines()[-8:]
            lines.append("  --- server log (last lines) ---\n" + "\n".join("  | " + ln for ln in tail))
        return lines
    if run.pruned_as == "predicted" and not run.requests:
        return []  # said when the search decided (its prediction could not beat the leader)
    text = f"  Benchmarking ... {run.mean_tps:.2f} tok/s"
    if run.draft is not None:
        if run.acceptance_rate is not None:
            text += f" (acceptance: {run.acceptance_rate:.0%}, {stats.pct(run.speedup)})"
        else:
            text += f" (speculation NOT active, {stats.pct(run.speedup)})"
        if run.extra_memory_mib is not None:
            text += f", {stats.mib(run.extra_memory_mib)} MiB of memory"
    if run.concurrency > 1 and run.aggregate_tps:
        text += f"; {run.concurrency} at once: {run.aggregate_tps:.2f} tok/s aggregate"
        if run.draft is not None:
            text += f" ({stats.pct(run.aggregate_speedup)})"
        if run.engine is not None and run.engine.mean_batch is not None:
            text += f", {run.engine.mean_batch:.1f} sequences per engine step"
    if run.pruned:
        text += f" [stopped after {run.n_requests} requests]"
    lines = [text]
    if run.degenerate_output:
        lines.append(f"  Output: DEGENERATE ({run.degenerate_output})")
    elif run.output_check is not None:
        lines.append(f"  Output: {run.output_check.text()}")
    if run.parts:
        p = run.parts
        lines.append(
            f"  Model: {stats.pct(p.predicted_speedup)} predicted (a {p.acceptance_per_token:.2f}, "
            f"{p.drafted_per_pass:.1f} drafted per pass, drafting {p.drafting_share:.0%} of each pass): "
            f"{p.verdict}"
        )
    return lines


def evaluation_lines(ev: Evaluation) -> list[str]:
    """The answer of an evaluation in words: what the summary of a sweep and of a results file print."""
    lines = [visible(ev.workload)] if ev.workload else []
    lines += ["Recommended: " + visible(rec.sentence()) for rec in ev.recommendations]
    lines += [visible(line) for schedule in ev.schedules for line in schedule.lines()]
    lines += ["By level: " + visible(line) for line in ev.level_lines]
    lines += ["By task: " + visible(line) for line in ev.category_lines]
    lines += ["By rate: " + visible(line) for line in ev.rate_lines]
    lines += [f"Crossover: {visible(where(c.target, c.level))} + {visible(c.setup)}: {c.text()}" for c in ev.crossovers]
    for node in ev.nodes:
        if node.ratio is not None:
            slow = node.slower(ev.settings.resolution)
            lines.append(
                f"{'WARNING: slower node' if slow else 'Nodes'}: {visible(node.sentence())}"
                + (": its speedups are against its own baseline, but check that node" if slow else "")
            )
    if ev.savings is not None:
        s = ev.savings
        lines.append(("Model search: " if s.predicted or s.verified or s.missed else "Adaptive search: ") + s.sentence())
    return lines


def summary_lines(outcome: SweepOutcome) -> list[str]:
    lines = ["", "=== Sweep complete ===", *evaluation_lines(outcome.evaluation)]
    fails = outcome.failures
    if fails:
        lines.append(f"{len(fails)} run(s) failed (rerun the same command to retry them):")
        for r in fails:
            lines.append(f"  - {visible(r.target)} + {visible(r.draft or 'baseline')}: {visible(r.error or '')}")
    lines.append(outcome.accounting.line())
    lines.append(f"Results saved to {outcome.results_path}")
    if outcome.chart_path:
        lines.append(f"Chart saved to {outcome.chart_path}")
    return lines
