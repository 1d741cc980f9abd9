"""Adaptive search against the full sweep, back to back, on the demo family with a grid of draft models x
draft lengths (15 setups by default). Prints whether both pick the same best (or a statistical tie),
tokens and wall time of each, and their ratio. Target: the same or a tied best, at most 40% of the tokens.

Run by hand: python benchmarks/adaptive_search.py [--repeat 3] [--requests 24] [--block 3]"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from draftbench.core import stats
from draftbench.results.schema import RunResult  # noqa: E402
from draftbench.setup.config import load_config  # noqa: E402
from draftbench.sweep import stopping  # noqa: E402
from draftbench.sweep.adaptive import rates  # noqa: E402
from draftbench.sweep.runner import Sweep  # noqa: E402
from draftbench.synth.demo import ensure_demo  # noqa: E402


def grid_config(folder: str, requests: int, block: int, max_tokens: int, lengths: list[int]) -> str:
    with open(ensure_demo(), encoding="utf-8") as fh:
        data = json.load(fh)
    for entry in data["drafts"]:
        entry.pop("axes", None)
    data["axes"] = {"draft_max": lengths}
    data["settings"].pop("draft_max", None)
    data["settings"].update(requests=requests, block=block, max_tokens=max_tokens)
    path = os.path.join(folder, "grid.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    return path


def tokens(runs: list[RunResult]) -> int:
    return sum(q.completion_tokens or 0 for r in runs for q in r.requests if not q.error)


def one_round(config: str, folder: str, quiet: bool) -> dict:
    echo = (lambda *a, **k: None) if quiet else None
    cfg = load_config(config)
    out = {}
    for mode in ("exhaustive", "adaptive"):
        t0 = time.monotonic()
        kw = {"echo": echo} if echo else {}
        outcome = Sweep(cfg.with_search(mode), os.path.join(folder, f"{mode}.json"), fresh=True, **kw).run()
        rec = outcome.recommendations[0]
        out[mode] = {
            "runs": outcome.runs,
            "best": rec.best,
            "wall_s": time.monotonic() - t0,
            "tokens": tokens(outcome.runs),
            "savings": outcome.savings,
        }
    return out


def verdict(full: list[RunResult], a: RunResult | None, b: RunResult | None) -> str:
    """Same best, or the two bests compared on the full sweep's own numbers (paired, 95%)."""
    if a is None or b is None:
        return "no best on one side"
    if a.draft == b.draft:
        return "same best"
    by = {r.draft: r for r in full}
    x, y = by.get(a.draft), by.get(b.draft)
    if x is None or y is None:
        return "different best (not comparable)"
    d = stopping.decide(rates(y), rates(x), str(x.draft), 0.025, 1e-9)
    overlap = (
        x.speedup_ci95 and y.speedup_ci95 and x.speedup_ci95[0] <= y.speedup_ci95[1] and y.speedup_ci95[0] <= x.speedup_ci95[1]
    )
    tied = d is not None and d.interval[0] <= 1.0 <= d.interval[1]
    return (
        f"different best, {'statistically tied' if tied else 'NOT tied'} on the full sweep's numbers "
        f"({y.draft} = {stopping.times(d.ratio) if d else '?'} of {x.draft}, 95% paired interval "
        f"{stopping.times(d.interval[0]) if d else '?'} .. {stopping.times(d.interval[1]) if d else '?'}; "
        f"speedup CIs {'overlap' if overlap else 'do not overlap'})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--block", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--lengths", default="1,3,8", help="draft lengths (n_max) of every draft model")
    ap.add_argument("--verbose", action="store_true", help="show the sweeps' progress")
    args = ap.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        config = grid_config(tmp, args.requests, args.block, args.max_tokens, lengths)
        n = len(load_config(config).setups)
        print(
            f"demo family: 5 draft models x n_max {lengths} = {n} setups, {args.requests} requests each, "
            f"blocks of {args.block}, {args.max_tokens} tokens per request"
        )
        for i in range(args.repeat):
            r = one_round(config, tmp, not args.verbose)
            ex, ad = r["exhaustive"], r["adaptive"]
            s = ad["savings"]
            print(f"\nround {i + 1}:")
            for mode, x in (("full", ex), ("adaptive", ad)):
                b = x["best"]
                print(
                    f"  {mode:>8}: best {b.draft if b else None} ({stats.pct(b.speedup) if b else ''}), "
                    f"{x['tokens']:,} tokens, {x['wall_s']:.0f} s wall"
                )
            print(f"  {verdict(ex['runs'], ex['best'], ad['best'])}")
            print(
                f"  adaptive / full: tokens {ad['tokens'] / ex['tokens']:.0%}, wall {ad['wall_s'] / ex['wall_s']:.0%}"
                + (f"; {s.stopped} of {s.setups} setups stopped early ({s.slower} slower, {s.tied} tied)" if s else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
