"""``python sweep.py --config C`` / ``--config-dir D`` / ``--demo`` / ``--results R --chart-only``."""

from __future__ import annotations

import argparse
import glob
import os
import sys

from ..core import limits, machine
from ..core.redaction import visible
from ..errors import DraftbenchError, Interrupted, ShardError
from ..report import compare_page
from ..results import compare, evaluate, fleet
from ..results.evaluate import EvalSettings
from ..results.jsonfile import load_results, save_results
from ..server.process import install_sigterm_handler
from ..setup.config import SweepConfig, load_config
from ..sweep import dryrun, schedule_check, shards
from ..sweep.console import evaluation_lines
from ..sweep.runner import Sweep, SweepOutcome, default_results_path, summary_lines
from . import Parser, run_main
from .outputs import Outputs


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="sweep.py",
        description="Benchmark every target x draft combination and report which draft makes speculative decoding fastest.",
    )
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--config", help="sweep config (JSON)")
    src.add_argument("--config-dir", help="run every *.json here except example_*.json, in sorted order")
    src.add_argument("--demo", action="store_true", help="sweep the built-in synthetic demo models")
    src.add_argument(
        "--compare",
        nargs="+",
        metavar="RESULTS",
        help="compare results files (paths, globs or folders; the original tool's files too) on one page "
        "(--chart, default compare.html) with a 'choosing a draft' table derived from them",
    )
    src.add_argument(
        "--merge",
        nargs="+",
        metavar="SHARDS",
        help="merge the results files of a sweep's shards (paths, globs or folders of *_shard-I-of-N.json) "
        "into one results file (--results, default: their name without _shard-I-of-N) and report",
    )
    ap.add_argument("--results", help="results JSON (default results/<hardware>_<backend>_<name>.json)")
    ap.add_argument("--chart", help="HTML report (default: the results path with .html)")
    ap.add_argument("--chart-only", action="store_true", help="only re-render the report from --results")
    ap.add_argument(
        "--check-schedule",
        metavar="RESULTS",
        help="run a results file's serving schedule again on llama-server, level by level, against the best fixed "
        "setup and no speculation, and print what each level promised and delivers",
    )
    ap.add_argument("--fresh", action="store_true", help="ignore existing results and start over")
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="check the config, prompts and llama-server flags and print the plan with each server's "
        "command line and an estimate of the time; starts no server, writes nothing",
    )
    ap.add_argument(
        "--adaptive",
        action="store_true",
        help="adaptive search: stop measuring a setup once it is clearly slower than the best so far or "
        'tied with it (the config\'s "search": "adaptive"; default: every setup in full)',
    )
    ap.add_argument("--format", choices=("md", "csv"), help="also print a Markdown or CSV table on stdout")
    ap.add_argument(
        "--shard",
        metavar="I/N",
        help="measure part I of N of the plan (from 0) into its own results file (..._shard-I-of-N.json); "
        "default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX when set",
    )
    ap.add_argument(
        "--shard-count",
        type=limits.arg("shards"),
        metavar="N",
        help="the shard count beside a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (default: settings.shards)",
    )
    return ap


ShardFlags = tuple[str | None, int | None]  # --shard, --shard-count


def _shard(cfg: SweepConfig, text: str | None, count: int | None) -> shards.Shard | None:
    """The shard this process measures: --shard, else the scheduler's environment; None for the whole plan."""
    if text is not None:
        if count is not None:
            raise ShardError("--shard-count goes with JOB_COMPLETION_INDEX; --shard I/N already gives the count")
        return shards.parse(text)
    found = shards.from_environment(os.environ, count, cfg.settings.shards)
    if found is not None:
        print(f"Shard from the scheduler: {found.text()}", file=sys.stderr)
    return found


def chart_only(results: str, chart: str | None, fmt: str | None) -> int:
    out = Outputs.of(results, chart, fmt, writes_results=False)
    out.check([("--results", results)], writable=False)  # the write itself says why it cannot
    meta, ev = evaluate.load(results)
    out.publish(meta, ev, [*evaluation_lines(ev), f"Chart saved to {out.chart}"])
    return 0


