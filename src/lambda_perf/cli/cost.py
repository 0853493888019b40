"""``lambda-perf cost``: what invocations cost, by Lambda's pricing rules.

Billed duration rounds up to 1 ms; GB-seconds times the price per GB-s, plus the request
price. Since August 2025 the init phase of on-demand functions is billed too: with
``--init-ms`` and ``--cold-ratio``, each invocation carries its share of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from . import UsageError

if TYPE_CHECKING:
    import argparse

PRICE_X86 = 0.0000166667  # $ per GB-s, first tier
PRICE_ARM = 0.0000133334
PRICE_REQUESTS = 0.20  # $ per million


@dataclass
class Cost:
    memory_mb: int
    duration_ms: float
    billed_ms: int
    gb_seconds: float
    compute: float  # $ per invocation, duration only
    init: float  # $ per invocation, its share of billed init
    requests: float  # $ per invocation
    per_invocation: float
    total: float  # for --invocations


def compute_cost(memory_mb: float, billed_ms: float, price_gb_second: float) -> float:
    """Dollars for ``billed_ms`` at ``memory_mb``: GB-seconds times the price."""
    return memory_mb / 1024.0 * billed_ms / 1000.0 * price_gb_second


def estimate(
    memory_mb: int,
    duration_ms: float,
    *,
    price_gb_second: float,
    price_requests: float = PRICE_REQUESTS,
    invocations: int = 1_000_000,
    init_ms: float = 0.0,
    cold_ratio: float = 0.0,
) -> Cost:
    billed = max(1, math.ceil(duration_ms))
    gb_seconds = memory_mb / 1024.0 * billed / 1000.0
    compute = compute_cost(memory_mb, billed, price_gb_second)
    init = cold_ratio * compute_cost(memory_mb, math.ceil(init_ms), price_gb_second)
    requests = price_requests / 1e6
    per_invocation = compute + init + requests
    return Cost(
        memory_mb, duration_ms, billed, gb_seconds, compute, init, requests,
        per_invocation, per_invocation * invocations,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    memories, durations = args.memory, args.duration_ms
    if len(durations) == 1:
        durations = durations * len(memories)
    if len(durations) != len(memories):
        raise UsageError(
            f"give one --duration-ms for all sizes or one per --memory "
            f"({len(memories)} sizes, {len(durations)} durations)"
        )
    for memory in memories:
        if not 128 <= memory <= 10240:
            raise UsageError(f"--memory {memory}: Lambda allows 128 to 10240 MB")
    if any(d < 0 for d in durations) or args.init_ms < 0:
        raise UsageError("durations must be >= 0 ms")
    if not 0.0 <= args.cold_ratio <= 1.0:
        raise UsageError(f"--cold-ratio {args.cold_ratio}: a share from 0 to 1")
    if args.init_ms and not args.cold_ratio:
        raise UsageError("--init-ms needs --cold-ratio (the share of invocations that are cold)")
    price = args.price_arm if args.arch == "arm64" else args.price_x86
    costs = [
        estimate(
            memory,
            duration,
            price_gb_second=price,
            price_requests=args.price_requests,
            invocations=args.invocations,
            init_ms=args.init_ms,
            cold_ratio=args.cold_ratio,
        )
        for memory, duration in zip(memories, durations, strict=True)
    ]
    if args.json:
        print(json.dumps({"arch": args.arch, "price_gb_second": price,
                          "invocations": args.invocations,
                          "estimates": [asdict(c) for c in costs]}, indent=2))  # fmt: skip
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Lambda cost ({args.arch}, ${price:.10f}".rstrip("0") + " per GB-s)")
    for column in ("memory MB", "duration ms", "billed ms", "GB-s", "compute $", "init $",
                   "per invocation $", f"{args.invocations:,} invocations $"):  # fmt: skip
        table.add_column(column, justify="right")
    for c in costs:
        table.add_row(
            str(c.memory_mb), f"{c.duration_ms:g}", str(c.billed_ms), f"{c.gb_seconds:g}",
            f"{c.compute:.9f}", f"{c.init:.9f}", f"{c.per_invocation:.9f}", f"{c.total:,.4f}",
        )  # fmt: skip
    Console(width=140).print(table)
    cheapest = min(costs, key=lambda c: c.per_invocation)
    print(f"cheapest: {cheapest.memory_mb} MB at ${cheapest.per_invocation:.9f} per invocation")
    return 0
