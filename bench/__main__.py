"""`python -m bench [--quick] [--only NAME[:CASE]] [--json PATH]`: every benchmark, ratios first.

Runs bench/fetch.py, text.py, match.py, render.py, deliver.py, e2e.py and web.py (each
``run(quick)``),
prints one table and writes the rows as JSON (default bench/results/<time>.json).
``--only e2e:postgresql:100000:4`` picks one end-to-end case (backend:subscribers:workers).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Row, print_table, write_json

SUITES = ("fetch", "text", "match", "render", "deliver", "e2e", "web")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (minutes)")
    parser.add_argument("--only", metavar="NAME", help=f"one of {', '.join(SUITES)}")
    parser.add_argument("--json", metavar="PATH", type=Path, help="where to write the rows")
    args = parser.parse_args(argv)
    name, _, select = (args.only or "").partition(":")
    if name and name not in SUITES:
        parser.error(f"--only must be one of {', '.join(SUITES)}, got {name!r}")
    rows: list[Row] = []
    failed: list[str] = []
    started = time.perf_counter()
    for suite in SUITES:
        if name and suite != name:
            continue
        try:
            module = importlib.import_module(f"bench.{suite}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{suite}":
                print(f"{suite}: not present in this checkout, skipped", file=sys.stderr)
                continue
            raise
        print(f"{suite}…", file=sys.stderr, flush=True)
        try:
            if suite == "e2e" and select:
                rows += module.run(args.quick, select)
            else:
                rows += module.run(args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(suite)
    if rows:
        print_table(rows)
    path = args.json or Path("bench/results") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ.json")
    meta = {
        "quick": args.quick,
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "cpus": __import__("os").cpu_count(),
        "seconds": round(time.perf_counter() - started, 1),
        "note": "absolute values are this machine's; compare ratios",
        "failed": failed,
    }
    write_json(rows, path, meta)
    print(f"\nwrote {path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
