"""How often does the adaptive search's stopping rule stop the true best setup? A simulation of whole
adaptive searches (no servers) through the same rule the sweep uses (draftbench.sweep.stopping), in scenarios
with near rivals, prompt-by-setup effects and occasional slow outliers. Target: <= 5% in every scenario.

Run by hand: python benchmarks/adaptive_errors.py [--trials 2000]"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from draftbench.sweep import stopping  # noqa: E402

PROMPT_SD = 0.25  # prompts differ a lot in speed: cancels in the paired ratios
SETUP_PROMPT_SD = 0.06  # a setup's own per-prompt effect (acceptance differs by kind of text)
NOISE_SD = 0.04  # request-to-request timing noise
OUTLIER_P, OUTLIER = 0.03, -0.5  # a request slowed down by something else on the machine

SCENARIOS = {
    "one clear best, 14 losers": [0.40] + [0.40 - 0.15 - 0.05 * i for i in range(14)],
    "best +50% vs rival +45%": [math.log(1.50), math.log(1.45)] + [math.log(1.1)] * 8,
    "best 4% ahead of 4 rivals": [math.log(1.40)] + [math.log(1.35)] * 4 + [math.log(0.9)] * 5,
    "all slower than baseline": [math.log(0.95)] + [math.log(0.8)] * 9,
    "equal best pair (tie)": [math.log(1.3), math.log(1.3)] + [math.log(1.0)] * 8,
}


def measure(mu: float, prompts: list[float], rng: random.Random) -> list[float]:
    out = []
    for p in prompts:
        x = mu + p + rng.gauss(0, SETUP_PROMPT_SD) + rng.gauss(0, NOISE_SD)
        if rng.random() < OUTLIER_P:
            x += OUTLIER
        out.append(30.0 * math.exp(x))
    return out


def one_search(mus: list[float], total: int, block: int, rng: random.Random) -> tuple[bool, bool, float]:
    """(true best stopped, recommendation worse than the best by more than the resolution, token share).

    The sweep's procedure (draftbench.sweep.adaptive.Search): screening gives every setup one block with no look;
    the race takes them best first block first, each one's looks against the best finished setup then."""
    prompts = [rng.gauss(0, PROMPT_SD) for _ in range(total)]
    base = measure(0.0, prompts, rng)
    fulls = [measure(mu, prompts, rng) for mu in mus]  # what each setup would measure, request by request
    order = sorted(range(len(mus)), key=lambda k: -(stopping.geo_speedup(fulls[k][:block], base) or 0.0))
    finished: dict[str, list[float]] = {}
    stopped: dict[int, str | None] = {}
    used = total
    for k in order:
        full = fulls[k]
        n = total
        for look, upto in enumerate(range(block, total, block), 1):
            label = stopping.leader(finished, base)
            ref = base if label == "baseline" else finished[label]
            d = stopping.decide(full[:upto], ref, label, stopping.alpha_at(look, total, block))
            if d is not None and d.pruned:
                stopped[k] = d.stop
                n = upto
                break
        used += n
        if k not in stopped:
            finished[str(k)] = full
    best = max(range(len(mus)), key=lambda k: mus[k])
    pick = stopping.leader(finished, base)
    picked_mu = 0.0 if pick == "baseline" else mus[int(pick)]
    wrong = max(mus[best], 0.0) - picked_mu > math.log1p(stopping.RESOLUTION)
    kind = stopped.get(best)
    error = (kind == "slower" and mus[best] > 0) or (kind == "tied" and not _tied_fairly(mus, best))
    return error, wrong, used / (total * (len(mus) + 1))


def _tied_fairly(mus: list[float], best: int) -> bool:
    """Stopping the best as 'tied' is no error when a rival truly is within the resolution of it."""
    return any(k != best and mus[best] - mus[k] <= math.log1p(stopping.RESOLUTION) for k in range(len(mus)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--block", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(
        f"{args.trials} simulated searches per scenario, {args.requests} requests per setup in blocks of "
        f"{args.block}; noise sd {NOISE_SD}, setup x prompt sd {SETUP_PROMPT_SD}, {OUTLIER_P:.0%} outliers"
    )
    for name, mus in SCENARIOS.items():
        stops = wrongs = 0
        share = 0.0
        for _ in range(args.trials):
            s, w, u = one_search(mus, args.requests, args.block, rng)
            stops += s
            wrongs += w
            share += u
        print(
            f"  {name:28s} true best stopped {stops / args.trials:6.2%} (target <= 5%), pick worse than the best "
            f"by > {stopping.RESOLUTION:.0%} {wrongs / args.trials:6.2%}, tokens {share / args.trials:.0%} of the full sweep"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
