"""How well the cost model predicts, on the demo family and the test family. Run by hand:
python benchmarks/cost_model.py [--family demo|test|both]

Sweeps every draft of the family at draft lengths 1, 3 and 8 and prints, per setup, the measured speedup against
the cost model's prediction and its error (target on the demo family: worst |predicted / measured - 1| <= 10%),
and per draft the measured best draft length against the model's (target: within one step of the axis)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from draftbench.core import stats
from draftbench.results import evaluate, explain, grouping, recommend
from draftbench.setup.config import load_config  # noqa: E402
from draftbench.sweep.runner import Sweep  # noqa: E402
from draftbench.synth import model_family  # noqa: E402
from draftbench.synth.demo import ensure_demo  # noqa: E402

AXIS = [1, 3, 8]


def family_config(name: str, folder: str) -> dict:
    if name == "demo":
        return json.load(open(ensure_demo(), encoding="utf-8"))
    return model_family.generate(os.path.join(folder, "family"), "test")


def table(runs: list) -> float:
    """Print measured against predicted per setup; return the worst |error|."""
    print("| setup | measured | predicted | error | v(g+1) | v from | acceptance | drafting |")
    print("|---|---:|---:|---:|---:|---|---|---:|")
    worst = 0.0
    for r in runs:
        p = r.parts
        error = p.predicted_speedup / r.speedup - 1
        worst = max(worst, abs(error))
        print(
            f"| {r.draft} | {recommend.speedup_text(r)} | {stats.pct(p.predicted_speedup)} | {error:+.1%} | "
            f"{p.verify_cost:.2f} | {p.verify_source} | {p.acceptance_source} | {p.drafting_share:.0%} |"
        )
    return worst


def lengths(runs: list, all_runs: list) -> int:
    """Print the measured and the predicted best draft length per draft; return the largest distance in steps."""
    base = grouping.baselines(all_runs)
    far = 0
    for path in dict.fromkeys(r.draft_path for r in runs):
        group = sorted((r for r in runs if r.draft_path == path), key=lambda r: r.speculation.draft_max)
        model = explain.draft_loop(group, base[group[0].target])
        measured = max(group, key=lambda r: r.speedup).speculation.draft_max
        if model is None:
            continue
        on_axis = max(AXIS, key=model.speedup)
        steps = abs(AXIS.index(on_axis) - AXIS.index(measured))
        far = max(far, steps)
        curve = ", ".join(f"{n}: {stats.pct(model.speedup(n))}" for n in AXIS)
        print(
            f"- {group[0].draft.split(' ·')[0]}: measured best n_max {measured}; model best on the axis {on_axis} "
            f"({steps} step(s) away), over 1-16 {model.best()}; model curve {curve}"
        )
    return far


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=("demo", "test", "both"), default="both")
    ap.add_argument("--requests", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--results", help="keep the results in this folder (default: a temp folder)")
    args = ap.parse_args(argv)
    folder = args.results or tempfile.mkdtemp(prefix="draftbench-costmodel-")
    os.makedirs(folder, exist_ok=True)
    for name in ("demo", "test") if args.family == "both" else (args.family,):
        config = family_config(name, folder)
        for d in config["drafts"]:
            d.pop("axes", None)
            d["axes"] = {"draft_max": AXIS}
        config.update(name=f"cost-model-{name}", hardware="bench")
        config["settings"].update(requests=args.requests, max_tokens=args.max_tokens, baseline_every=0)
        path = os.path.join(folder, f"{name}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        Sweep(load_config(path), os.path.join(folder, f"{name}-results.json")).run()
        runs = list(evaluate.load(os.path.join(folder, f"{name}-results.json"))[1].runs)
        shown = [r for r in runs if r.draft and r.parts and r.speedup]
        print(f"\n## {name} family ({len(shown)} setups, {args.requests} requests of {args.max_tokens} tokens each)\n")
        worst = table(shown)
        print(f"\nworst |predicted / measured - 1|: {worst:.1%} (target <= 10% on the demo family)\n")
        far = lengths(shown, runs)
        print(f"\nlargest distance between the measured and the predicted best n_max: {far} step(s) (target <= 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
