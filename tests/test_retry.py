"""retry_with_backoff behaviour: giving up, deadlines, Retry-After, budget, hooks, shapes."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from lambda_perf import (
    CircuitOpenError,
    RetryBudget,
    RetryState,
    get_lambda_context,
    retry_with_backoff,
    set_lambda_context,
)
from lambda_perf.testing import FakeClock, no_sleep


class FakeContext:
    """What Lambda passes as ``context``: the deadline is what matters here."""

    def __init__(self, fake: FakeClock, remaining_seconds: float) -> None:
        self.fake = fake
        self.deadline = fake.now + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.fake.now) * 1000)


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def no_lambda_context() -> Any:
    set_lambda_context(None)
    yield
    set_lambda_context(None)


def retrying(fake: FakeClock, **options: Any) -> Any:
    defaults: dict[str, Any] = {
        "sleep": fake.sleep,
        "clock": fake,
        "rng": random.Random(7),
        "budget": None,
    }
    return retry_with_backoff(**{**defaults, **options})


def client_error(code: str, status: int, headers: dict[str, str] | None = None) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return ClientError(response, "GetObject")


def flaky(errors: list[BaseException], result: Any = "done") -> Any:
    calls: list[int] = []

    def func(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    func.calls = calls  # type: ignore[attr-defined]
    return func


def test_bare_decorator_and_decorator_with_arguments(fake: FakeClock) -> None:
    @retry_with_backoff
    def bare(x: int) -> int:
        return x * 2

    assert bare(4) == 8
    func = flaky([ValueError("a"), ValueError("b")])
    assert retrying(fake, max_retries=2)(func)() == "done"
    assert len(func.calls) == 3
    assert len(fake.sleeps) == 2


def test_max_retries_zero_means_one_call(fake: FakeClock) -> None:
    func = flaky([ValueError("only")])
    with pytest.raises(ValueError, match="only"):
        retrying(fake, max_retries=0)(func)()
    assert len(func.calls) == 1
    assert fake.sleeps == []


def test_give_up_note_names_attempts_backoff_and_reason(fake: FakeClock) -> None:
    errors = [KeyError(i) for i in range(4)]
    func = flaky(errors)
    with pytest.raises(KeyError) as info:
        retrying(fake, max_retries=3)(func)()
    assert info.value is errors[-1]
    if sys.version_info >= (3, 11):
        (note,) = info.value.__notes__
        assert "after 4 attempt(s)" in note
        assert f"{sum(fake.sleeps):.3f}s slept" in note
        assert note.endswith("max_retries")


def test_give_up_on_beats_retry_on(fake: FakeClock) -> None:
    func = flaky([PermissionError("no")])
    with pytest.raises(PermissionError):
        retrying(fake, retry_on=OSError, give_up_on=PermissionError)(func)()
    assert len(func.calls) == 1


def test_retry_on_tuple_and_predicate(fake: FakeClock) -> None:
    func = flaky([TimeoutError(), ConnectionError()])
    assert retrying(fake, retry_on=(TimeoutError, ConnectionError))(func)() == "done"
    func = flaky([ValueError("retry me"), ValueError("stop")])
    with pytest.raises(ValueError, match="stop"):
        retrying(fake, retry_on=lambda exc: "retry" in str(exc))(func)()
    assert len(func.calls) == 2


def test_unlisted_exceptions_are_not_retried_and_reason_is_reported(fake: FakeClock) -> None:
    states: list[RetryState] = []
    func = flaky([TypeError("bug")])
    with pytest.raises(TypeError):
        retrying(fake, retry_on=OSError, on_giveup=states.append)(func)()
    assert [s.reason for s in states] == ["not_retryable"]
    assert states[0].delay == 0.0


def test_circuit_open_error_is_never_retried(fake: FakeClock) -> None:
    func = flaky([CircuitOpenError("payments", 12.0)])
    with pytest.raises(CircuitOpenError) as info:
        retrying(fake, retry_on=Exception)(func)()
    assert len(func.calls) == 1
    assert info.value.name == "payments"
    assert info.value.retry_after == 12.0


def test_base_exceptions_propagate_without_retry(fake: FakeClock) -> None:
    func = flaky([KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        retrying(fake)(func)()
    assert len(func.calls) == 1


def test_retry_if_result_retries_and_returns_the_last_result(fake: FakeClock) -> None:
    results = iter([None, None, None, None, "late"])

    @retrying(fake, max_retries=3, retry_if_result=lambda r: r is None)
    def poll() -> str | None:
        return next(results)

    assert poll() is None  # retries ran out: the last result comes back
    assert len(fake.sleeps) == 3

    results2 = iter([None, "ready"])

    @retrying(fake, retry_if_result=lambda r: r is None)
    def poll2() -> str | None:
        return next(results2)

    assert poll2() == "ready"


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (client_error("ThrottlingException", 400), True),
        (client_error("Throttling", 400), True),
        (client_error("TooManyRequestsException", 429), True),
        (client_error("RequestLimitExceeded", 400), True),
        (client_error("ProvisionedThroughputExceededException", 400), True),
        (client_error("RequestThrottled", 400), True),
        (client_error("SlowDown", 503), True),
        (client_error("InternalError", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("SomethingNew", 502), True),
        (client_error("AccessDenied", 403), False),
        (client_error("NoSuchKey", 404), False),
        (client_error("ValidationException", 400), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (ConnectionResetError(), True),
        (ValueError("not aws"), False),
    ],
)
def test_aws_classifier(fake: FakeClock, error: BaseException, retried: bool) -> None:
    func = flaky([error])
    wrapped = retrying(fake, retry_on="aws")(func)
    if retried:
        assert wrapped() == "done"
    else:
        with pytest.raises(type(error)):
            wrapped()
    assert len(func.calls) == (2 if retried else 1)


def test_auto_deadline_shortens_the_last_sleep_to_fit(fake: FakeClock) -> None:
    set_lambda_context(FakeContext(fake, remaining_seconds=3.0))
    states: list[RetryState] = []
    func = flaky([OSError(i) for i in range(10)])
    wrapped = retrying(
        fake,
        max_retries=10,
        base_delay=1.0,
        jitter="none",
        reserve=0.5,
        on_retry=states.append,
        on_giveup=states.append,
    )(func)
    with pytest.raises(OSError):
        wrapped()
    # Deadline 3.0 s - 0.5 s reserve: sleeps 1.0, then 1.5 (shortened from 2.0), then none fits.
    assert fake.sleeps == [1.0, 1.5]
    assert states[-1].reason == "deadline"
    assert fake.now <= 2.5


def test_nothing_fits_gives_up_at_once_with_reason_deadline(fake: FakeClock) -> None:
    set_lambda_context(FakeContext(fake, remaining_seconds=0.2))
    states: list[RetryState] = []
    func = flaky([OSError("late")])
    with pytest.raises(OSError, match="late"):
        retrying(fake, reserve=0.25, on_giveup=states.append)(func)()
    assert fake.sleeps == []
    assert [s.reason for s in states] == ["deadline"]


def test_measured_attempt_duration_is_reserved_before_sleeping(fake: FakeClock) -> None:
    set_lambda_context(FakeContext(fake, remaining_seconds=10.0))
    calls = 0

    def slow() -> None:
        nonlocal calls
        calls += 1
        fake.advance(3.0)  # every attempt takes 3 s
        raise OSError(calls)

    with pytest.raises(OSError):
        retrying(fake, max_retries=10, base_delay=0.1, jitter="none", reserve=0.0)(slow)()
    # Deadline from the first failure at t=3: 13. Attempt 2 runs 3.1-6.1, attempt 3
    # 6.3-9.3; a fourth would need 3 s more after a sleep, and 9.3 + 0.4 + 3 > 13.
    assert calls == 3
    assert fake.now <= 13.0


def test_deadline_none_ignores_the_context(fake: FakeClock) -> None:
    set_lambda_context(FakeContext(fake, remaining_seconds=0.1))
    func = flaky([OSError(), OSError()])
    assert retrying(fake, deadline=None, base_delay=1.0)(func)() == "done"


def test_explicit_deadline_in_seconds(fake: FakeClock) -> None:
    func = flaky([OSError(i) for i in range(10)])
    with pytest.raises(OSError):
        retrying(fake, max_retries=10, jitter="none", deadline=5.0, reserve=0.0)(func)()
    assert sum(fake.sleeps) == pytest.approx(5.0)
    assert fake.sleeps == [1.0, 2.0, 2.0]


def test_context_set_in_one_thread_is_seen_in_another() -> None:
    import threading

    marker = object()
    set_lambda_context(marker)
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(get_lambda_context()))
    thread.start()
    thread.join()
    assert seen == [marker]


def test_botocore_retry_after_header_directs_the_delay(fake: FakeClock) -> None:
    func = flaky([client_error("SlowDown", 503, {"retry-after": "7"})])
    assert retrying(fake, base_delay=0.1)(func)() == "done"
    assert fake.sleeps == [7.0]
    func = flaky([client_error("Throttling", 400, {"x-amz-retry-after": "1500"})])
    assert retrying(fake, base_delay=0.1)(func)() == "done"
    assert fake.sleeps[-1] == 1.5


def test_retry_after_is_capped_at_max_delay(fake: FakeClock) -> None:
    func = flaky([client_error("SlowDown", 503, {"retry-after": "600"})])
    assert retrying(fake, max_delay=20.0)(func)() == "done"
    assert fake.sleeps == [20.0]


def test_retry_after_beyond_the_deadline_gives_up_now(fake: FakeClock) -> None:
    set_lambda_context(FakeContext(fake, remaining_seconds=5.0))
    states: list[RetryState] = []
    func = flaky([client_error("SlowDown", 503, {"retry-after": "30"})])
    with pytest.raises(ClientError):
        retrying(fake, on_giveup=states.append)(func)()
    assert fake.sleeps == []
    assert states[0].reason == "deadline"


def test_exception_with_response_headers_is_understood(fake: FakeClock) -> None:
    class Response:
        headers = {"Retry-After": "3"}  # noqa: RUF012

    class HTTPError(Exception):
        response = Response()

    func = flaky([HTTPError()])
    assert retrying(fake)(func)() == "done"
    assert fake.sleeps == [3.0]


def test_empty_budget_gives_up_with_reason_budget(fake: FakeClock) -> None:
    budget = RetryBudget(capacity=2, refill_per_second=0.0, clock=fake)
    states: list[RetryState] = []
    func = flaky([OSError(i) for i in range(10)])
    with pytest.raises(OSError):
        retrying(fake, max_retries=5, budget=budget, on_giveup=states.append)(func)()
    assert len(func.calls) == 3  # two retries, then the bucket is empty
    assert states[-1].reason == "budget"
    assert budget.tokens == 0.0


def test_success_after_retries_returns_a_token(fake: FakeClock) -> None:
    budget = RetryBudget(capacity=5, refill_per_second=0.0, clock=fake)
    func = flaky([OSError(), OSError()])
    retrying(fake, budget=budget)(func)()
    assert budget.tokens == 4.0  # two taken, one given back


def test_default_budget_is_shared_across_functions() -> None:
    from lambda_perf.retry import DEFAULT_BUDGET

    first = retry_with_backoff(max_retries=2)(flaky([OSError()] * 3))
    second = retry_with_backoff(max_retries=2)(flaky([OSError()] * 3))
    with no_sleep(), pytest.raises(OSError):
        first()
    after_first = DEFAULT_BUDGET.tokens
    with no_sleep(), pytest.raises(OSError):
        second()
    # Each gave up after two retries, both paid from the one process-wide bucket.
    assert after_first == pytest.approx(DEFAULT_BUDGET.capacity - 2, abs=0.5)
    assert DEFAULT_BUDGET.tokens == pytest.approx(DEFAULT_BUDGET.capacity - 4, abs=0.5)


def test_hook_errors_are_logged_and_do_not_break_the_retry(
    fake: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_hook(state: RetryState) -> None:
        raise RuntimeError("hook bug")

    func = flaky([OSError()])
    with caplog.at_level(logging.ERROR, logger="lambda_perf.retry"):
        assert retrying(fake, on_retry=broken_hook)(func)() == "done"
    assert "hook" in caplog.text
    assert "hook bug" in caplog.text


def test_hooks_see_attempt_delay_and_elapsed(fake: FakeClock) -> None:
    states: list[RetryState] = []
    func = flaky([OSError("1"), OSError("2")])
    retrying(fake, jitter="none", base_delay=1.0, on_retry=states.append)(func)()
    assert [(s.attempt, s.delay) for s in states] == [(1, 1.0), (2, 2.0)]
    assert [s.elapsed for s in states] == [0.0, 1.0]
    assert states[0].function is func
    assert str(states[1].exception) == "2"
    assert states[0].reason is None


def test_no_sleep_skips_sleeping_but_hooks_see_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}")

    monkeypatch.setattr(time, "sleep", forbidden)
    delays: list[float] = []
    func = flaky([OSError(), OSError()])
    with no_sleep():
        retry_with_backoff(jitter="none", on_retry=lambda s: delays.append(s.delay))(func)()
    assert delays == [1.0, 2.0]
    monkeypatch.setenv("LAMBDA_PERF_NO_SLEEP", "1")
    assert retry_with_backoff(jitter="none")(flaky([OSError()]))() == "done"


def test_async_functions_retry_with_an_async_sleep(fake: FakeClock) -> None:
    slept: list[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        slept.append(seconds)

    errors = [OSError("a"), OSError("b")]
    calls: list[int] = []

    @retry_with_backoff(sleep=fake_async_sleep, jitter="none", budget=None)
    async def fetch(x: int) -> int:
        calls.append(x)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return x * 10

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(3)) == 30
    assert slept == [1.0, 2.0]

    @retry_with_backoff(max_retries=1, budget=None)
    async def broken() -> None:
        raise OSError("still broken")

    with no_sleep(), pytest.raises(OSError, match="still broken"):
        asyncio.run(broken())


def test_async_retry_if_result(fake: FakeClock) -> None:
    values = iter([0, 0, 5])

    @retry_with_backoff(retry_if_result=lambda r: r == 0, budget=None)
    async def poll() -> int:
        return next(values)

    with no_sleep():
        assert asyncio.run(poll()) == 5


def test_methods_staticmethods_and_classmethods(fake: FakeClock) -> None:
    class Service:
        def __init__(self) -> None:
            self.failures = 1

        @retrying(fake)
        def method(self, x: int) -> int:
            if self.failures:
                self.failures -= 1
                raise OSError()
            return x + 1

        @retrying(fake)
        @staticmethod
        def static(x: int) -> int:
            return x + 2

        @retrying(fake)
        @classmethod
        def klass(cls, x: int) -> str:
            return f"{cls.__name__}{x}"

    service = Service()
    assert service.method(1) == 2
    assert Service.static(1) == 3
    assert service.static(1) == 3
    assert Service.klass(1) == "Service1"


def test_signature_and_metadata_are_kept() -> None:
    def documented(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """Docs."""
        return f"{a}{b}{c}"

    wrapped = retry_with_backoff(max_retries=2)(documented)
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Docs."
    assert inspect.signature(wrapped) == inspect.signature(documented)
    assert list(inspect.signature(wrapped).parameters) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"max_retries": 2.5}, TypeError, "max_retries"),
        ({"max_retries": True}, TypeError, "max_retries"),
        ({"base_delay": -1}, ValueError, "base_delay"),
        ({"max_delay": -1}, ValueError, "max_delay"),
        ({"base_delay": 5, "max_delay": 1}, ValueError, "max_delay"),
        ({"multiplier": 0.5}, ValueError, "multiplier"),
        ({"jitter": "wild"}, ValueError, "jitter"),
        ({"reserve": -0.1}, ValueError, "reserve"),
        ({"deadline": 0}, ValueError, "deadline"),
        ({"deadline": "soon"}, TypeError, "deadline"),
        ({"retry_on": "everything"}, TypeError, "retry_on"),
        ({"give_up_on": 42}, TypeError, "give_up_on"),
        ({"budget": 10}, TypeError, "budget"),
        ({"on_retry": "print"}, TypeError, "on_retry"),
        ({"rng": object()}, TypeError, "rng"),
        ({"base_delay": "1"}, TypeError, "base_delay"),
    ],
)
def test_invalid_arguments_are_rejected_when_decorating(
    options: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        retry_with_backoff(**options)


@pytest.mark.parametrize(
    ("options", "name"),
    [({"capacity": 0}, "capacity"), ({"refill_per_second": -1}, "refill_per_second")],
)
def test_invalid_budget_arguments(options: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryBudget(**options)


def test_decorating_a_non_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="callable"):
        retry_with_backoff(42)  # type: ignore[call-overload]


def test_budget_repr_shows_its_state() -> None:
    assert "capacity=3" in repr(RetryBudget(capacity=3))


# --- issue 9: every async shape, generators, notes, non-finite settings ----------------


class _Flaky(Exception):
    pass


@pytest.mark.parametrize("shape", ["partial", "callable_object", "bound_method"])
def test_async_callables_of_every_shape_are_retried(shape: str) -> None:
    import asyncio
    import functools

    calls: list[int] = []

    async def flaky(tag: str = "") -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _Flaky()
        return "ok"

    class Caller:
        async def __call__(self) -> str:
            return await flaky()

        async def method(self) -> str:
            return await flaky()

    target: Any = {
        "partial": functools.partial(flaky, "x"),
        "callable_object": Caller(),
        "bound_method": Caller().method,
    }[shape]
    wrapped = retry_with_backoff(max_retries=5, budget=None, sleep=lambda s: None)(target)
    assert asyncio.run(wrapped()) == "ok"
    assert len(calls) == 3


def test_generator_functions_are_refused_at_decoration() -> None:
    def pages() -> Any:
        yield 1

    async def async_pages() -> Any:
        yield 1

    with pytest.raises(TypeError, match=r"generator function.*consumes it"):
        retry_with_backoff(pages)
    with pytest.raises(TypeError, match="async generator function"):
        retry_with_backoff(max_retries=2)(async_pages)


def test_an_exception_whose_notes_are_a_tuple_is_raised_as_it_is() -> None:
    error = _Flaky("mine")
    error.__notes__ = ("a tuple, not a list",)  # type: ignore[assignment]

    @retry_with_backoff(max_retries=1, budget=None, sleep=lambda s: None)
    def always() -> None:
        raise error

    with pytest.raises(_Flaky) as info:
        always()
    assert info.value is error
    assert error.__notes__ == ("a tuple, not a list",)


def test_re_raising_one_instance_keeps_one_note() -> None:
    error = _Flaky("shared")

    @retry_with_backoff(max_retries=1, budget=None, sleep=lambda s: None)
    def always() -> None:
        raise error

    for _ in range(50):
        with pytest.raises(_Flaky):
            always()
    notes = [n for n in error.__notes__ if "gave up" in n]
    assert len(notes) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"base_delay": float("inf"), "max_delay": float("inf")},
        {"max_delay": float("inf")},
        {"multiplier": float("inf")},
        {"deadline": float("inf")},
        {"reserve": float("nan")},
    ],
)
def test_non_finite_settings_are_refused_at_decoration(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="finite"):
        retry_with_backoff(**options)  # type: ignore[call-overload]


def test_an_infinite_budget_refill_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        RetryBudget(refill_per_second=float("inf"))


def test_a_deadline_within_the_reserve_is_refused() -> None:
    with pytest.raises(ValueError, match=r"deadline \(0.2\) must be longer than reserve"):
        retry_with_backoff(deadline=0.2, reserve=0.25)
    retry_with_backoff(deadline=0.3, reserve=0.25)  # longer: fine
