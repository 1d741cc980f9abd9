"""``python sweep.py --config C`` / ``--config-dir D`` / ``--demo`` / ``--results R --chart-only``."""

from __future__ import annotations

import argparse
import glob
import os
import sys

from . import run_main
from .. import export, report
from ..config import load_config
from ..errors import DraftbenchError, Interrupted
from ..launcher import install_sigterm_handler
from ..results import load_results
from ..sweep import Sweep, SweepOutcome, summary_lines


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sweep.py", description="Benchmark every target x draft combination and "
                                 "report which draft makes speculative decoding fastest.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--config", help="sweep config (JSON)")
    src.add_argument("--config-dir", help="run every *.json here except example_*.json, in sorted order")
    src.add_argument("--demo", action="store_true", help="sweep the built-in synthetic demo models")
    ap.add_argument("--results", help="results JSON (default results/<hardware>_<backend>_<name>.json)")
    ap.add_argument("--chart", help="HTML report (default: the results path with .html)")
    ap.add_argument("--chart-only", action="store_true", help="only re-render the report from --results")
    ap.add_argument("--fresh", action="store_true", help="ignore existing results and start over")
    ap.add_argument("--adaptive", action="store_true",
                    help="adaptive search: stop measuring a setup once it is clearly slower than the best so far or "
                         "tied with it (the config's \"search\": \"adaptive\"; default: every setup in full)")
    ap.add_argument("--format", choices=("md", "csv"), help="also print a Markdown or CSV table on stdout")
    return ap


def _chart_path(results: str, chart: str | None) -> str:
    return chart or os.path.splitext(results)[0] + ".html"


def _print_export(fmt: str | None, meta: dict, runs: list) -> None:
    if fmt == "md":
        sys.stdout.write(export.to_markdown(meta, runs))
    elif fmt == "csv":
        sys.stdout.write(export.to_csv(runs))


def chart_only(results: str, chart: str | None, fmt: str | None) -> int:
    data = load_results(results)
    runs = data.pop("results")
    path = report.write_report(_chart_path(results, chart), data, runs)
    print(f"Chart saved to {path}", file=sys.stderr)
    _print_export(fmt, data, runs)
    return 0


def run_one(config_path: str, results: str | None, chart: str | None, fresh: bool, fmt: str | None,
            adaptive: bool = False) -> SweepOutcome:
    cfg = load_config(config_path)
    if adaptive:
        cfg = cfg.with_search("adaptive")
    sweep = Sweep(cfg, results, fresh)
    try:
        outcome = sweep.run()
    finally:
        if sweep.runs and os.path.exists(sweep.results_path):
            try:
                data = load_results(sweep.results_path)
                report.write_report(_chart_path(sweep.results_path, chart), data, data["results"])
            except DraftbenchError:
                pass
    outcome.chart_path = _chart_path(outcome.results_path, chart)
    for line in summary_lines(outcome):
        print(line, file=sys.stderr)
    _print_export(fmt, sweep.meta, outcome.runs)
    return outcome


def config_dir(folder: str, fmt: str | None, fresh: bool, adaptive: bool = False) -> int:
    if not os.path.isdir(folder):
        raise DraftbenchError(f"--config-dir {folder}: not a folder")
    paths = sorted(p for p in glob.glob(os.path.join(folder, "*.json"))
                   if not os.path.basename(p).startswith("example_"))
    if not paths:
        raise DraftbenchError(f"--config-dir {folder}: no *.json configs (example_*.json are skipped)")
    summary = []
    for path in paths:
        print(f"\n##### {path}", file=sys.stderr)
        try:
            outcome = run_one(path, None, None, fresh, fmt, adaptive)
            status = "ok" if not outcome.failures else f"{len(outcome.failures)} failed run(s)"
            summary.append((path, status, f"{outcome.results_path}, {outcome.chart_path}"))
        except Interrupted:
            raise
        except DraftbenchError as exc:
            first = str(exc).splitlines()[0]
            print(f"error: {exc}", file=sys.stderr)
            summary.append((path, "FAILED", first))
    print("\n=== Config summary ===", file=sys.stderr)
    for path, status, detail in summary:
        print(f"  {status:>6}  {path}: {detail}", file=sys.stderr)
    return 0 if all(s == "ok" for _, s, _ in summary) else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.chart_only and not args.results:
        parser.error("--chart-only needs --results PATH")
    if not (args.config or args.config_dir or args.demo or args.chart_only):
        parser.error("give --config PATH, --config-dir DIR, --demo, or --results PATH --chart-only")

    def body() -> int:
        if args.chart_only:
            return chart_only(args.results, args.chart, args.format)
        install_sigterm_handler()
        if args.config_dir:
            return config_dir(args.config_dir, args.format, args.fresh, args.adaptive)
        config = args.config
        if args.demo:
            from ..demo import ensure_demo

            config = ensure_demo()
        outcome = run_one(config, args.results, args.chart, args.fresh, args.format, args.adaptive)
        return 1 if outcome.failures else 0

    return run_main(body)