def run_one(
    config_path: str,
    results: str | None,
    chart: str | None,
    fresh: bool,
    fmt: str | None,
    adaptive: bool = False,
    shard: ShardFlags | None = None,
) -> SweepOutcome:
    cfg = load_config(config_path)
    if adaptive:
        cfg = cfg.with_search("adaptive")
    sweep = Sweep(cfg, results, fresh, shard=_shard(cfg, *shard) if shard is not None else None)
    out = Outputs.of(sweep.results_path, chart, fmt)
    out.check(cfg.input_files())  # before any server starts, not after hours of measuring
    outcome = None
    try:
        outcome = sweep.run()
    finally:
        if sweep.runs and os.path.exists(sweep.results_path):  # the runs in memory, also after an interrupt
            try:
                out.report(sweep.store.meta, sweep.store.evaluation)
            except (DraftbenchError, OSError):
                if outcome is not None:
                    raise
    outcome.chart_path, outcome.shard = out.chart, sweep.shard is not None
    out.say(sweep.store.meta, outcome.evaluation, summary_lines(outcome))
    return outcome


def compare_files(paths: list[str], chart: str | None, fmt: str | None) -> int:
    Outputs(chart or "compare.html").check([("--compare", p) for p in compare.expand(paths)], writable=False)
    good, bad = compare.load(paths)
    for path, why in bad:
        print(f"warning: left out {visible(path)}: {visible(why)}", file=sys.stderr)
    if not good:
        raise DraftbenchError(f"--compare: no readable results file in {' '.join(paths)}")
    rows = compare.entries(good)
    page = compare_page.write(chart or "compare.html", rows, [p for p, _, _ in good], bad)
    if fmt == "md":
        sys.stdout.write(compare_page.markdown(rows))
    elif fmt == "csv":
        sys.stdout.write(compare_page.to_csv(rows))
    else:
        print("Choosing a draft (derived from these files):")
        for bucket in compare.choosing_table(rows):
            print("  " + visible(compare.bucket_line(bucket)))
    print(f"Compared {len(good)} file(s), {len(rows)} target(s); page saved to {page}", file=sys.stderr)
    return 1 if bad else 0


def shard_files(paths: list[str]) -> list[str]:
    """Files as given; in folders (and globs), the shards' files: *_shard-I-of-N.json."""
    out = []
    for p in paths:
        found = compare.expand([p])
        out += (
            found if found == [p] else [f for f in found if f.endswith(".json") and shards.SUFFIX.search(os.path.splitext(f)[0])]
        )
    return list(dict.fromkeys(out))


def merge_shards(paths: list[str], results: str | None, chart: str | None, fmt: str | None) -> int:
    """``--merge``: the shards of one sweep into one results file and one report; every check before any write."""
    found = shard_files(paths)
    if not found:
        raise ShardError(f"--merge {' '.join(paths)}: no shard results files there (named *_shard-I-of-N.json)")
    loaded = [(path, *load_results(path)) for path in found]  # a file that cannot be read is named, nothing written
    meta, runs = fleet.merge(loaded, [os.path.basename(sys.argv[0])] + sys.argv[1:])
    target = results or shards.unsharded_name(found[0])
    out = Outputs.of(target, chart, fmt)
    out.check([("--merge", p) for p in found])
    there = load_results(target)[0] if os.path.exists(target) else None
    if there is not None and not there.shards:
        raise ShardError(
            f"--results {target} exists and is not a merged result (a sweep of its own?): merging would "
            "replace it; give --results another path"
        )
    if there is not None and {s.config_hash for s in there.shards} != {s.config_hash for s in meta.shards or []}:
        raise ShardError(
            f"--results {target} holds the merge of another sweep (another config): merging would replace it; "
            "give --results another path"
        )
    ev = evaluate.evaluate(runs, EvalSettings.of(meta.settings))
    save_results(target, meta, list(ev.runs), ev.computed())
    out.publish(
        meta,
        ev,
        [
            *evaluation_lines(ev),
            f"Merged {len(found)} shards ({sum(1 for r in runs if r.draft is not None)} "
            f"setup runs, {sum(1 for r in runs if r.draft is None)} baselines) into {target}; report "
            f"{out.chart}",
        ],
    )
    return 0


