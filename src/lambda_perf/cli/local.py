"""``lambda-perf local serve`` and ``lambda-perf local invoke``."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import UsageError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from lambda_perf.local import FunctionConfig, LocalLambda


def _require_runtime_client() -> None:
    try:
        import awslambdaric  # noqa: F401
    except ImportError:
        raise UsageError(
            "the local service needs AWS's runtime interface client: "
            'pip install "lambda-perf[cli]"'
        ) from None


def make_config(args: argparse.Namespace, handler: str) -> FunctionConfig:
    from lambda_perf.local.config import FunctionConfig, parse_env_pairs

    _require_runtime_client()
    return FunctionConfig.from_handler(
        handler,
        args.code_dir,
        function_name=args.function_name,
        # tune's --memory is the list of sizes to try: its function starts at 128 MB
        memory=args.memory if isinstance(getattr(args, "memory", None), int) else 128,
        timeout=args.timeout,
        environment=parse_env_pairs(args.env, args.env_file),
        reserved_concurrency=args.reserved_concurrency,
        max_concurrency=args.max_concurrency,
        dlq_url=args.dlq_url,
        max_retry_attempts=args.max_retry_attempts,
        region=args.region or os.environ.get("AWS_REGION") or "us-east-1",
    )


def log_sink(args: argparse.Namespace, stack: ExitStack) -> Callable[[str], None]:
    """Where the function's logs go: --log-file, or standard error."""
    if args.log_file is None:
        lock = threading.Lock()

        def to_stderr(line: str) -> None:
            with lock:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()

        return to_stderr
    try:
        stream = stack.enter_context(Path(args.log_file).open("a", encoding="utf-8"))  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"--log-file {args.log_file!r}: {exc.strerror}") from None
    lock = threading.Lock()

    def to_file(line: str) -> None:
        with lock:
            stream.write(line + "\n")
            stream.flush()

    return to_file


def read_event(source: str | None) -> bytes:
    """The event: a JSON file, ``-`` for standard input, or ``{}``."""
    if source is None:
        return b"{}"
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise UsageError(f"--event {source!r}: {exc.strerror}") from None
    try:
        json.loads(data or b"{}")
    except ValueError as exc:
        raise UsageError(f"--event {source!r} is not JSON: {exc}") from None
    return data or b"{}"


def start_service(
    args: argparse.Namespace, handler: str, stack: ExitStack, *, port: int = 0
) -> LocalLambda:
    from lambda_perf.local import LocalLambda

    service = LocalLambda(make_config(args, handler), port=port, log=log_sink(args, stack))
    stack.enter_context(service)  # stopped, and every environment with it, on any exit
    return service


def run(args: argparse.Namespace) -> int:
    if args.local_command == "serve":
        return serve(args)
    return invoke(args)


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            service = start_service(args, args.handler, stack, port=args.port)
            config = service.config
            print(
                f"lambda-perf: serving {config.function_name} ({config.handler}) on "
                f"{service.endpoint_url}\n"
                f"  boto3.client('lambda', endpoint_url='{service.endpoint_url}')"
                f".invoke(FunctionName='{config.function_name}', Payload=b'{{}}')\n"
                f"  Ctrl-C stops it and every environment it started.",
                flush=True,
            )
            stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def invoke(args: argparse.Namespace) -> int:
    event = read_event(args.event)
    with ExitStack() as stack:
        service = start_service(args, args.handler, stack)
        result = service.invoke(event)
    print(result.payload.decode("utf-8", "replace"))
    print(result.report)
    return 1 if result.function_error else 0
