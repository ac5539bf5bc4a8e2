"""Command line: parses arguments and calls one function per command."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="newsletter")
    parser.parse_args(argv)
    return 0
