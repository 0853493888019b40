"""ttl_cache: TTL per key, single flight, stale on error, backoff; properties over clocks."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_perf import ttl_cache
from lambda_perf.testing import FakeClock


class Flaky(Exception):
    pass


def wait_until(predicate: Any, limit: float = 10.0) -> None:
    """Poll without asserting anything about time (threads are real)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        threading.Event().wait(0.001)


def blocked_in_cache(threads: list[threading.Thread]) -> int:
    frames = sys._current_frames()
    count = 0
    for thread in threads:
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            if frame.f_code.co_name == "get" and "cache" in frame.f_code.co_filename:
                count += 1
                break
            frame = frame.f_back
    return count


def test_caches_per_arguments_until_max_age() -> None:
    fake = FakeClock()
    calls: list[tuple[Any, ...]] = []

    @ttl_cache(10.0, clock=fake)
    def load(a: int, b: int = 0) -> int:
        calls.append((a, b))
        return a + b

    assert load(1) == 1
    assert load(1) == 1
    assert load(2, b=3) == 5
    assert load(2, b=3) == 5
    assert calls == [(1, 0), (2, 3)]
    fake.advance(9.99)
    load(1)
    assert len(calls) == 2
    fake.advance(0.01)
    load(1)
    assert len(calls) == 3


def test_max_age_may_depend_on_the_result() -> None:
    fake = FakeClock()
    tokens = iter([{"token": "a", "expires_in": 100}, {"token": "b", "expires_in": 100}])

    @ttl_cache(lambda tok: tok["expires_in"] - 60, clock=fake)
    def token() -> dict[str, Any]:
        return next(tokens)

    assert token()["token"] == "a"
    fake.advance(39.9)
    assert token()["token"] == "a"
    fake.advance(0.1)
    assert token()["token"] == "b"


def test_eight_threads_on_a_cold_key_make_one_call() -> None:
    calls: list[int] = []
    release = threading.Event()

    @ttl_cache(60.0)
    def expensive() -> str:
        calls.append(1)
        release.wait(10)
        return "config"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(expensive())) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(calls) == 1 and blocked_in_cache(threads) == 8)
    release.set()
    for thread in threads:
        thread.join(10)
    assert calls == [1]
    assert results == ["config"] * 8


def test_stale_value_is_served_within_max_stale_then_the_own_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeClock()
    outcomes: list[Any] = ["v1"]
    raised: list[Flaky] = []

    @ttl_cache(10.0, max_stale=30.0, clock=fake)
    def load() -> Any:
        outcome = outcomes.pop(0) if outcomes else Flaky("down")
        if isinstance(outcome, Flaky):
            raised.append(outcome)
            raise outcome
        return outcome

    assert load() == "v1"
    fake.advance(10.0)
    with caplog.at_level(logging.WARNING, logger="lambda_perf.cache"):
        assert load() == "v1"  # refresh failed: stale
        for _ in range(20):
            fake.advance(1.0)
            assert load() == "v1"
    warnings = [r for r in caplog.records if "refresh failed" in r.getMessage()]
    assert len(warnings) == 1
    fake.advance(10.0)  # now 40 s past the fetch: beyond max_age + max_stale
    with pytest.raises(Flaky) as info:
        load()
    # The function's own exception type, unwrapped: while backing off, a fresh copy of
    # the last one (its traceback does not grow from call to call).
    assert type(info.value) is Flaky
    assert info.value.args == ("down",)
    assert info.value in raised or "backing off" in info.value.__notes__[-1]