def dry_run(
    config: str | None,
    folder: str | None,
    results: str | None,
    adaptive: bool,
    chart: str | None = None,
    shard_flags: ShardFlags = (None, None),
) -> int:
    paths = [config] if config else _configs_in(folder or "")
    for path in paths:
        cfg = load_config(path)
        if adaptive:
            cfg = cfg.with_search("adaptive")
        shard = _shard(cfg, *shard_flags) if config else None
        hardware = machine.hardware_id() if cfg.hardware in ("", "auto") else cfg.hardware
        target = results if config and results else default_results_path(cfg, hardware, shard)
        out = Outputs.of(target, chart if config else None, None)
        out.check(cfg.input_files(), writable=False)  # what the run would refuse, the dry run refuses
        print(f"# {path}")
        for line in dryrun.plan_lines(cfg, target, shard):
            print(line)
    return 0


def _configs_in(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        raise DraftbenchError(f"--config-dir {folder}: not a folder")
    paths = sorted(p for p in glob.glob(os.path.join(folder, "*.json")) if not os.path.basename(p).startswith("example_"))
    if not paths:
        raise DraftbenchError(f"--config-dir {folder}: no *.json configs (example_*.json are skipped)")
    return paths


def config_dir(folder: str, fmt: str | None, fresh: bool, adaptive: bool = False) -> int:
    paths = _configs_in(folder)
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


# The options each mode uses; any other one given with it is refused rather than silently ignored.
_MODES = {
    "config": ("results", "chart", "fresh", "adaptive", "format", "dry_run", "shard", "shard_count"),
    "config_dir": ("fresh", "adaptive", "format", "dry_run"),  # each config writes its own default files
    "demo": ("results", "chart", "fresh", "adaptive", "format"),
    "compare": ("chart", "format"),
    "merge": ("results", "chart", "format"),
    "chart_only": ("results", "chart", "format"),
    "check_schedule": (),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_mode(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The one mode the arguments ask for; exit 2 naming a flag it would ignore."""
    given = [m for m in _MODES if getattr(args, m)]
    if len(given) > 1:  # only --chart-only can meet another mode here: the others exclude each other
        parser.error(f"{_flag(given[1])} cannot be combined with {_flag(given[0])}")
    if not given:
        parser.error(
            "give --config PATH, --config-dir DIR, --demo, --compare FILES, --merge SHARDS, --check-schedule RESULTS, or "
            "--results PATH --chart-only"
        )
    mode = given[0]
    ignored = [
        _flag(k)
        for k in ("results", "chart", "fresh", "adaptive", "format", "dry_run", "shard", "shard_count")
        if getattr(args, k) and k not in _MODES[mode]
    ]
    if ignored:
        names = ", ".join(ignored[:-1]) + " and " + ignored[-1] if len(ignored) > 1 else ignored[0]
        parser.error(
            f"{names} cannot be combined with {_flag(mode)}: {_flag(mode)} would ignore {'them' if len(ignored) > 1 else 'it'}"
        )
    if mode == "chart_only" and not args.results:
        parser.error("--chart-only needs --results PATH")
    return mode


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_mode(parser, args)

    def body() -> int:
        if args.chart_only:
            return chart_only(args.results, args.chart, args.format)
        if args.check_schedule:
            print("\n".join(schedule_check.check(args.check_schedule, lambda m: print(m, file=sys.stderr, flush=True))))
            return 0
        if args.compare:
            return compare_files(args.compare, args.chart, args.format)
        if args.merge:
            return merge_shards(args.merge, args.results, args.chart, args.format)
        shard = (args.shard, args.shard_count)
        if args.dry_run:
            return dry_run(args.config, args.config_dir, args.results, args.adaptive, args.chart, shard)
        install_sigterm_handler()
        if args.config_dir:
            return config_dir(args.config_dir, args.format, args.fresh, args.adaptive)
        config = args.config
        if args.demo:
            from ..synth.demo import ensure_demo

            config = ensure_demo()
        outcome = run_one(
            config, args.results, args.chart, args.fresh, args.format, args.adaptive, shard if args.config else None
        )
        if outcome.failures and outcome.shard:
            # a shard's failed setups are recorded and the merge reports them: exit 0, so that a scheduler's
            # merge (Slurm's afterok, an Indexed Job's completion) still runs (docs/fleet.md)
            print(
                f"{len(outcome.failures)} of this shard's runs failed: recorded in {outcome.results_path}; "
                "the merge reports them",
                file=sys.stderr,
            )
            return 0
        return 1 if outcome.failures else 0

    return run_main(body)
