"""``lambda-perf bench``: cold, warm and concurrent invocations of one function.

One code path for both targets: a boto3 ``lambda`` client, pointed at AWS (``--function``)
or at the local service started for the run (``--handler``). Cold starts are forced as
on Lambda: a configuration update (the ``LAMBDA_PERF_BENCH_NONCE`` variable), then the
``function_updated_v2`` waiter. The configuration is put back at the end, after a failure
or Ctrl-C too.
"""

from __future__ import annotations

import base64
import json
import math
import re
import statistics
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import UsageError
from .local import read_event, start_service

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

NONCE_VARIABLE = "LAMBDA_PERF_BENCH_NONCE"
_REPORT_FIELDS = {
    "duration_ms": re.compile(r"\tDuration: ([\d.]+) ms"),
    "billed_ms": re.compile(r"Billed Duration: (\d+) ms"),
    "init_ms": re.compile(r"Init Duration: ([\d.]+) ms"),
    "max_memory_mb": re.compile(r"Max Memory Used: (\d+) MB"),
}


@dataclass
class Measurement:
    """One invocation: client-side time, and what its REPORT line said."""

    test: str
    index: int
    client_ms: float
    ok: bool
    throttled: bool = False
    error: str | None = None
    duration_ms: float | None = None
    billed_ms: float | None = None
    init_ms: float | None = None
    max_memory_mb: float | None = None


@dataclass
class TestResult:
    name: str
    label: str
    total_s: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(m.ok for m in self.measurements)

    @property
    def throttled(self) -> int:
        return sum(m.throttled for m in self.measurements)

    @property
    def failed(self) -> list[Measurement]:
        return [m for m in self.measurements if not m.ok]


def parse_report(log_tail: str) -> dict[str, float]:
    """Duration, Billed Duration, Init Duration and Max Memory Used from a REPORT line."""
    line = next((x for x in reversed(log_tail.splitlines()) if "REPORT RequestId:" in x), "")
    values: dict[str, float] = {}
    for name, pattern in _REPORT_FIELDS.items():
        match = pattern.search("\t" + line)
        if match:
            values[name] = float(match.group(1))
    return values


def summarise(values: list[float]) -> dict[str, float]:
    """Count, Min, Max, Average, Median, StdDev, p95 and p99 (nearest rank)."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "average": statistics.fmean(ordered),
        "median": statistics.median(ordered),
        "stddev": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        "p95": rank(95),
        "p99": rank(99),
    }


class _Explain(Exception):
    """An AWS error turned into what to do about it (exit code 2)."""


def explain(error: BaseException, function: str) -> str:
    """What to do about an error from Lambda's API."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
    if type(error).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return "no AWS credentials: configure a profile or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if type(error).__name__ == "NoRegionError":
        return "no AWS region: pass --region or set AWS_REGION"
    if code == "ResourceNotFoundException":
        return f"no function {function!r} in this region/account: check --function and --region"
    if code in ("AccessDeniedException", "AccessDenied"):
        return (
            f"not allowed: the caller needs lambda:GetFunctionConfiguration, "
            f"lambda:UpdateFunctionConfiguration and lambda:InvokeFunction on {function!r}"
        )
    if type(error).__name__ == "EndpointConnectionError":
        return f"cannot reach the Lambda endpoint ({error}): check --endpoint-url and the network"
    return f"{type(error).__name__}: {error}"


