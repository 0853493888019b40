"""CircuitBreaker: the closed-state success path against pybreaker, circuitbreaker and
Powertools' circuit breaker."""

from __future__ import annotations

import asyncio
import time

import circuitbreaker
import pybreaker
from aws_lambda_powertools.utilities.circuit_breaker import circuit_breaker as pt_breaker
from aws_lambda_powertools.utilities.circuit_breaker.persistence.base import (
    CircuitBreakerPersistenceLayer,
)

from bench.harness import Table, Target, compare_runs, compare_statements
from lambda_perf import CircuitBreaker


def work(x: int, *, y: int = 1) -> int:
    return x + y


def passthrough(func):  # type: ignore[no-untyped-def]
    """The floor: a decorator that only forwards the call."""

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return func(*args, **kwargs)

    return wrapper


def async_passthrough(func):  # type: ignore[no-untyped-def]
    async def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return await func(*args, **kwargs)

    return wrapper


class InMemoryPowertoolsStore(CircuitBreakerPersistenceLayer):
    """Powertools needs a persistence layer; this one answers from memory (bench only)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, object] = {}

    def _get_record(self, name):  # type: ignore[no-untyped-def]
        return self.records.get(name)

    def _put_record(self, record, condition=None, expected_opened_at=None):  # type: ignore[no-untyped-def]
        self.records[record.name] = record

    def _update_record(self, record):  # type: ignore[no-untyped-def]
        self.records[record.name] = record


def run(repeats: int) -> list[Table]:
    ours = CircuitBreaker(5, 60.0)(work)
    pyb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)(work)
    cb = circuitbreaker.circuit(failure_threshold=5, recovery_timeout=60)(work)
    pt = pt_breaker(name="bench", persistence_store=InMemoryPowertoolsStore())(work)
    sync = compare_statements(
        "CircuitBreaker: closed-state success path, per call",
        {
            "bare pass-through decorator": "bare(1, y=2)",
            "lambda_perf.CircuitBreaker": "ours(1, y=2)",
            "circuitbreaker": "cb(1, y=2)",
            "pybreaker": "pyb(1, y=2)",
            "Powertools circuit_breaker (in-memory store)": "pt(1, y=2)",
        },
        namespace={"bare": passthrough(work), "ours": ours, "cb": cb, "pyb": pyb, "pt": pt},
        floor="bare pass-through decorator",
        repeats=repeats,
        targets=[
            Target("lambda_perf.CircuitBreaker", 2.0),
            Target("lambda_perf.CircuitBreaker", 5.0, versus="pybreaker", invert=True),
        ],
        notes=[
            "The success path reads one attribute (closed?), calls, and clears the failure "
            "streak only if there is one: no lock, no clock read, no allocation.",
            "Powertools' breaker needs a persistence layer; the bench gives it one in memory, "
            "so its figure is a lower bound of its cost with DynamoDB.",
        ],
    )

    async def awork(x: int, *, y: int = 1) -> int:
        return x + y

    async_ours = CircuitBreaker(5, 60.0)(awork)
    async_bare = async_passthrough(awork)
    loop = asyncio.new_event_loop()
    calls = 20_000

    def timed(func) -> float:  # type: ignore[no-untyped-def]
        async def many() -> None:
            for _ in range(calls):
                await func(1, y=2)

        start = time.perf_counter()
        loop.run_until_complete(many())
        return (time.perf_counter() - start) / calls

    async_table = compare_runs(
        "CircuitBreaker: async closed-state success path, per call",
        {
            "bare async pass-through": lambda: timed(async_bare),
            "lambda_perf.CircuitBreaker": lambda: timed(async_ours),
        },
        floor="bare async pass-through",
        unit="ns",
        repeats=repeats,
        targets=[Target("lambda_perf.CircuitBreaker", 2.0)],
        notes=[f"Each sample awaits {calls:,} calls in one event loop."],
    )
    loop.close()
    return [sync, async_table]
