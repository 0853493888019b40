"""Run every benchmark suite and write bench/results.md.

python -m bench [--quick] [--only lazy,clients,imports]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from bench import (
    suite_breaker,
    suite_clients,
    suite_example,
    suite_handler,
    suite_imports,
    suite_lazy,
    suite_local,
    suite_retry,
    suite_secrets,
)

SUITES = {
    "lazy": suite_lazy,
    "clients": suite_clients,
    "retry": suite_retry,
    "breaker": suite_breaker,
    "secrets": suite_secrets,
    "handler": suite_handler,
    "imports": suite_imports,
    "local": suite_local,
    "example": suite_example,
}
RESULTS = Path(__file__).with_name("results.md")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (5)")
    parser.add_argument("--only", default=",".join(SUITES), help="comma-separated suites")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    repeats = 5 if args.quick else 9

    tables = []
    for name in args.only.split(","):
        for table in SUITES[name].run(repeats):
            print(table.summary(), flush=True)
            tables.append(table)

    header = [
        "# Benchmark results",
        "",
        f"Written by `nox -s bench` on {time.strftime('%Y-%m-%d')}; Python "
        f"{platform.python_version()} on {platform.machine()}, {platform.system()}.",
        "The machines are shared and noisy: compare the ratios, not the absolute times.",
        "",
    ]
    body = "\n".join(t.markdown() for t in tables)
    args.output.write_text("\n".join(header) + "\n" + body)
    failed = [text for t in tables for text, _, ok in t.target_results() if not ok]
    for text in failed:
        print(f"target not met: {text}", file=sys.stderr)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
