"""Harness overhead of the demo sweep: wall time minus server loads minus generation. Target <= 2%.
Run by hand: python benchmarks/sweep_overhead.py"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from draftbench.setup.config import load_config  # noqa: E402
from draftbench.sweep.runner import Sweep  # noqa: E402
from draftbench.synth.demo import ensure_demo  # noqa: E402


def main() -> int:
    cfg = load_config(ensure_demo())
    with tempfile.TemporaryDirectory() as tmp:
        outcome = Sweep(cfg, os.path.join(tmp, "demo.json"), fresh=True).run()
    acct = outcome.accounting
    print(acct.line())
    print(f"overhead share: {acct.overhead_s / acct.wall_s:.2%} (target <= 2%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
