"""Helpers for testing code that uses lambda-perf.

``no_sleep()`` makes retry sleeps return at once; hooks still see the delays that would
have been slept. ``LAMBDA_PERF_NO_SLEEP=1`` in the environment does the same for every
function decorated while it is set (set it before your code is imported).
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["NO_SLEEP_ENV", "FakeClock", "no_sleep", "no_sleep_env", "sleeps_disabled"]

NO_SLEEP_ENV = "LAMBDA_PERF_NO_SLEEP"
_no_sleep_depth = 0


def no_sleep_env() -> bool:
    """True when ``LAMBDA_PERF_NO_SLEEP`` is 1/true/yes (read when a function is decorated)."""
    return os.environ.get(NO_SLEEP_ENV, "").strip().lower() in ("1", "true", "yes")


def sleeps_disabled() -> bool:
    """True inside ``no_sleep()``, in any thread."""
    return _no_sleep_depth > 0


@contextlib.contextmanager
def no_sleep() -> Iterator[None]:
    """Within this block, in every thread, retry sleeps return at once."""
    global _no_sleep_depth
    _no_sleep_depth += 1
    try:
        yield
    finally:
        _no_sleep_depth -= 1


class FakeClock:
    """A clock that moves only when told to, with a ``sleep`` that moves it.

    Pass ``clock=fake`` (it is callable) and ``sleep=fake.sleep`` to anything of
    lambda-perf that takes them; ``fake.sleeps`` lists every sleep asked for.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"FakeClock.sleep: seconds must be >= 0, got {seconds!r}")
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without recording a sleep (work being done, say)."""
        self.now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, sleeps={len(self.sleeps)})"
