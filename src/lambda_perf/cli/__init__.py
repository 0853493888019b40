"""The ``lambda-perf`` command line (the ``[cli]`` extra).

``lambda-perf local serve|invoke`` runs a handler on the local Lambda service;
``lambda-perf bench`` measures cold, warm and concurrent invocations of a deployed or
local function. Exit codes: 0 success, 1 failures measured, 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

EXAMPLES = """\
examples:
  lambda-perf local serve app.handler --code-dir src --memory 256 --timeout 10
  lambda-perf local invoke path/to/app.py:handler --event event.json
  lambda-perf bench --handler app.handler --test full
  lambda-perf bench --function my-function --region eu-west-1 --test warm --count 20
"""


class UsageError(Exception):
    """A command line that cannot run: exit code 2, with the message."""


def add_function_options(parser: argparse.ArgumentParser, *, memory: bool = True) -> None:
    """The options that describe a local function (serve, invoke, bench/tune --handler)."""
    group = parser.add_argument_group("local function")
    group.add_argument("--code-dir", help="the task root (default: the current directory)")
    group.add_argument("--function-name", help="default: from the handler")
    if memory:
        group.add_argument("--memory", type=int, default=128, metavar="MB", help="default 128")
    group.add_argument("--timeout", type=int, default=3, metavar="S", help="default 3")
    group.add_argument(
        "--env", action="append", metavar="KEY=VALUE", help="an environment variable (repeat)"
    )
    group.add_argument("--env-file", help="KEY=VALUE lines")
    group.add_argument("--reserved-concurrency", type=int, metavar="N")
    group.add_argument(
        "--max-concurrency",
        type=int,
        default=1,
        metavar="N",
        help="N > 1: Lambda Managed Instances style, N workers in one environment",
    )
    group.add_argument("--dlq-url", help="SQS queue URL for failed asynchronous invocations")
    group.add_argument("--max-retry-attempts", type=int, default=2, choices=(0, 1, 2))
    group.add_argument("--region", default=None, help="default: AWS_REGION or us-east-1")
    group.add_argument("--log-file", help="write the function's logs here, not to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambda-perf",
        description="Run and measure Python Lambda functions, locally or deployed.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    local = commands.add_parser(
        "local",
        help="the local Lambda service (real awslambdaric processes, no Docker)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    local_commands = local.add_subparsers(dest="local_command", metavar="SUBCOMMAND", required=True)
    serve = local_commands.add_parser("serve", help="serve a handler on Lambda's API until Ctrl-C")
    serve.add_argument("handler", help="module.function or path/to/file.py:function")
    add_function_options(serve)
    serve.add_argument("--port", type=int, default=0, help="default: a free port (printed)")
    invoke = local_commands.add_parser("invoke", help="invoke a handler once and stop")
    invoke.add_argument("handler", help="module.function or path/to/file.py:function")
    add_function_options(invoke)
    invoke.add_argument("--event", help="a JSON file, or - for standard input (default: {})")

    bench = commands.add_parser(
        "bench",
        help="cold, warm and concurrent invocation timings",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = bench.add_mutually_exclusive_group(required=True)
    target.add_argument("--function", help="a deployed function's name or ARN")
    target.add_argument("--handler", help="run this handler on the local service instead")
    bench.add_argument("--endpoint-url", help="a Lambda-compatible endpoint (with --function)")
    bench.add_argument("--test", choices=("cold", "warm", "concurrent", "full"), default="full")
    bench.add_argument("--count", type=int, help="invocations per test (default 3 cold, 10 warm)")
    bench.add_argument("--concurrency", type=int, default=5)
    bench.add_argument("--event", help="a JSON file with the event (default: {})")
    bench.add_argument("--output", help="write every measurement here as JSON")
    bench.add_argument("--json", action="store_true", help="print the JSON instead of tables")
    bench.add_argument("--arch", choices=("x86_64", "arm64"), help="default: the function's")
    bench.add_argument("--price-x86", type=float, default=0.0000166667, help="$ per GB-s")
    bench.add_argument("--price-arm", type=float, default=0.0000133334, help="$ per GB-s")
    bench.add_argument("--price-requests", type=float, default=0.20, help="$ per million")
    add_function_options(bench)

    cost = commands.add_parser(
        "cost",
        help="what invocations cost (GB-seconds, requests, billed init)",
        epilog="example:\n  lambda-perf cost --memory 1024 1536 --duration-ms 10000 6000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cost.add_argument("--memory", type=int, nargs="+", required=True, metavar="MB")
    cost.add_argument("--duration-ms", type=float, nargs="+", required=True, metavar="MS")
    cost.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64")
    cost.add_argument("--invocations", type=int, default=1_000_000)
    cost.add_argument("--init-ms", type=float, default=0.0, help="billed init per cold start")
    cost.add_argument("--cold-ratio", type=float, default=0.0, help="share of cold invocations")
    cost.add_argument("--price-x86", type=float, default=0.0000166667, help="$ per GB-s")
    cost.add_argument("--price-arm", type=float, default=0.0000133334, help="$ per GB-s")
    cost.add_argument("--price-requests", type=float, default=0.20, help="$ per million")
    cost.add_argument("--json", action="store_true")

    tune = commands.add_parser(
        "tune",
        help="the memory size that is cheapest, fastest or balanced (Power Tuning's method)",
        epilog="example:\n  lambda-perf tune --handler app.handler --memory 512,1024,1536",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune_target = tune.add_mutually_exclusive_group(required=True)
    tune_target.add_argument("--function", help="a deployed function's name or ARN")
    tune_target.add_argument("--handler", help="tune this handler on the local service")
    tune.add_argument("--endpoint-url")
    tune.add_argument("--memory", required=True, help="sizes, comma-separated: 512,1024,1536")
    tune.add_argument("--count", type=int, default=10, help="invocations per size")
    tune.add_argument("--event")
    tune.add_argument("--strategy", choices=("cost", "speed", "balanced"), default="balanced")
    tune.add_argument("--balanced-weight", type=float, default=0.5, help="0 speed .. 1 cost")
    tune.add_argument("--concurrency", type=int, default=1)
    tune.add_argument("--discard", type=float, default=0.2, help="top and bottom share dropped")
    tune.add_argument("--only-cold", action="store_true", help="force a cold start each time")
    tune.add_argument("--plot", help="a PNG or SVG of duration and cost by memory")
    tune.add_argument("--apply", action="store_true", help="keep the recommended memory size")
    tune.add_argument("--json", action="store_true")
    tune.add_argument("--arch", choices=("x86_64", "arm64"))
    tune.add_argument("--price-x86", type=float, default=0.0000166667)
    tune.add_argument("--price-arm", type=float, default=0.0000133334)
    tune.add_argument("--price-requests", type=float, default=0.20)
    add_function_options(tune, memory=False)

    dlq = commands.add_parser("dlq", help="inspect and safely replay a dead-letter queue")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND", required=True)
    show = dlq_commands.add_parser("show", help="list messages without receiving them for good")
    show.add_argument("--queue-url", required=True)
    show.add_argument("--max", type=int, default=50)
    show.add_argument("--region")
    replay = dlq_commands.add_parser(
        "replay",
        help="re-invoke the function with each message; delete only what it accepted",
        epilog="example:\n  lambda-perf dlq replay --queue-url URL --function vanta-vuln-sync",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("--queue-url", required=True)
    replay.add_argument("--function", required=True)
    replay.add_argument("--endpoint-url", help="a Lambda-compatible endpoint (local service)")
    replay.add_argument("--max", type=int)
    replay.add_argument("--dry-run", action="store_true")
    replay.add_argument(
        "--invocation-type", choices=("Event", "RequestResponse"), default="RequestResponse"
    )
    replay.add_argument("--rate", type=float, help="invocations per second at most")
    replay.add_argument("--region")

    imports = commands.add_parser(
        "imports",
        help="what a handler's imports cost at init, and what to defer",
        epilog="example:\n  lambda-perf imports vanta_sync.handler.handler --code-dir src",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imports.add_argument("handler", help="module.function or path/to/file.py:function")
    imports.add_argument("--code-dir")
    imports.add_argument("--env", action="append", metavar="KEY=VALUE")
    imports.add_argument("--env-file")
    imports.add_argument("--top", type=int, default=15)
    imports.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from lambda_perf._errors import ConfigurationError

    try:
        if args.command == "local":
            from . import local

            return local.run(args)
        if args.command == "cost":
            from . import cost

            return cost.run(args)
        if args.command == "dlq":
            from . import dlq

            return dlq.run(args)
        if args.command == "tune":
            from . import tune

            return tune.run(args)
        if args.command == "imports":
            from . import imports

            return imports.run(args)
        from . import bench

        return bench.run(args)
    except (UsageError, ConfigurationError) as exc:
        print(f"lambda-perf: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lambda-perf: interrupted", file=sys.stderr)
        return 130
