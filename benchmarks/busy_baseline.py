"""The demo sweep three times: on a quiet machine, with busy loops on every CPU while the baseline is measured
(from the sweep's start until the first setup starts), and quiet again. Prints each setup's speedup in each, the
busy run's ratio to the first quiet one, and the second quiet run's (the machine's own run-to-run noise), and each
recommendation (target: every speedup within 10% of the quiet run's, or within the quiet runs' own spread, and the
same recommendation).

    python benchmarks/busy_baseline.py [folder] [--requests N] [--table]
    (--requests: the demo's config with N requests per setup; --table: only print the table of the files there)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draftbench.results import evaluate  # noqa: E402
from draftbench.synth.demo import demo_dir  # noqa: E402

MARK = b"32-layer target + "  # the first setup's title: the baseline is done
HOG = "import time\nt = time.time() + 1200\nwhile time.time() < t: pass\n"


def sweep(results: str, busy: bool, config: str | None) -> None:
    hogs = (
        [subprocess.Popen([sys.executable, "-c", HOG], start_new_session=True) for _ in range(os.cpu_count() or 1)]
        if busy
        else []
    )
    source = ["--config", config] if config else ["--demo"]
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "sweep.py"), *source, "--fresh", "--results", results],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = b""
    try:
        while hogs and (chunk := os.read(proc.stderr.fileno(), 4096)):
            sys.stderr.buffer.write(chunk)
            seen += chunk
            if MARK in seen:
                break
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    for line in proc.stderr:
        sys.stderr.buffer.write(line)
    proc.wait()


def main() -> None:
    args = sys.argv[1:]
    requests = int(args[args.index("--requests") + 1]) if "--requests" in args else None
    folder = next((a for a in args if not a.startswith("--") and not a.isdigit()), "/tmp/busy-baseline")
    os.makedirs(folder, exist_ok=True)
    config = None
    if requests:
        demo = json.load(open(os.path.join(demo_dir(), "sweep.json"), encoding="utf-8"))
        demo["settings"]["requests"] = requests
        config = os.path.join(folder, "demo.json")
        json.dump(demo, open(config, "w", encoding="utf-8"))
    paths = {name: os.path.join(folder, f"{name}.json") for name in ("quiet", "busy", "quiet-again")}
    for name, path in paths.items() if "--table" not in args else ():
        sweep(path, name == "busy", config)
    evs = {name: evaluate.load(path)[1] for name, path in paths.items() if os.path.exists(path)}
    quiet = {r.draft: r for r in evs["quiet"].runs if r.draft and r.speedup}
    again = {r.draft: r for r in evs.get("quiet-again", evs["quiet"]).runs if r.draft and r.speedup}
    print(f"{'setup':<28}{'quiet':>24}{'busy baseline':>24}{'quiet again':>24}{'busy/quiet':>12}{'again/quiet':>12}")
    worst, noise = 0.0, 0.0
    for r in evs["busy"].runs:
        if r.draft in quiet and r.speedup:
            q, a = quiet[r.draft], again.get(r.draft, quiet[r.draft])
            worst, noise = max(worst, abs(r.speedup / q.speedup - 1)), max(noise, abs(a.speedup / q.speedup - 1))
            print(
                f"{r.draft:<28}{_said(q):>24}{_said(r):>24}{_said(a):>24}{r.speedup / q.speedup:>12.3f}"
                f"{a.speedup / q.speedup:>12.3f}"
            )
    base = {name: next(r for r in ev.runs if r.draft is None) for name, ev in evs.items()}
    for name, b in base.items():
        print(
            f"{name}: baseline first measured at {b.mean_tps:.2f} tok/s with other processes at "
            f"{b.other_cpu_share or 0:.0%} of the CPUs; checks: "
            + ", ".join(f"{len(c.requests)} requests at {c.other_cpu_share or 0:.0%}" for c in b.baseline_checks or [])
        )
        print(f"{name}: {evs[name].recommendations[0].sentence()}")
    print(
        f"worst speedup difference, busy baseline vs quiet: {worst:.1%} (target <= 10%); quiet again vs quiet: "
        f"{noise:.1%} (the machine's own run-to-run spread)"
    )


def _said(r) -> str:
    lo, hi = r.speedup_ci95 or (0, 0)
    return f"{r.speedup:.3f} [{lo:.2f}, {hi:.2f}]"


if __name__ == "__main__":
    main()