def test_failed_refreshes_back_off_instead_of_calling_every_time() -> None:
    fake = FakeClock()
    attempts: list[float] = []
    healthy = [True]

    @ttl_cache(1.0, max_stale=600.0, clock=fake)
    def load() -> str:
        attempts.append(fake())
        if not healthy[0]:
            raise Flaky()
        return "ok"

    load()
    healthy[0] = False
    for _ in range(600):
        fake.advance(0.1)  # one request every 100 ms for a minute
        assert load() == "ok"
    assert len(attempts) < 15  # backing off exponentially, not 600 calls
    gaps = [b - a for a, b in itertools.pairwise(attempts[1:])]  # between failed attempts
    assert all(later >= earlier * 0.5 for earlier, later in itertools.pairwise(gaps))
    healthy[0] = True
    fake.advance(120.0)
    assert load() == "ok"


def test_no_value_and_failures_raise_the_functions_own_error() -> None:
    @ttl_cache(5.0)
    def broken() -> None:
        raise Flaky("first")

    with pytest.raises(Flaky, match="first"):
        broken()
    with pytest.raises(Flaky, match="first"):
        broken()  # within the backoff: the last failure again, no new call


def test_invalidate_and_cache_clear() -> None:
    calls: list[int] = []

    @ttl_cache(60.0)
    def load(x: int) -> int:
        calls.append(x)
        return x

    load(1)
    load(2)
    load.invalidate(1)  # type: ignore[attr-defined]
    load(1)
    load(2)
    assert calls == [1, 2, 1]
    load.cache_clear()  # type: ignore[attr-defined]
    load(2)
    assert calls == [1, 2, 1, 2]


def test_custom_key_function() -> None:
    calls: list[str] = []

    @ttl_cache(60.0, key=lambda url, headers=None: url)
    def fetch(url: str, headers: dict[str, str] | None = None) -> str:
        calls.append(url)
        return url.upper()

    assert fetch("a", headers={"x": "1"}) == "A"
    assert fetch("a", headers={"x": "2"}) == "A"  # unhashable dicts are fine with a key
    assert calls == ["a"]


def test_unhashable_arguments_ask_for_a_key_function() -> None:
    @ttl_cache(60.0)
    def lookup(filters: dict[str, str]) -> int:
        return len(filters)

    with pytest.raises(TypeError, match=r"lookup.*not hashable.*key="):
        lookup({"a": "b"})


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1,), {}, "max_age"),
        (("soon",), {}, "max_age"),
        ((1.0,), {"max_stale": -1}, "max_stale"),
        ((1.0,), {"key": "url"}, "key"),
    ],
)
def test_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ttl_cache(*args, **kwargs)(lambda: None)


@settings(max_examples=200)
@given(
    max_age=st.floats(0.1, 50.0),
    max_stale=st.floats(0.0, 100.0),
    steps=st.lists(
        st.tuples(st.floats(0.0, 40.0), st.booleans()),  # (time passes, source healthy?)
        min_size=1,
        max_size=40,
    ),
)
def test_ttl_and_staleness_decisions_over_arbitrary_clocks(
    max_age: float, max_stale: float, steps: list[tuple[float, bool]]
) -> None:
    fake = FakeClock()
    fetched: list[tuple[float, int]] = []  # (when, version) of every successful fetch
    calls: list[float] = []
    healthy = [True]

    @ttl_cache(max_age, max_stale=max_stale, clock=fake)
    def source() -> int:
        calls.append(fake())
        if not healthy[0]:
            raise Flaky()
        fetched.append((fake(), len(fetched)))
        return len(fetched) - 1

    for elapsed, ok in steps:
        fake.advance(elapsed)
        healthy[0] = ok
        calls_before = len(calls)
        fresh_before = bool(fetched) and fake() - fetched[-1][0] < max_age
        try:
            value = source()
        except Flaky:
            # Only when there is no value young enough to serve, even stale.
            assert not fetched or fake() - fetched[-1][0] >= max_age + max_stale
            assert not fresh_before
            continue
        when, newest = fetched[-1]
        assert value == newest  # never an older value than the newest fetched
        assert fake() - when < max_age + max_stale  # never staler than allowed
        if fresh_before:
            assert len(calls) == calls_before  # a fresh hit calls nothing
        assert len(calls) - calls_before <= 1  # at most one call per request
