"""The half-open herd: many callers at once, while the one that gets through is held."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lambda_perf import CircuitOpenError


def herd(callers: list[Callable[[Callable[[int], str], int], Any]]) -> tuple[int, int]:
    """Release ``callers[i](downstream, i)`` at once; hold whoever reaches ``downstream``
    until every other caller has returned. Returns (calls that reached it, rejections)."""
    entered = threading.Event()
    release = threading.Event()
    reached: list[int] = []
    rejected: list[int] = []
    barrier = threading.Barrier(len(callers))

    def downstream(i: int) -> str:
        reached.append(i)
        entered.set()
        release.wait(10)
        return "ok"

    def run(i: int) -> None:
        barrier.wait()
        try:
            callers[i](downstream, i)
        except CircuitOpenError:
            rejected.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(callers))]
    for thread in threads:
        thread.start()
    assert entered.wait(10), "no caller reached the downstream"
    for i, thread in enumerate(threads):  # while one call is held, the others are refused
        if i != reached[0]:
            thread.join(10)
    release.set()
    for thread in threads:
        thread.join(10)
    return len(reached), len(rejected)