class Bench:
    """Runs the tests against one function through one boto3 client."""

    def __init__(
        self,
        client: Any,
        function: str,
        event: bytes,
        *,
        progress: Callable[[str, int, int], None] | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.client = client
        self.function = function
        self.event = event
        self.progress = progress or (lambda label, done, total: None)
        self.echo = echo
        self.original: dict[str, Any] | None = None
        self.configuration: dict[str, Any] = {}
        self.changed = False

    def read_configuration(self) -> dict[str, Any]:
        configuration: dict[str, Any] = self.client.get_function_configuration(
            FunctionName=self.function
        )
        self.configuration = configuration
        if self.original is None:
            self.original = configuration
        return configuration

    def _variables(self, configuration: dict[str, Any]) -> dict[str, str]:
        return dict(configuration.get("Environment", {}).get("Variables", {}))

    def force_cold(self) -> None:
        """A configuration update: every environment is retired, the next start is cold."""
        assert self.original is not None
        variables = {**self._variables(self.original), NONCE_VARIABLE: uuid.uuid4().hex}
        self.changed = True
        self.client.update_function_configuration(
            FunctionName=self.function, Environment={"Variables": variables}
        )
        self.client.get_waiter("function_updated_v2").wait(
            FunctionName=self.function, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )

    def restore(self) -> None:
        """Put back the environment the function had before the run."""
        if not self.changed or self.original is None:
            return
        self.client.update_function_configuration(
            FunctionName=self.function,
            Environment={"Variables": self._variables(self.original)},
        )
        self.client.get_waiter("function_updated_v2").wait(
            FunctionName=self.function, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        self.changed = False

    def invoke(self, test: str, index: int) -> Measurement:
        started = time.perf_counter()
        try:
            response = self.client.invoke(
                FunctionName=self.function,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=self.event,
            )
            payload = response["Payload"].read()
        except Exception as exc:
            elapsed = (time.perf_counter() - started) * 1000.0
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code == "TooManyRequestsException":
                return Measurement(test, index, elapsed, False, throttled=True, error=code)
            return Measurement(test, index, elapsed, False, error=explain(exc, self.function))
        elapsed = (time.perf_counter() - started) * 1000.0
        tail = base64.b64decode(response.get("LogResult", "") or b"").decode("utf-8", "replace")
        report = parse_report(tail)
        error = None
        if response.get("FunctionError"):
            try:
                error = json.loads(payload).get("errorType") or response["FunctionError"]
            except (ValueError, AttributeError):
                error = response["FunctionError"]
        return Measurement(
            test,
            index,
            elapsed,
            error is None,
            error=error,
            duration_ms=report.get("duration_ms"),
            billed_ms=report.get("billed_ms"),
            init_ms=report.get("init_ms"),
            max_memory_mb=report.get("max_memory_mb"),
        )

    def cold(self, count: int) -> TestResult:
        result = TestResult("cold", "Cold Start Test")
        started = time.perf_counter()
        for i in range(count):
            self.echo(f"Cold Start Test {i + 1}/{count}...")
            self.force_cold()
            result.measurements.append(self.invoke("cold", i))
            self.progress("cold", i + 1, count)
        result.total_s = time.perf_counter() - started
        return result

    def warm(self, count: int) -> TestResult:
        result = TestResult("warm", "Warm Start Test")
        self.echo("Warm Start Test: priming one environment...")
        self.invoke("warm-priming", 0)
        started = time.perf_counter()
        for i in range(count):
            self.echo(f"Warm Start Test {i + 1}/{count}...")
            result.measurements.append(self.invoke("warm", i))
            self.progress("warm", i + 1, count)
        result.total_s = time.perf_counter() - started
        return result

    def concurrent(self, concurrency: int) -> TestResult:
        result = TestResult("concurrent", "Concurrent Test")
        self.echo(f"Concurrent Test: {concurrency} simultaneous invocations...")
        barrier = threading.Barrier(concurrency)
        measurements: list[Measurement | None] = [None] * concurrency

        def one(i: int) -> None:
            barrier.wait()
            measurements[i] = self.invoke("concurrent", i)

        started = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.total_s = time.perf_counter() - started
        result.measurements = [m for m in measurements if m is not None]
        self.progress("concurrent", concurrency, concurrency)
        return result


def cost_per_million(billed_ms: float, memory_mb: int, gb_second: float, requests: float) -> float:
    """Dollars per million invocations: GB-seconds times price, plus requests."""
    from .cost import compute_cost

    return compute_cost(memory_mb, billed_ms, gb_second) * 1e6 + requests


def _format_stats(label: str, values: list[float]) -> list[str]:
    stats = summarise(values)
    if not stats["count"]:
        return [f"  {label}: no data"]
    return [
        f"  {label}:",
        f"    Count: {int(stats['count'])}   Min: {stats['min']:.2f}   Max: {stats['max']:.2f}",
        f"    Average: {stats['average']:.2f}   Median: {stats['median']:.2f}   "
        f"StdDev: {stats['stddev']:.2f}",
        f"    p95: {stats['p95']:.2f}   p99: {stats['p99']:.2f}",
    ]


def render(result: TestResult) -> list[str]:
    lines = [
        f"{result.label} results",
        f"  Total Time: {result.total_s:.2f} s",
        f"  Success: {result.succeeded}/{len(result.measurements)}"
        + (f" ({result.throttled} throttled)" if result.throttled else ""),
    ]
    ok = [m for m in result.measurements if m.ok]
    lines += _format_stats("Client time (ms)", [m.client_ms for m in ok])
    lines += _format_stats(
        "Duration (ms)", [m.duration_ms for m in ok if m.duration_ms is not None]
    )
    inits = [m.init_ms for m in ok if m.init_ms is not None]
    if inits:
        lines += _format_stats("Init Duration (ms)", inits)
    for m in result.failed:
        lines.append(f"  failed: #{m.index + 1} {m.error}")
    return lines


def summary_table(
    results: dict[str, TestResult], memory_mb: int, gb_second: float, requests: float
) -> Any:
    from rich.table import Table

    table = Table(title=f"Summary at {memory_mb} MB")
    for column in (
        "test",
        "ok",
        "median Duration ms",
        "median Init ms",
        "median billed ms",
        "$ per million",
    ):
        table.add_column(column, justify="right" if column != "test" else "left")
    for name, result in results.items():
        ok = [m for m in result.measurements if m.ok]
        durations = [m.duration_ms for m in ok if m.duration_ms is not None]
        inits = [m.init_ms for m in ok if m.init_ms is not None]
        billed = [m.billed_ms for m in ok if m.billed_ms is not None]
        median_billed = statistics.median(billed) if billed else None
        table.add_row(
            name,
            f"{len(ok)}/{len(result.measurements)}",
            f"{statistics.median(durations):.2f}" if durations else "-",
            f"{statistics.median(inits):.2f}" if inits else "-",
            f"{median_billed:.0f}" if median_billed is not None else "-",
            f"{cost_per_million(median_billed, memory_mb, gb_second, requests):.4f}"
            if median_billed is not None
            else "-",
        )
    return table


def _lambda_client(args: argparse.Namespace, endpoint_url: str | None, local: bool) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1}, read_timeout=960, connect_timeout=5)
    if local:
        return boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",
            region_name=args.region or "us-east-1",
        ).client("lambda", endpoint_url=endpoint_url, config=config)
    return boto3.session.Session(region_name=args.region).client(
        "lambda", endpoint_url=endpoint_url, config=config
    )


