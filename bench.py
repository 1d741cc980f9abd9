"""Entry point: see draftbench/cli/bench.py."""

from draftbench.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
