"""``python bench.py --url URL ...``: measure a running server."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..core import files, limits
from ..core.redaction import console_text
from ..errors import ConfigError, DraftbenchError
from ..measure.bench import BenchConfig, BenchSummary, run_bench
from ..results import categories, conversations
from ..results.schema import RunResult
from ..server import lmstudio
from ..setup import prompt_files, prompts
from . import Parser, run_main


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="bench.py",
        description="Benchmark a running llama-server or "
        "OpenAI-compatible server: decode tok/s, time to first token, draft acceptance.",
    )
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    ap.setting("requests", help="measured requests")
    ap.setting("max_tokens")
    ap.add_argument(
        "--concurrency",
        type=limits.arg("concurrency"),
        default=1,
        help="requests in flight at once: N workers, each sending its next request when one ends "
        "(default 1; the server needs N slots, e.g. llama-server --parallel N)",
    )
    ap.setting("temperature")
    ap.add_argument(
        "--endpoint",
        choices=("chat", "completion"),
        default="chat",
        help="chat (the server applies the model's chat template) or completion (each prompt's text as "
        "it is: for base models and GGUFs without a template)",
    )
    ap.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable); replaces the built-in suite")
    ap.add_argument("--prompts-file", help="text file, one prompt per line; replaces the built-in suite")
    ap.add_argument(
        "--prompts",
        help="prompt set: 'builtin' (default) or a file: JSONL ({\"prompt\"} or "
        '{"messages"}, optional "category"), Spec-Bench question.jsonl, ShareGPT JSON, or text with '
        "blank lines between prompts",
    )
    ap.add_argument(
        "--conversations",
        metavar="FILE",
        help="replay conversations turn by turn with the prompt cache on, like a chat client ('builtin': the "
        "built-in chats and agent loops; or a file of Spec-Bench turns, ShareGPT, OpenAI messages or a request log); "
        "--requests counts conversations",
    )
    ap.add_argument("--categories", help="only these categories of the prompt set, comma-separated (code,math)")
    ap.setting("warmup", help="unmeasured requests first")
    ap.add_argument("--model", help="model name sent in requests")
    ap.add_argument("--api-key", help="bearer token (default: $OPENAI_API_KEY); never printed or saved")
    ap.setting("seed")
    ap.setting("request_timeout_s", "--request-timeout-s", "--timeout", help="per-request timeout in seconds")
    ap.add_argument("--expect-draft", action="store_true", help="warn loudly if speculation did not run")
    ap.add_argument("--draft-model", help="LM Studio: the draft model to use, sent with each request (implies --expect-draft)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    return ap


def _prompt_lines(path: str, texts: list[str]) -> list[str]:
    """Add the prompts of a one-per-line file to ``texts``; return what is wrong with the file."""
    try:
        lines = [line.strip() for line in files.read_text(path).splitlines() if line.strip()]
    except files.Unreadable as exc:
        return [f"--prompts-file {path} {exc.why}"]
    if not lines:
        return [f"--prompts-file {path}: the file has no prompts (one per line; blank lines are skipped)"]
    texts += lines
    return []


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    problems = [f"--prompt {i + 1} is empty: give the prompt's text" for i, t in enumerate(args.prompt) if not t.strip()]
    problems += limits.url_problem(args.url)
    texts = [t for t in args.prompt if t.strip()]
    if args.prompts_file:
        problems += _prompt_lines(args.prompts_file, texts)
    cats = tuple(c.strip() for c in (args.categories or "").split(",") if c.strip())
    suite = prompts.BUILTIN
    if args.conversations and (texts or args.prompts or args.concurrency > 1 or args.endpoint != "chat"):
        problems.append(
            "--conversations replays its own conversations, one at a time, through the chat endpoint: drop --prompt, "
            "--prompts-file, --prompts, --concurrency and --endpoint completion"
        )
    elif args.conversations:
        try:
            suite = prompt_files.load(args.conversations, ".", cats, "--conversations", replay=True)
        except ConfigError as exc:
            problems += exc.problems
    elif texts and (args.prompts or cats):
        problems.append("--prompt/--prompts-file cannot be combined with --prompts or --categories")
    elif texts:
        suite = prompts.custom(texts)
    else:
        try:
            suite = prompt_files.load(args.prompts or prompt_files.BUILTIN_NAME, ".", cats, "--prompts")
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError("command line", problems)
    return BenchConfig(
        url=args.url,
        requests=args.requests,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        warmup=args.warmup,
        prompts=suite,
        model=args.model,
        api_key=args.api_key or os.environ.get("OPENAI_API_KEY"),
        seed=args.seed,
        request_timeout_s=args.request_timeout_s,
        expect_draft=args.expect_draft or bool(args.draft_model),
        concurrency=args.concurrency,
        endpoint=args.endpoint,
        replay=bool(args.conversations),
        extra_body=tuple(lmstudio.request_fields(args.draft_model).items()),
    )


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def format_table(s: BenchSummary) -> str:
    ok = (s.n_requests or 0) - (s.n_failed_requests or 0)
    lines = [f"Server           {s.url} ({s.server_kind})", f"Requests         {ok} ok, {s.n_failed_requests} failed"]
    ci = f"  95% CI [{s.decode_tps_ci95[0]:.2f}, {s.decode_tps_ci95[1]:.2f}]" if s.decode_tps_ci95 else ""
    lines.append(f"Decode tok/s     mean {_fmt(s.mean_tps)}  median {_fmt(s.median_tps)}  stdev {_fmt(s.stdev_tps)}{ci}")
    lines.append(f"Client tok/s     mean {_fmt(s.mean_client_tps)}")
    lines.append(
        f"Aggregate tok/s  {_fmt(s.aggregate_tps)} ({s.concurrency} in flight at once, "
        f"{s.loop_wall_s:.2f} s first send to last end)"
    )
    lines.append(
        f"TTFT             mean {_fmt(s.mean_ttft_s, '.3f')} s  median {_fmt(s.median_ttft_s, '.3f')} s  "
        f"p95 {_fmt(s.p95_ttft_s, '.3f')} s"
    )
    lines.append(f"Total time       mean {_fmt(s.mean_total_time_s)} s")
    if s.acceptance_rate is not None:
        lines.append(f"Acceptance       {s.acceptance_rate:.1%} ({s.draft_n_accepted}/{s.draft_n} drafted tokens)")
        lines.append(f"Accepted length  {_fmt(s.mean_accepted_length)} tokens per target pass")
    elif s.speculation_active is False:
        lines.append("Acceptance       - (speculation NOT active)")
    per = categories.summarise(RunResult("", None, requests=list(s.requests))) or {}
    scored = conversations.scores(RunResult("", None, requests=list(s.requests)), None)
    for span in scored.spans if scored else []:
        cached = f", {span.cached_share:.0%} of the prompt from the cache" if span.cached_share is not None else ""
        lines.append(f"Turns {span.turns:<10} median wait {_fmt(span.latency_s, '.3f')} s over {span.n_turns} turns{cached}")
    if len(per) > 1:
        lines.append(
            "By category      "
            + "; ".join(
                f"{cat} {_fmt(row.decode_tps)} tok/s"
                + (f" acc {row.acceptance_rate:.0%}" if row.acceptance_rate is not None else "")
                + f" (n={row.n_requests})"
                for cat, row in per.items()
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        cfg = config_from_args(args)
        summary = run_bench(cfg, progress=lambda m: print(f"  {console_text(m)}", file=sys.stderr, flush=True))
        for w in summary.warnings:
            print(f"WARNING: {console_text(w)}", file=sys.stderr)
        if args.json:
            print(json.dumps(summary.to_dict(), indent=2))
        else:
            print(console_text(format_table(summary)))
        if summary.n_failed_requests == summary.n_requests:
            raise DraftbenchError(f"all {summary.n_requests} requests failed; first error: {summary.requests[0].error}")
        return 0

    return run_main(body)
