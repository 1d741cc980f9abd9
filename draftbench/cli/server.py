"""``python server.py {llama-cpp,vllm,lm-studio} ...``: start one server in the foreground."""

from __future__ import annotations

import argparse
import sys
import time

from ..core import limits
from ..errors import ConfigError, DraftbenchError
from ..server import backends, lmstudio, process
from ..setup.backend import BACKENDS
from ..setup.speculation import AXES, Speculation, managed_problem, parse_types
from . import Parser, run_main, split_passthrough


def _host(text: str) -> str:
    why = limits.host_problem(text)
    if why:
        raise argparse.ArgumentTypeError(why)
    return text


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="server.py",
        description="Start an inference server and keep it in the "
        "foreground until Ctrl-C. Arguments after -- go to the server unchanged.",
    )
    sub = ap.add_subparsers(dest="backend", required=True)
    for backend in BACKENDS.values():
        p = sub.add_parser(backend.cli_name)
        p.add_argument("--model-path", required=True, help="target model (GGUF file for llama-cpp)")
        p.add_argument("--draft-path", help="draft model for speculative decoding")
        p.setting("port", help="0 picks a free port")
        p.add_argument("--host", type=_host, default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        p.setting("ready_timeout_s", "--ready-timeout", help="seconds to wait for the model to load")
        if backend.llama_flags:
            p.setting("gpu_layers")
            p.add_argument("--llama-bin", help="path to llama-server")
        if backend.sweeps:  # a server draftbench starts: its context and how it speculates
            p.setting("ctx_size")
            p.add_argument(
                "--spec-type",
                help="speculation types, comma-separated (e.g. ngram-mod, or "
                "draft-simple,ngram-mod; vLLM runs one: draft-simple, ngram-simple, draft-mtp, "
                "draft-eagle3, draft-dflash); default draft-simple with --draft-path",
            )
        for axis in AXES.values():
            if backend.llama_flags or axis.vllm_key:
                p.add_argument(axis.flag, type=limits.arg(axis.limit), help=axis.help)
    return ap


def speculation_from_args(args: argparse.Namespace) -> Speculation:
    """The setup the flags describe (their values are checked by their argparse types, limits.arg)."""
    values = {name: getattr(args, name, None) for name in AXES}
    types = parse_types(getattr(args, "spec_type", None) or "")
    if getattr(args, "spec_type", None) is not None and not types:
        raise ConfigError("command line", ["--spec-type: give one or more types, comma-separated, such as ngram-mod"])
    return Speculation(args.draft_path, types, **{k: v for k, v in values.items() if v is not None})


def _serve(server: process.ServerProcess) -> int:
    with server:
        print(server.url, flush=True)
        print(f"ready in {server.load_time_s:.1f} s ({server.version}); log: {server.log_path}; Ctrl-C to stop", file=sys.stderr)
        try:
            while server.alive():
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopping server ...", file=sys.stderr)
            return 0
    raise DraftbenchError(f"server exited unexpectedly (log: {server.log_path})\n{server.log_tail()}")


def main(argv: list[str] | None = None) -> int:
    ours, extra = split_passthrough(argv)
    parser = build_parser()
    args = parser.parse_args(ours)
    if managed_problem(extra):  # the arguments after --: a --port there would be waited for on the wrong port
        parser.error(str(managed_problem(extra)).replace("extra_args", "the arguments after --"))
    backend = next(b for b in BACKENDS.values() if b.cli_name == args.backend)

    def body() -> int:
        process.install_sigterm_handler()
        if backend.sweeps:
            options = process.ServerOptions(
                host=args.host,
                port=args.port,
                extra_args=tuple(extra),
                ready_timeout_s=args.ready_timeout,
                ctx_size=args.ctx_size,
                **({"gpu_layers": args.gpu_layers, "llama_bin": args.llama_bin} if backend.llama_flags else {}),
            )
            return _serve(backends.launch(backend, process.ServerSpec(args.model_path, speculation_from_args(args), options)))
        spec = lmstudio.LMStudioSpec(args.model_path, args.draft_path, args.port)
        with lmstudio.LMStudioServer(spec) as lms:
            print(lms.url, flush=True)
            print("LM Studio server running; Ctrl-C to unload and stop", file=sys.stderr)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                return 0

    return run_main(body)
