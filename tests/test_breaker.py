"""CircuitBreaker in one process: states, trip rules, guards, concurrency, arguments."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import pytest

from herd import herd
from lambda_perf import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    LambdaPerfError,
    retry_with_backoff,
)
from lambda_perf.testing import FakeClock, no_sleep


class Down(Exception):
    pass


class NotFound(Exception):
    pass


def make(fake: FakeClock, **options: Any) -> CircuitBreaker:
    return CircuitBreaker(**{"failure_threshold": 3, "timeout": 10.0, "clock": fake, **options})


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Down):
            breaker.call(_raise, Down())


def _raise(exc: BaseException) -> None:
    raise exc


def test_consecutive_failures_open_and_open_fails_fast() -> None:
    fake = FakeClock()
    breaker = make(fake, name="payments")
    calls: list[int] = []
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED
    fail(breaker)
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(calls.append, 1)
    assert calls == []
    assert info.value.name == "payments"
    assert info.value.retry_after == pytest.approx(10.0)
    assert isinstance(info.value, LambdaPerfError)
    fake.advance(4.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.call(calls.append, 1)
    assert info.value.retry_after == pytest.approx(6.0)


def test_a_success_resets_the_streak() -> None:
    breaker = make(FakeClock())
    fail(breaker, 2)
    assert breaker.call(lambda: "ok") == "ok"
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED


def test_probe_success_closes_and_probe_failure_reopens() -> None:
    fake = FakeClock()
    breaker = make(fake)
    fail(breaker, 3)
    fake.advance(10.0)
    assert breaker.state is CircuitState.HALF_OPEN
    fail(breaker)  # the probe fails: open for another timeout
    assert breaker.state is CircuitState.OPEN
    fake.advance(9.9)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    fake.advance(0.1)
    assert breaker.call(lambda: "back") == "back"
    assert breaker.state is CircuitState.CLOSED
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED  # counts were reset on closing


def test_half_open_admits_exactly_one_of_eight_concurrent_callers() -> None:
    fake = FakeClock()
    breaker = make(fake, failure_threshold=1)
    fail(breaker)
    fake.advance(10.0)
    assert herd([breaker.call] * 8) == (1, 7)
    assert breaker.state is CircuitState.CLOSED


def test_half_open_max_calls_admits_that_many_probes() -> None:
    fake = FakeClock()
    breaker = make(fake, failure_threshold=1, half_open_max_calls=2)
    fail(breaker)
    fake.advance(10.0)
    with breaker, breaker, pytest.raises(CircuitOpenError), breaker:
        pass
    assert breaker.state is CircuitState.CLOSED


def test_failure_rate_over_the_window() -> None:
    breaker = make(
        FakeClock(),
        failure_threshold=None,
        failure_rate_threshold=50,
        window_size=10,
        minimum_calls=4,
    )
    fail(breaker)
    for _ in range(2):
        breaker.call(lambda: None)
    assert breaker.state is CircuitState.CLOSED  # 1 of 3: below minimum_calls anyway
    fail(breaker)  # 2 of 4 = 50 %
    assert breaker.state is CircuitState.OPEN


def test_failure_rate_window_forgets_old_calls() -> None:
    breaker = make(
        FakeClock(),
        failure_threshold=None,
        failure_rate_threshold=60,
        window_size=5,
        minimum_calls=5,
    )
    fail(breaker, 2)
    for _ in range(5):
        breaker.call(lambda: None)  # the two failures slide out of the window
    fail(breaker, 2)  # 2 of the last 5 = 40 %
    assert breaker.state is CircuitState.CLOSED
    fail(breaker)  # 3 of 5 = 60 %
    assert breaker.state is CircuitState.OPEN


def test_consecutive_rule_still_applies_with_a_rate() -> None:
    breaker = make(FakeClock(), failure_rate_threshold=90, window_size=20, minimum_calls=20)
    fail(breaker, 3)
    assert breaker.state is CircuitState.OPEN


def test_slow_calls_count_as_failures() -> None:
    fake = FakeClock()
    breaker = make(fake, failure_threshold=2, slow_call_duration=1.0)

    def slow() -> str:
        fake.advance(1.5)
        return "late"

    assert breaker.call(slow) == "late"
    assert breaker.call(slow) == "late"
    assert breaker.state is CircuitState.OPEN


def test_failure_if_counts_results_as_failures() -> None:
    breaker = make(FakeClock(), failure_threshold=2, failure_if=lambda r: r["status"] >= 500)
    assert breaker.call(lambda: {"status": 503})["status"] == 503
    assert breaker.call(lambda: {"status": 200})["status"] == 200
    breaker.call(lambda: {"status": 500})
    assert breaker.state is CircuitState.CLOSED
    breaker.call(lambda: {"status": 500})
    assert breaker.state is CircuitState.OPEN


def test_ignored_exceptions_count_as_neither() -> None:
    fake = FakeClock()
    breaker = make(fake, ignore=NotFound)
    fail(breaker, 2)
    with pytest.raises(NotFound):
        breaker.call(_raise, NotFound())
    fail(breaker)  # the streak was not reset by the ignored error
    assert breaker.state is CircuitState.OPEN
    fake.advance(10.0)
    with pytest.raises(NotFound):
        breaker.call(_raise, NotFound())  # a 404 probe does not close it
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.call(lambda: "ok") == "ok"  # the probe slot was released
    assert breaker.state is CircuitState.CLOSED


def test_fallback_is_called_instead_of_raising() -> None:
    seen: list[CircuitOpenError] = []

    def fallback(error: CircuitOpenError) -> str:
        seen.append(error)
        return "cached"

    breaker = make(FakeClock(), failure_threshold=1, fallback=fallback)
    fail(breaker)

    @breaker
    def fetch() -> str:
        return "live"

    assert fetch() == "cached"
    assert breaker.call(fetch) == "cached"
    assert len(seen) == 2


def test_with_raises_while_open_and_records_the_body() -> None:
    breaker = make(FakeClock(), failure_threshold=2, fallback=lambda e: "unused")
    ran: list[int] = []
    for _ in range(2):
        with pytest.raises(Down), breaker:
            raise Down()
    with pytest.raises(CircuitOpenError), breaker:
        ran.append(1)
    assert ran == []


def test_async_with_and_async_functions() -> None:
    fake = FakeClock()
    breaker = make(fake, failure_threshold=2)

    @breaker
    async def fetch(ok: bool) -> str:
        await asyncio.sleep(0)
        if not ok:
            raise Down()
        return "ok"

    async def scenario() -> list[str]:
        out = [await fetch(True)]
        for _ in range(2):
            with pytest.raises(Down):
                await fetch(False)
        with pytest.raises(CircuitOpenError):
            await fetch(True)
        with pytest.raises(CircuitOpenError):
            async with breaker:
                out.append("body ran")
        fake.advance(10.0)
        async with breaker:
            out.append("probe")
        out.append(await fetch(True))
        return out

    assert asyncio.run(scenario()) == ["ok", "probe", "ok"]


def test_async_fallback_may_be_a_coroutine() -> None:
    async def fallback(error: CircuitOpenError) -> str:
        return "from cache"

    breaker = make(FakeClock(), failure_threshold=1, fallback=fallback, failure_if=lambda r: False)

    @breaker
    async def fetch() -> str:
        raise Down()

    async def scenario() -> str:
        with pytest.raises(Down):
            await fetch()
        return await fetch()

    assert asyncio.run(scenario()) == "from cache"


def test_methods_staticmethods_and_classmethods() -> None:
    breaker = make(FakeClock())

    class Client:
        @breaker
        def get(self, x: int) -> int:
            return x + 1

        @breaker
        @staticmethod
        def ping() -> str:
            return "pong"

        @breaker
        @classmethod
        def build(cls) -> str:
            return cls.__name__

    assert Client().get(1) == 2
    assert Client.ping() == "pong"
    assert Client.build() == "Client"
    assert Client.get.__name__ == "get"


def test_a_late_result_from_an_earlier_phase_changes_nothing() -> None:
    fake = FakeClock()
    breaker = make(fake, failure_threshold=2)
    with breaker:  # a call that began while closed ...
        fail(breaker, 2)  # ... while others trip the circuit
        assert breaker.state is CircuitState.OPEN
    assert breaker.state is CircuitState.OPEN  # its late success does not close it
    fake.advance(10.0)
    with pytest.raises(Down), breaker:  # noqa: PT012 - a probe ...
        breaker.reset()  # ... outlived by a reset
        raise Down()
    assert breaker.state is CircuitState.CLOSED  # its late failure does not reopen it


def test_success_path_takes_no_global_lock() -> None:
    # pybreaker serialises callers; here eight calls must be inside at the same time.
    breaker = make(FakeClock())
    barrier = threading.Barrier(8, timeout=10)
    errors: list[BaseException] = []

    @breaker
    def inside() -> None:
        barrier.wait()

    def run() -> None:
        try:
            inside()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_counts_stay_exact_under_eight_threads() -> None:
    transitions: list[tuple[CircuitState, CircuitState]] = []
    breaker = make(
        FakeClock(),
        failure_threshold=8 * 250,
        on_state_change=lambda b, old, new: transitions.append((old, new)),
    )

    @breaker
    def broken() -> None:
        raise Down()

    def hammer() -> None:
        for _ in range(250):
            with contextlib.suppress(Down, CircuitOpenError):
                broken()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker._streak == 8 * 250
    assert transitions == [(CircuitState.CLOSED, CircuitState.OPEN)]


def test_on_state_change_errors_are_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    def broken(breaker: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError("listener bug")

    breaker = make(FakeClock(), failure_threshold=1, on_state_change=broken, name="orders")
    with caplog.at_level(logging.ERROR, logger="lambda_perf.breaker"):
        fail(breaker)
    assert breaker.state is CircuitState.OPEN
    assert "orders" in caplog.text
    assert "listener bug" in caplog.text


def test_reset_and_force_open() -> None:
    breaker = make(FakeClock())
    breaker.force_open()
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    breaker.reset()
    assert breaker.call(lambda: 1) == 1
    assert "CLOSED" in repr(breaker)


def test_an_open_circuit_is_not_retried() -> None:
    breaker = make(FakeClock(), failure_threshold=1)
    calls: list[int] = []

    @retry_with_backoff(max_retries=5, budget=None)
    @breaker
    def fetch() -> None:
        calls.append(1)
        raise Down()

    with no_sleep(), pytest.raises(CircuitOpenError):
        fetch()
    assert calls == [1]  # the first failure opened it; the retry met CircuitOpenError


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": -1}, "failure_threshold"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -5}, "timeout"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 101}, "failure_rate_threshold"),
        ({"minimum_calls": 30, "window_size": 20}, "minimum_calls"),
        ({"half_open_max_calls": 0}, "half_open_max_calls"),
        ({"window_size": 0}, "window_size"),
        ({"slow_call_duration": 0}, "slow_call_duration"),
        ({"fallback": "cached"}, "fallback"),
        ({"failure_if": 3}, "failure_if"),
        ({"ignore": "NotFound"}, "ignore"),
        ({"failure_threshold": None}, "failure_rate_threshold"),
        ({"store": object()}, "name"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(
    options: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        CircuitBreaker(**options)


def test_decorating_a_non_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="callable"):
        CircuitBreaker()(42)  # type: ignore[arg-type]


def test_probe_allowed_exactly_when_state_says_half_open() -> None:
    # Found by the state machine: opened_at + timeout - now and now - opened_at >= timeout
    # disagree by a rounding error for some clock values; both now use the latter.
    fake = FakeClock()
    breaker = make(fake, failure_threshold=1)
    for seconds in (9.99, 9.99, 25.0, 9.99):
        fake.advance(seconds)
    fail(breaker)
    fake.advance(10.0)  # 64.97 - 54.97 is a hair under 10 in floating point
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "too early")
    fake.advance(1e-9)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.call(lambda: "probe") == "probe"


# --- issue 9: classifiers that raise, vanished probes, every async shape ---------------


def open_then_wait(breaker: CircuitBreaker, fake: FakeClock) -> None:
    fail(breaker, 3)
    assert breaker.state is CircuitState.OPEN
    fake.advance(10.0)


def test_a_failure_if_that_raises_counts_as_a_failure_and_frees_the_probe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeClock()
    breaker = make(fake, failure_if=lambda r: r["status"] >= 500)
    open_then_wait(breaker, fake)
    with caplog.at_level(logging.ERROR, logger="lambda_perf.breaker"):
        assert breaker.call(lambda: None) is None  # the probe: failure_if(None) raises
    assert breaker.state is CircuitState.OPEN  # a failed probe opens it again
    assert any("failure_if raised" in r.getMessage() for r in caplog.records)
    fake.advance(10.0)
    assert breaker.call(lambda: {"status": 200}) == {"status": 200}
    assert breaker.state is CircuitState.CLOSED


def test_a_probe_ended_by_a_base_exception_frees_its_slot() -> None:
    fake = FakeClock()
    breaker = make(fake)
    open_then_wait(breaker, fake)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(_raise, KeyboardInterrupt())
    assert breaker.call(lambda: "next probe") == "next probe"
    assert breaker.state is CircuitState.CLOSED


def test_a_probe_that_never_reports_back_loses_its_slot_after_probe_timeout() -> None:
    fake = FakeClock()
    breaker = make(fake, probe_timeout=5.0)
    open_then_wait(breaker, fake)
    breaker.__enter__()  # a probe whose caller vanishes: __exit__ never runs
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    fake.advance(4.9)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    fake.advance(0.2)
    assert breaker.call(lambda: "new probe") == "new probe"
    assert breaker.state is CircuitState.CLOSED


class AsyncCallable:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        raise Down()


async def _async_down(tag: str = "") -> None:
    raise Down()


@pytest.mark.parametrize("shape", ["call", "partial", "callable_object", "bound_method"])
def test_every_async_shape_is_guarded(shape: str) -> None:
    import functools

    fake = FakeClock()
    breaker = make(fake)

    class Client:
        async def fetch(self) -> None:
            raise Down()

    async def one_call() -> None:
        if shape == "call":
            await breaker.call(_async_down)
        elif shape == "partial":
            await breaker(functools.partial(_async_down, "x"))()
        elif shape == "callable_object":
            await breaker(AsyncCallable())()
        else:
            await breaker(Client().fetch)()

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(Down):
                await one_call()
        with pytest.raises(CircuitOpenError):
            await breaker.call(_async_down)

    asyncio.run(run())
    assert breaker.state is CircuitState.OPEN


def test_generator_functions_are_refused_at_decoration() -> None:
    fake = FakeClock()
    breaker = make(fake)

    def pages() -> Any:
        yield 1

    async def async_pages() -> Any:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        breaker(pages)
    with pytest.raises(TypeError, match="async generator function"):
        breaker(async_pages)
    with pytest.raises(TypeError, match="generator function"):
        breaker.call(pages)
