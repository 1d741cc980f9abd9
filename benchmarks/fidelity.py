"""Fidelity of the client-side decode rate: median client_decode_tps / decode_tps (server's own figure)
over N requests, for the baseline and the best demo draft. Target: 1 +/- 0.02. Run by hand:

    python benchmarks/fidelity.py [--requests 12] [--max-tokens 256] [--draft draft-2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from draftbench.measure.bench import BenchConfig, run_bench  # noqa: E402
from draftbench.server import llamacpp, process  # noqa: E402
from draftbench.setup.speculation import Speculation  # noqa: E402
from draftbench.synth.demo import ensure_demo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--draft", default="draft-2")
    args = ap.parse_args(argv)
    folder = os.path.dirname(ensure_demo())
    for draft in (None, args.draft):
        spec = process.ServerSpec(
            os.path.join(folder, "target.gguf"),
            Speculation(os.path.join(folder, f"{draft}.gguf") if draft else None, draft_max=3),
            process.ServerOptions(port=0, gpu_layers=0, ctx_size=2048),
        )
        with llamacpp.launch(spec) as server:
            s = run_bench(
                BenchConfig(server.url, requests=args.requests, max_tokens=args.max_tokens, expect_draft=draft is not None)
            )
        ratios = [r.client_decode_tps / r.decode_tps for r in s.requests if r.ok and r.client_decode_tps]
        print(
            f"{draft or 'baseline':>10}: n={len(ratios)} median ratio {statistics.median(ratios):.4f} "
            f"(min {min(ratios):.4f}, max {max(ratios):.4f}); server {s.mean_tps:.2f} tok/s, "
            f"client {s.mean_client_tps:.2f} tok/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
