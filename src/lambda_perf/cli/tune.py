"""``lambda-perf tune``: AWS Lambda Power Tuning's method, in one command.

For each memory size: update the function, wait for ``function_updated_v2``, invoke it N
times, read Duration and Billed Duration from the REPORT lines, drop the top and bottom
``--discard`` share, and compute the average duration and the cost per invocation from
the billed duration. The balanced choice minimises ``W * cost/max_cost + (1 - W) *
duration/max_duration`` (W = 0: speed only; W = 1: cost only). The original memory size is
restored at the end, also after a failure or Ctrl-C, unless ``--apply``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import threading
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import UsageError
from .bench import Bench, Measurement, explain, target
from .bench import summarise as statistics_of
from .cost import compute_cost
from .local import read_event

if TYPE_CHECKING:
    import argparse


@dataclass
class SizeResult:
    memory_mb: int
    invocations: list[Measurement] = field(default_factory=list)
    average_ms: float | None = None
    p95_ms: float | None = None
    cost: float | None = None  # $ per invocation
    errors: int = 0
    excluded: str | None = None

    @property
    def per_million(self) -> float | None:
        return None if self.cost is None else self.cost * 1e6


def trimmed(values: list[float], discard: float) -> list[float]:
    """``values`` without the top and bottom ``discard`` share (Power Tuning's rule)."""
    ordered = sorted(values)
    cut = int(len(ordered) * discard)
    kept = ordered[cut : len(ordered) - cut] if len(ordered) - 2 * cut > 0 else ordered
    return kept


def summarise(result: SizeResult, discard: float, price: float, requests: float) -> None:
    ok = [m for m in result.invocations if m.ok and m.duration_ms is not None]
    result.errors = len(result.invocations) - len(ok)
    if not ok:
        reasons = {m.error for m in result.invocations if m.error}
        result.excluded = f"every invocation failed ({', '.join(sorted(map(str, reasons)))})"
        return
    durations = trimmed([m.duration_ms for m in ok if m.duration_ms is not None], discard)
    billed = trimmed([m.billed_ms or math.ceil(m.duration_ms or 0) for m in ok], discard)
    result.average_ms = statistics.fmean(durations)
    result.p95_ms = statistics_of([m.duration_ms for m in ok if m.duration_ms is not None])["p95"]
    result.cost = compute_cost(result.memory_mb, statistics.fmean(billed), price) + requests / 1e6


def choose(results: list[SizeResult], weight: float) -> dict[str, int]:
    """The cheapest, the fastest and the balanced size among those measured."""
    usable = [r for r in results if r.excluded is None and r.cost is not None]
    if not usable:
        return {}
    max_cost = max(r.cost or 0.0 for r in usable) or 1.0
    max_time = max(r.average_ms or 0.0 for r in usable) or 1.0
    cheapest = min(usable, key=lambda r: (r.cost, r.average_ms))
    fastest = min(usable, key=lambda r: (r.average_ms, r.cost))
    balanced = min(
        usable,
        key=lambda r: (
            weight * (r.cost or 0.0) / max_cost + (1.0 - weight) * (r.average_ms or 0.0) / max_time
        ),
    )
    return {
        "cost": cheapest.memory_mb,
        "speed": fastest.memory_mb,
        "balanced": balanced.memory_mb,
    }


def _set_memory(bench: Bench, memory: int) -> None:
    bench.changed = True
    bench.client.update_function_configuration(FunctionName=bench.function, MemorySize=memory)
    bench.client.get_waiter("function_updated_v2").wait(
        FunctionName=bench.function, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def measure(
    bench: Bench, memory: int, count: int, concurrency: int, only_cold: bool, echo: Any
) -> SizeResult:
    _set_memory(bench, memory)
    result = SizeResult(memory)
    echo(f"{memory} MB: {count} invocation(s){' (each cold)' if only_cold else ''}...")
    if only_cold or concurrency <= 1:
        for index in range(count):
            if only_cold:
                bench.force_cold()
            result.invocations.append(bench.invoke(f"tune-{memory}", index))
        return result
    bench.invoke(f"tune-{memory}-priming", 0)  # warm one environment first
    lock = threading.Lock()
    next_index = iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            measurement = bench.invoke(f"tune-{memory}", index)
            with lock:
                result.invocations.append(measurement)

    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def plot(results: list[SizeResult], path: str) -> None:
    """Duration and cost against memory, in the style of Power Tuning's chart."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError('--plot needs matplotlib: pip install "lambda-perf[plot]"') from None
    usable = [r for r in results if r.excluded is None]
    labels = [f"{r.memory_mb} MB" for r in usable]
    figure, duration_axis = plt.subplots(figsize=(8, 4.5), dpi=100)
    duration_axis.plot(
        labels, [r.average_ms for r in usable], "o-", color="#2e7bcf", label="duration"
    )
    duration_axis.set_ylabel("average duration (ms)", color="#2e7bcf")
    duration_axis.set_xlabel("memory")
    cost_axis = duration_axis.twinx()
    cost_axis.plot(labels, [r.per_million for r in usable], "s-", color="#e8833a", label="cost")
    cost_axis.set_ylabel("$ per million invocations", color="#e8833a")
    figure.suptitle("lambda-perf tune: duration and cost by memory")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def run(args: argparse.Namespace) -> int:
    try:
        sizes = sorted({int(m) for m in args.memory.split(",") if m.strip()})
    except ValueError:
        raise UsageError(
            f"--memory {args.memory!r}: a comma-separated list such as 512,1024"
        ) from None
    if not sizes or any(not 128 <= m <= 10240 for m in sizes):
        raise UsageError("--memory: sizes from 128 to 10240 MB")
    if not 0.0 <= args.discard < 0.5:
        raise UsageError("--discard: a share from 0 to under 0.5")
    if not 0.0 <= args.balanced_weight <= 1.0:
        raise UsageError("--balanced-weight: from 0 (speed) to 1 (cost)")
    if args.count < 1 or args.concurrency < 1:
        raise UsageError("--count and --concurrency must be at least 1")
    event = read_event(args.event)
    echo: Any = (lambda text: None) if args.json else print
    with ExitStack() as stack:
        client, function = target(args, stack)
        bench = Bench(client, function, event, echo=echo)
        try:
            original = bench.read_configuration()
        except Exception as exc:
            raise UsageError(explain(exc, function)) from None
        original_memory = int(original.get("MemorySize", 128))
        arch = args.arch or (original.get("Architectures") or ["x86_64"])[0]
        price = args.price_arm if arch == "arm64" else args.price_x86
        applied: list[int] = []

        def restore() -> None:
            memory = applied[0] if applied else original_memory
            try:
                _set_memory(bench, memory)
                bench.restore()  # and the environment, when --only-cold changed it
            except Exception as exc:
                print(
                    f"lambda-perf tune: could not set {function} back to {memory} MB "
                    f"({explain(exc, function)})",
                    file=sys.stderr,
                )

        stack.callback(restore)  # also after a failure or Ctrl-C
        results = []
        for memory in sizes:
            try:
                result = measure(bench, memory, args.count, args.concurrency, args.only_cold, echo)
            except Exception as exc:
                result = SizeResult(memory, excluded=explain(exc, function))
            summarise(result, args.discard, price, args.price_requests)
            results.append(result)
        picks = choose(results, args.balanced_weight)
        if args.apply and picks:
            applied.append(picks[args.strategy])
    document = {
        "function": function,
        "architecture": arch,
        "strategy": args.strategy,
        "balanced_weight": args.balanced_weight,
        "original_memory_mb": original_memory,
        "applied_memory_mb": applied[0] if applied else None,
        "picks": picks,
        "recommendation": picks.get(args.strategy),
        "sizes": [
            {
                **{k: v for k, v in asdict(r).items() if k != "invocations"},
                "per_million": r.per_million,
                "invocations": [asdict(m) for m in r.invocations],
            }
            for r in results
        ],
    }
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        _print_table(results, picks, args.strategy, original_memory, applied)
    if not picks:
        print("lambda-perf tune: no memory size had a successful invocation", file=sys.stderr)
        return 1
    return 1 if any(r.errors for r in results) else 0


def _print_table(
    results: list[SizeResult],
    picks: dict[str, int],
    strategy: str,
    original: int,
    applied: list[int],
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lambda-perf tune")
    for column in ("memory MB", "avg ms", "p95 ms", "$ per invocation", "$ per million",
                   "errors", "pick"):  # fmt: skip
        table.add_column(column, justify="right" if column != "pick" else "left")
    for r in results:
        marks = [name for name, memory in picks.items() if memory == r.memory_mb]
        if r.excluded:
            table.add_row(
                str(r.memory_mb), "-", "-", "-", "-", str(r.errors), f"excluded: {r.excluded}"
            )
            continue
        table.add_row(
            str(r.memory_mb), f"{r.average_ms:.2f}", f"{r.p95_ms:.2f}", f"{r.cost:.9f}",
            f"{r.per_million:.4f}", str(r.errors), ", ".join(marks),
        )  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 140).print(table)
    if picks:
        print(f"recommendation ({strategy}): {picks[strategy]} MB")
    if applied:
        print(f"applied: the function now has {applied[0]} MB")
    else:
        print(f"restored: the function is back at {original} MB")


__all__ = ["SizeResult", "choose", "run", "summarise", "trimmed"]
