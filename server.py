"""Entry point: see draftbench/cli/server.py."""

from draftbench.cli.server import main

if __name__ == "__main__":
    raise SystemExit(main())
