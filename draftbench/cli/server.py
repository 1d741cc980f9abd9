"""``python server.py {llama-cpp,vllm,lm-studio} ...``: start one server in the foreground."""

from __future__ import annotations

import argparse
import sys
import time

from . import run_main, split_passthrough
from .. import backends, launcher
from ..errors import DraftbenchError


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="server.py", description="Start an inference server and keep it in the "
                                 "foreground until Ctrl-C. Arguments after -- go to the server unchanged.")
    sub = ap.add_subparsers(dest="backend", required=True)
    for name in ("llama-cpp", "vllm", "lm-studio"):
        p = sub.add_parser(name)
        p.add_argument("--model-path", required=True, help="target model (GGUF file for llama-cpp)")
        p.add_argument("--draft-path", help="draft model for speculative decoding")
        p.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
        p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        p.add_argument("--draft-max", type=int, help="tokens drafted per step")
        p.add_argument("--ready-timeout", type=float, default=600.0, help="seconds to wait for the model to load")
        if name == "llama-cpp":
            p.add_argument("--gpu-layers", type=int, default=99)
            p.add_argument("--ctx-size", type=int, default=4096)
            p.add_argument("--llama-bin", help="path to llama-server")
            p.add_argument("--draft-min", type=int)
            p.add_argument("--draft-p-min", type=float)
    return ap


def _serve(server: launcher.ServerProcess) -> int:
    with server:
        print(server.url, flush=True)
        print(f"ready in {server.load_time_s:.1f} s ({server.version}); log: {server.log_path}; "
              "Ctrl-C to stop", file=sys.stderr)
        try:
            while server.alive():
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopping server ...", file=sys.stderr)
            return 0
    raise DraftbenchError(f"server exited unexpectedly (log: {server.log_path})\n{server.log_tail()}")


def main(argv: list[str] | None = None) -> int:
    ours, extra = split_passthrough(argv)
    args = build_parser().parse_args(ours)

    def body() -> int:
        launcher.install_sigterm_handler()
        if args.backend == "llama-cpp":
            spec = launcher.ServerSpec(
                target=args.model_path, draft=args.draft_path, host=args.host, port=args.port,
                gpu_layers=args.gpu_layers, ctx_size=args.ctx_size, llama_bin=args.llama_bin,
                draft_max=args.draft_max, draft_min=args.draft_min, draft_p_min=args.draft_p_min,
                extra_args=tuple(extra), ready_timeout_s=args.ready_timeout)
            return _serve(launcher.launch_llama(spec))
        if args.backend == "vllm":
            spec = backends.VllmSpec(args.model_path, args.draft_path, args.host, args.port,
                                     args.draft_max or 5, tuple(extra), args.ready_timeout)
            return _serve(backends.launch_vllm(spec))
        spec = backends.LMStudioSpec(args.model_path, args.draft_path, args.port)
        with backends.LMStudioServer(spec) as lms:
            print(lms.url, flush=True)
            print("LM Studio server running; Ctrl-C to unload and stop", file=sys.stderr)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                return 0

    return run_main(body)
