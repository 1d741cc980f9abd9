"""Old (unpaired) and new (paired) speedup intervals of every setup in one results file, side by side.

    python benchmarks/paired_intervals.py results/demo.json

For each setup: the unpaired ratio of mean tok/s with its delta-method 95% interval (what draftbench showed
before results version 5), and the paired geometric mean of per-request ratios with its 95% interval (what
it shows now), their widths, and the per-prompt ratios behind them; then the winner against the runner-up
per prompt, and the recommendation."""

from __future__ import annotations

import sys

from draftbench.core import stats
from draftbench.results import comparison, evaluate, grouping, recommend


def main(path: str) -> int:
    runs = list(evaluate.load(path)[1].runs)
    base = grouping.baselines(grouping.at_level(runs))
    print(f"{'target':<14} {'setup':<26} {'unpaired (old)':<26} {'paired (new)':<26} widths old/new  per-prompt ratios")
    for r in grouping.at_level(runs):
        b = base.get(r.target)
        if r.draft is None or b is None or not r.requests:
            continue
        old = stats.unpaired_ratio([x for _, x in comparison.keyed(r) if x], [y for _, y in comparison.keyed(b) if y])
        new = comparison.versus(r, b)
        if old is None or new is None or old.ci95 is None or new.ci95 is None:
            continue
        ratios = [x / y for x, y in stats.pairs(comparison.keyed(r), comparison.keyed(b))]

        def show(x: stats.Ratio) -> str:
            return f"{stats.pct(x.value)} [{stats.pct(x.ci95[0])} .. {stats.pct(x.ci95[1])}]"  # type: ignore[index]

        widths = f"{(old.ci95[1] - old.ci95[0]) * 100:.0f}/{(new.ci95[1] - new.ci95[0]) * 100:.0f} pts"
        print(
            f"{r.target:<14} {str(r.draft):<26} {show(old):<26} {show(new):<26} {widths:<15} "
            + " ".join(f"{x:.2f}" for x in ratios[:8])
        )
    for rec in recommend.recommend(runs):
        if rec.best is not None and rec.runner_up is not None:
            ratios = [x / y for x, y in stats.pairs(comparison.keyed(rec.best), comparison.keyed(rec.runner_up))]
            print(
                f"\n{rec.target}: winner {rec.best.draft} over runner-up {rec.runner_up.draft}, per prompt: "
                + " ".join(f"{x:.3f}" for x in ratios)
                + f" (all >= 1.03: {all(x >= 1.03 for x in ratios)})"
            )
        print("Recommended: " + rec.sentence())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