def target(args: argparse.Namespace, stack: ExitStack) -> tuple[Any, str]:
    """The boto3 lambda client and function name: the local service started for the run
    (``--handler``), or a deployed function (``--function``, ``--endpoint-url``)."""
    if args.handler is not None:
        service = start_service(args, args.handler, stack)
        return _lambda_client(args, service.endpoint_url, local=True), service.config.function_name
    return _lambda_client(args, args.endpoint_url, local=False), args.function


def run(args: argparse.Namespace) -> int:
    event = read_event(args.event)
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    quiet = args.json
    echo: Callable[[str], None] = (lambda text: None) if quiet else print
    with ExitStack() as stack:
        client, function = target(args, stack)
        bench = Bench(client, function, event, echo=echo, progress=_progress(stack, quiet))
        try:
            configuration = bench.read_configuration()
        except Exception as exc:
            raise UsageError(explain(exc, function)) from None
        stack.callback(_restore, bench, function)  # also after a failure or Ctrl-C
        results: dict[str, TestResult] = {}
        tests = ("cold", "warm", "concurrent") if args.test == "full" else (args.test,)
        try:
            for test in tests:
                if test == "cold":
                    results["cold"] = bench.cold(args.count or 3)
                elif test == "warm":
                    results["warm"] = bench.warm(args.count or 10)
                else:
                    results["concurrent"] = bench.concurrent(args.concurrency)
                for line in render(results[test]):
                    echo(line)
        except Exception as exc:
            if not results:
                raise UsageError(explain(exc, function)) from None
            echo(f"lambda-perf bench: stopped early: {explain(exc, function)}")
    memory = int(configuration.get("MemorySize", 128))
    arch = args.arch or (configuration.get("Architectures") or ["x86_64"])[0]
    price = args.price_arm if arch == "arm64" else args.price_x86
    document = {
        "function": function,
        "target": "local" if args.handler else (args.endpoint_url or "aws"),
        "memory_mb": memory,
        "architecture": arch,
        "prices": {"gb_second": price, "per_million_requests": args.price_requests},
        "tests": {
            name: {
                "total_s": result.total_s,
                "succeeded": result.succeeded,
                "throttled": result.throttled,
                "client_ms": summarise([m.client_ms for m in result.measurements if m.ok]),
                "duration_ms": summarise(
                    [
                        m.duration_ms
                        for m in result.measurements
                        if m.ok and m.duration_ms is not None
                    ]
                ),
                "init_ms": summarise(
                    [m.init_ms for m in result.measurements if m.ok and m.init_ms is not None]
                ),
                "invocations": [asdict(m) for m in result.measurements],
            }
            for name, result in results.items()
        },
    }
    if args.output:
        Path(args.output).write_text(json.dumps(document, indent=2))
    if quiet:
        print(json.dumps(document, indent=2))
    elif args.test == "full":
        from rich.console import Console

        console = Console(width=None if sys.stdout.isatty() else 120)  # files: no wrapping
        console.print(summary_table(results, memory, price, args.price_requests))
    failures = [m for r in results.values() for m in r.failed]
    if failures:
        print(
            f"lambda-perf bench: {len(failures)} invocation(s) failed or were throttled: "
            + ", ".join(f"{m.test} #{m.index + 1} ({m.error})" for m in failures),
            file=sys.stderr,
        )
        return 1
    return 0


def _restore(bench: Bench, function: str) -> None:
    try:
        bench.restore()
    except Exception as exc:
        print(
            f"lambda-perf bench: could not restore {function}'s configuration "
            f"({explain(exc, function)}); remove {NONCE_VARIABLE} from its environment",
            file=sys.stderr,
        )


def _progress(stack: ExitStack, quiet: bool) -> Callable[[str, int, int], None] | None:
    """A rich progress bar on a terminal; nothing otherwise."""
    if quiet or not sys.stdout.isatty():
        return None
    from rich.progress import Progress

    progress = stack.enter_context(Progress(transient=True))
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=total)
        progress.update(tasks[label], completed=done)

    return update
