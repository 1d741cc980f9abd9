"""The thin top layer: the command-line entry points (``server``, ``bench``, ``sweep``; ``draftbench synth`` runs
the model family generator). Each parses its arguments into typed values, calls the layers below and turns a
``DraftbenchError`` into one line and an exit code (``run_main``); what a sweep command writes goes through one
exporter (``outputs``); ``__main__`` runs ``python -m draftbench.cli``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NoReturn

from ..core import limits
from ..core.redaction import console_text
from ..errors import DraftbenchError
from ..setup.levels import LEVELS
from ..setup.settings import ServerOptions, SweepSettings


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors made visible: a control character in an argument is echoed as an escape."""

    def error(self, message: str) -> NoReturn:
        super().error(console_text(message))

    def setting(self, name: str, *flags: str, help: str | None = None) -> None:
        """A flag for one of a sweep's settings (``--max-tokens`` for ``max_tokens``, or ``flags``): its bounds
        from core.limits, its default from the settings' dataclass, so a flag and a config key never differ."""
        owner = SweepSettings if name in SweepSettings.__dataclass_fields__ else ServerOptions
        default = getattr(owner, name)
        default = default[0] if name in LEVELS else default  # a level: one value per command (a sweep takes a list)
        self.add_argument(
            *(flags or ["--" + name.replace("_", "-")]),
            type=limits.arg(name),
            default=default,
            help=f"{help + ' ' if help else ''}(default {default})",
        )


def run_main(body: Callable[[], int]) -> int:
    """Run a command body; turn DraftbenchError and Ctrl-C into a one-line message and an exit code."""
    debug = os.environ.get("DRAFTBENCH_DEBUG") == "1"
    try:
        return body()
    except DraftbenchError as exc:
        if debug:
            raise
        print(f"error: {console_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (| head): the reader has what it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0


def split_passthrough(argv: list[str] | None) -> tuple[list[str], list[str]]:
    """Split ``argv`` at a bare ``--``: (our arguments, arguments passed to the server)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" in args:
        i = args.index("--")
        return args[:i], args[i + 1 :]
    return args, []


COMMANDS = {  # name: what it does, one line each (``draftbench --help``)
    "sweep": "measure a target x setup matrix from a JSON config, resume it, report, compare, merge a fleet's parts",
    "bench": "measure an OpenAI-compatible server that is already running",
    "server": "start one inference server in the foreground with a speculation setup (Ctrl-C stops it)",
    "synth": "generate a family of small synthetic GGUF models (the demo's and the tests')",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, what in COMMANDS.items()]
    return "usage: draftbench COMMAND [options]   (draftbench COMMAND --help for its options)\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``draftbench <server|bench|sweep|synth> ...``"""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        asked = bool(args) and args[0] in ("-h", "--help")
        if args and not asked:
            print(f"error: unknown command {console_text(args[0])!r}", file=sys.stderr)
        print(usage(), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    name, rest = args[0], args[1:]
    if name == "synth":
        from ..synth import model_family

        return run_main(lambda: model_family.main(rest))
    module = __import__(f"draftbench.cli.{name}", fromlist=["main"])
    return module.main(rest)
