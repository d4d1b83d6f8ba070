"""The ``gvin`` command."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gvin", description="Differentiable planners on graphs.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="a small built-in demo of what gvin does")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from gvin.demo import run_demo

        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
