"""Entry point: see draftbench/cli/sweep.py."""

from draftbench.cli.sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
