"""What one save costs a sweep as its results file grows: a store of N setups (the golden v11 file's measured runs,
copied under new labels: one target, its baseline, N setups: N/5 drafts at 5 lengths each, 6 requests each), then
one more run put into the store and the file written, timed. Prints the median of a few puts per size.

    python benchmarks/save_cost.py [--sizes 50,400,1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from draftbench.results.jsonfile import load_results  # noqa: E402
from draftbench.results.schema import RunResult  # noqa: E402
from draftbench.setup.config import load_config  # noqa: E402
from draftbench.sweep.plan import build_plan  # noqa: E402
from draftbench.sweep.store import ResultsStore  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "golden")


def _runs(n: int) -> list[RunResult]:
    _, runs = load_results(os.path.join(GOLDEN, "v11.json"))
    base = next(r for r in runs if r.draft is None and r.concurrency == 1)
    setups = [r for r in runs if r.draft is not None and r.concurrency == 1 and r.done]
    out = [base]
    for i in range(n):
        template = setups[i % len(setups)]
        spec = (
            replace(template.speculation, draft_path=f"{template.speculation.draft_path}.{i // 5}", draft_max=1 + i % 5)
            if template.speculation
            else None
        )  # drafts of 5 lengths each
        out.append(replace(template, draft=f"{template.draft} #{i}", speculation=spec))
    return out


def one_size(n: int, repeat: int, folder: str) -> tuple[float, float]:
    """Median seconds of one put and of one save, with ``n`` setups in the store."""
    cfg = load_config(os.path.join(GOLDEN, "v11.config.json"), check_files=False)
    path = os.path.join(folder, f"r{n}.json")
    store = ResultsStore(path, cfg, build_plan(cfg), "bench")
    store.start()
    runs = _runs(n + repeat)
    for run in runs[: n + 1]:
        store.runs[run.key] = run
    store.put(runs[0])  # evaluated once, as a resumed sweep is
    puts, saves = [], []
    for run in runs[n + 1 :]:
        t0 = time.perf_counter()
        store.put(run)
        t1 = time.perf_counter()
        store.save()
        puts.append(t1 - t0)
        saves.append(time.perf_counter() - t1)
    return statistics.median(puts), statistics.median(saves)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="50,400,1000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'setups':>7} {'put (evaluate) ms':>18} {'write ms':>9} {'one save ms':>12}")
        for n in (int(s) for s in args.sizes.split(",")):
            put, save = one_size(n, args.repeat, folder)
            print(f"{n:>7} {put * 1000:>18.1f} {save * 1000:>9.1f} {(put + save) * 1000:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
