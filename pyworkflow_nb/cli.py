"""Command line: ``python -m pyworkflow_nb demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m pyworkflow_nb",
                                     description="Durable workflows for notebooks.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run a demo workflow on the default store and narrate it")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo

        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
