"""Run a command-line entry point inside the test process, as a user's command would run: for the many
checks of bad input that end before any server starts (a subprocess per case would cost a second each)."""

from __future__ import annotations

import io
import os
import signal
from contextlib import redirect_stderr, redirect_stdout

from draftbench.cli import bench as cli_bench
from draftbench.cli import server as cli_server
from draftbench.cli import sweep as cli_sweep

MAINS = {"sweep.py": cli_sweep.main, "bench.py": cli_bench.main, "server.py": cli_server.main}


def call(script: str, *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``script`` with ``argv``. An exception other than argparse's exit
    propagates: it is the traceback a user would see. SIGTERM's handler is put back afterwards."""
    out, err = io.StringIO(), io.StringIO()
    term = signal.getsignal(signal.SIGTERM)
    debug = os.environ.pop("DRAFTBENCH_DEBUG", None)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                status = MAINS[script](list(argv))
            except SystemExit as exc:  # argparse: usage errors exit 2, --help 0
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        signal.signal(signal.SIGTERM, term)
        if debug is not None:
            os.environ["DRAFTBENCH_DEBUG"] = debug
    return status, out.getvalue(), err.getvalue()


def snapshot(folder: str) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a regular file's bytes, or what else it is (a link's target, 'fifo')."""
    found: dict[str, bytes | str] = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[rel] = "link -> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    found[rel] = fh.read()
            elif not os.path.isdir(path):
                found[rel] = "special"
    return found
