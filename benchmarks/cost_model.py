"""How well the cost model explains the demo family. Run by hand: python benchmarks/cost_model.py

Sweeps every demo draft at the default draft length, and the 1- and 4-layer drafts over draft lengths
1, 2, 3, 5, 8; prints measured against predicted speedup (target: within +/-15%) and, per draft with
the axis, the predicted best length (from its default-length run alone) against the measured best
(target: within one step of the axis)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from draftbench.setup.config import load_config  # noqa: E402
from draftbench.synth.demo import ensure_demo  # noqa: E402
from draftbench.sweep.runner import Sweep  # noqa: E402

AXIS = [1, 2, 3, 5, 8]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--results", help="keep the results here (default: a temp folder)")
    args = ap.parse_args(argv)
    demo = json.load(open(ensure_demo(), encoding="utf-8"))
    drafts = [dict(d, axes={"draft_max": AXIS}) if d["label"] in ("1-layer", "4-layer") else
              {k: v for k, v in d.items() if k != "axes"} for d in demo["drafts"]]
    demo.update(name="cost-model", hardware="bench", drafts=drafts)
    demo["settings"].update(requests=args.requests, max_tokens=args.max_tokens, draft_max=3)
    folder = tempfile.mkdtemp(prefix="draftbench-costmodel-")
    config = os.path.join(folder, "config.json")
    with open(config, "w", encoding="utf-8") as fh:
        json.dump(demo, fh)
    outcome = Sweep(load_config(config), args.results or os.path.join(folder, "r.json")).run()
    runs = [r for r in outcome.runs if r.draft and r.parts and r.speedup]
    print("| setup | measured | predicted | error | a | c | v(g+1) | drafting | verdict |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    worst = 0.0
    for r in runs:
        p = r.parts
        error = p.predicted_speedup / r.speedup - 1
        if r.speculation.draft_max == 3:
            worst = max(worst, abs(error))
        print(f"| {r.draft} | {r.speedup:.3f} | {p.predicted_speedup:.3f} | {error:+.1%} | "
              f"{p.acceptance_per_token:.2f} | {p.draft_cost_ratio:.3f} | {p.verify_cost:.2f} | "
              f"{p.drafting_share:.0%} | {p.verdict} |")
    print(f"\nworst |error| at the default length (n_max 3): {worst:.1%} (target <= 15%)")
    for base in ("1-layer", "4-layer"):
        mine = {r.speculation.draft_max: r for r in runs if r.draft.startswith(base + " ·")}
        if not mine or 3 not in mine:
            continue
        measured = max(mine, key=lambda n: mine[n].speedup)
        predicted = mine[3].parts.predicted_best_draft_max
        nearest = min(AXIS, key=lambda n: abs(n - predicted))
        steps = abs(AXIS.index(nearest) - AXIS.index(measured))
        print(f"{base}: measured best n_max {measured} ({mine[measured].speedup:.3f}x), predicted from the n_max 3 "
              f"run alone: {predicted} (nearest on the axis {nearest}: {steps} step(s) away; target <= 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
