"""Speculation at context depth on the demo family: the baseline and three setups (the 1-layer and 4-layer drafts
at n_max 3, and ngram-mod) at depths 0, 1024 and 3072 tokens. Prints the table by depth (baseline tok/s and TTFT,
each setup's paired speedup with its interval, acceptance, TTFT), each setup's crossover (the depth where its
interval reaches no gain) and the recommendation at each depth.

    python benchmarks/depth.py [folder] [--requests N] [--depths 0,1024,3072] [--table]
    (--table: only print the table of the results file in the folder)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draftbench.core import stats  # noqa: E402
from draftbench.results import depth, evaluate  # noqa: E402
from draftbench.synth.demo import demo_dir  # noqa: E402


def config(folder: str, requests: int, depths: list[int]) -> str:
    demo = json.load(open(os.path.join(demo_dir(), "sweep.json"), encoding="utf-8"))
    drafts = {d["label"]: d for d in demo["drafts"]}
    demo["drafts"] = [{k: v for k, v in drafts[label].items() if k != "axes"} for label in ("1-layer", "4-layer")]
    demo["drafts"].append({"label": "n-gram", "spec_type": "ngram-mod", "draft_max": 8})
    demo["settings"].update(requests=requests, depth=depths, ctx_size=max(depths) + 1024, draft_max=3)
    path = os.path.join(folder, "depth.json")
    json.dump(demo, open(path, "w", encoding="utf-8"), indent=2)
    return path


def table(results: str) -> None:
    _, ev = evaluate.load(results)
    runs = [r for r in ev.runs if r.error is None and r.mean_tps]
    for d in sorted({r.depth or 0 for r in runs}):
        at = sorted((r for r in runs if (r.depth or 0) == d), key=lambda r: (r.draft is not None, r.draft or ""))
        print(f"\nDepth {d}:")
        print(f"  {'setup':<22} {'tok/s':>7} {'speedup [95% CI]':>24} {'n':>3} {'accept':>7} {'TTFT s':>7}")
        for r in at:
            lo_hi = f"[{stats.pct(r.speedup_ci95[0])}, {stats.pct(r.speedup_ci95[1])}]" if r.speedup_ci95 else ""
            print(
                f"  {r.draft or 'baseline':<22} {r.mean_tps:7.2f} {stats.pct(r.speedup) if r.draft else '':>8}"
                f" {lo_hi:>15} {r.speedup_n or len(r.requests):>3} {r.acceptance_rate or 0:7.0%}"
                f" {r.median_ttft_s or 0:7.2f}"
            )
    print("\nCrossovers:")
    for c in depth.crossovers(ev.runs):
        print(f"  {c.setup}: {c.text()}")
    print("\nRecommendations:")
    for rec in ev.recommendations:
        print(f"  {rec.sentence()}")


def main() -> None:
    args = sys.argv[1:]
    folder = next((a for a in args if not a.startswith("--") and not a[0].isdigit()), "/tmp/depth-bench")
    os.makedirs(folder, exist_ok=True)
    results = os.path.join(folder, "results.json")
    if "--table" not in args:
        requests = int(args[args.index("--requests") + 1]) if "--requests" in args else 6
        depths = [int(d) for d in args[args.index("--depths") + 1].split(",")] if "--depths" in args else [0, 1024, 3072]
        path = config(folder, requests, depths)
        subprocess.run(
            [
                sys.executable,
                os.path.join(ROOT, "sweep.py"),
                "--config",
                path,
                "--results",
                results,
                "--chart",
                os.path.join(folder, "report.html"),
            ],
            check=False,
        )
    table(results)


if __name__ == "__main__":
    main()
