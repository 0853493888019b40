"""Property tests for retry_with_backoff: injected clock, sleep and random source only."""

from __future__ import annotations

import contextlib
import email.utils
import math
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lambda_perf import RetryBudget, retry_with_backoff
from lambda_perf.retry import parse_retry_after
from lambda_perf.testing import FakeClock


class Boom(Exception):
    pass


def failing(times: int, fake: FakeClock | None = None, duration: float = 0.0):  # type: ignore[no-untyped-def]
    """A function that fails ``times`` times (each attempt taking ``duration``), then succeeds."""
    raised: list[Boom] = []
    calls = [0]

    def func() -> str:
        calls[0] += 1
        if fake is not None:
            fake.advance(duration)
        if calls[0] <= times:
            error = Boom(calls[0])
            raised.append(error)
            raise error
        return "ok"

    return func, calls, raised


delays_settings = st.fixed_dictionaries(
    {
        "base_delay": st.floats(0.0, 10.0),
        "multiplier": st.floats(1.0, 5.0),
        "extra": st.floats(0.0, 100.0),
        "max_retries": st.integers(0, 8),
    }
)


@given(delays_settings, st.integers(0, 12), st.integers(0, 2**32 - 1))
def test_full_jitter_delays_calls_and_sleeps(
    config: dict[str, float], failures: int, seed: int
) -> None:
    fake = FakeClock()
    max_retries = int(config["max_retries"])
    max_delay = config["base_delay"] + config["extra"]
    func, calls, raised = failing(failures)
    wrapped = retry_with_backoff(
        max_retries=max_retries,
        base_delay=config["base_delay"],
        max_delay=max_delay,
        multiplier=config["multiplier"],
        deadline=None,
        budget=None,
        sleep=fake.sleep,
        clock=fake,
        rng=random.Random(seed),
    )(func)
    try:
        result = wrapped()
    except Boom as error:  # which outcome happens is part of the property
        assert failures > max_retries
        assert error is raised[-1]  # noqa: PT017 - the very object, not a wrapper
        assert len(fake.sleeps) == max_retries
    else:
        assert result == "ok"
        assert failures <= max_retries
        assert len(fake.sleeps) == failures  # k failures then success: exactly k sleeps
    assert calls[0] <= max_retries + 1
    for n, delay in enumerate(fake.sleeps):
        ceiling = min(max_delay, config["base_delay"] * config["multiplier"] ** n)
        assert 0.0 <= delay <= ceiling * (1 + 1e-12)


@given(
    st.sampled_from(["full", "equal", "decorrelated", "none"]),
    st.integers(0, 10**6),
    st.floats(0.001, 5.0),
    st.floats(1.0, 10.0),
    st.integers(0, 2**32 - 1),
)
def test_every_policy_stays_within_its_bounds_even_for_huge_n(
    jitter: str, n: int, base: float, multiplier: float, seed: int
) -> None:
    from lambda_perf.retry import _POLICIES, _Retrier

    r = _Retrier(
        max_retries=3,
        base_delay=base,
        max_delay=base * 20,
        multiplier=multiplier,
        jitter=jitter,
        retry_on=Exception,
        give_up_on=(),
        retry_if_result=None,
        deadline=None,
        reserve=0.0,
        budget=None,
        on_retry=None,
        on_giveup=None,
        sleep=None,
        clock=None,
        rng=None,
    )
    rng = random.Random(seed)
    small = n * math.log(multiplier) < math.log(20) + 1  # else base * multiplier**n > cap
    ceiling = min(base * 20, base * multiplier**n) if small else base * 20
    previous = rng.uniform(base, base * 20)
    delay = _POLICIES[jitter](n, previous, r, rng)
    assert math.isfinite(delay)
    if jitter == "full":
        assert 0.0 <= delay <= ceiling
    elif jitter == "equal":
        assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9
    elif jitter == "none":
        assert delay == ceiling
    else:
        assert base <= delay <= min(base * 20, previous * 3) + 1e-9


@given(st.integers(0, 5), st.integers(0, 2**32 - 1))
def test_on_success_clock_sleep_and_rng_are_never_touched(max_retries: int, seed: int) -> None:
    touched: list[str] = []

    class Spy(random.Random):
        def uniform(self, a: float, b: float) -> float:
            touched.append("rng")
            return super().uniform(a, b)

    def clock() -> float:
        touched.append("clock")
        return 0.0

    def sleep(seconds: float) -> None:
        touched.append("sleep")

    budget = RetryBudget(capacity=1, clock=clock)

    @retry_with_backoff(
        max_retries=max_retries, sleep=sleep, clock=clock, rng=Spy(seed), budget=budget
    )
    def succeed(x: int) -> int:
        return x + 1

    assert [succeed(i) for i in range(20)] == list(range(1, 21))
    assert touched == []


@settings(max_examples=200)
@given(
    deadline=st.floats(0.5, 120.0),
    reserve=st.floats(0.0, 2.0),
    duration=st.floats(0.0, 5.0),
    base=st.floats(0.01, 10.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_retries_stay_within_the_deadline_minus_the_reserve(
    deadline: float, reserve: float, duration: float, base: float, seed: int
) -> None:
    assume(deadline > reserve)  # a deadline within the reserve is refused at decoration
    fake = FakeClock()
    starts: list[float] = []
    ends: list[float] = []

    def func() -> None:
        starts.append(fake.now)
        fake.advance(duration)
        ends.append(fake.now)
        raise Boom()

    wrapped = retry_with_backoff(
        max_retries=50,
        base_delay=base,
        max_delay=max(base, 30.0),
        deadline=deadline,
        reserve=reserve,
        budget=None,
        sleep=fake.sleep,
        clock=fake,
        rng=random.Random(seed),
    )(func)
    with contextlib.suppress(Boom):
        wrapped()
    first_failure = ends[0]
    deadline_at = first_failure + deadline - reserve
    assert sum(fake.sleeps) <= max(0.0, deadline - reserve) + 1e-9
    for start in starts[1:]:
        assert start <= deadline_at + 1e-9
    # Attempts after the second have a measured predecessor, so they also end in time.
    for end in ends[2:]:
        assert end <= deadline_at + 1e-9


@given(
    capacity=st.integers(1, 20),
    refill=st.floats(0.0, 5.0),
    ops=st.lists(
        st.one_of(
            st.just(("acquire", 0.0)),
            st.just(("release", 0.0)),
            st.tuples(st.just("advance"), st.floats(0.0, 30.0)),
        ),
        max_size=60,
    ),
)
def test_budget_tokens_stay_between_zero_and_capacity(
    capacity: int, refill: float, ops: list[tuple[str, float]]
) -> None:
    fake = FakeClock()
    budget = RetryBudget(capacity=capacity, refill_per_second=refill, clock=fake)
    granted = 0
    for op, amount in ops:
        if op == "acquire":
            before = budget.tokens
            ok = budget.try_acquire()
            granted += ok
            assert ok == (before >= 1.0)
        elif op == "release":
            budget.release()
        else:
            fake.advance(amount)
        assert 0.0 <= budget.tokens <= capacity
    if refill == 0.0 and all(op != "release" for op, _ in ops):
        assert granted <= capacity


@given(st.integers(0, 10**6))
def test_retry_after_parses_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == float(seconds)
    assert parse_retry_after(f"  {seconds} ") == float(seconds)


@given(st.integers(0, 10**7), st.floats(1e9, 2e9))
def test_retry_after_parses_http_dates(offset: int, now: float) -> None:
    when = email.utils.formatdate(math.floor(now) + offset, usegmt=True)
    parsed = parse_retry_after(when, now=now)
    assert parsed is not None
    assert abs(parsed - (math.floor(now) + offset - now)) < 1e-6 or parsed == 0.0


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), min_size=1, max_size=20))
def test_retry_after_rejects_garbage(text: str) -> None:
    result = parse_retry_after(text)
    assert result is None or result >= 0.0


def test_full_jitter_is_uniform_kolmogorov_smirnov() -> None:
    fake = FakeClock()
    rng = random.Random(20261126)
    seen: list[float] = []

    @retry_with_backoff(
        max_retries=1,
        base_delay=2.0,
        deadline=None,
        budget=None,
        sleep=fake.sleep,
        clock=fake,
        rng=rng,
        on_retry=lambda state: seen.append(state.delay),
    )
    def always_fails() -> None:
        raise Boom()

    for _ in range(4000):
        with contextlib.suppress(Boom):
            always_fails()
    samples = sorted(d / 2.0 for d in seen)  # the first retry draws from uniform(0, 2)
    n = len(samples)
    assert n == 4000
    statistic = max(
        max((i + 1) / n - x, x - i / n) for i, x in enumerate(samples)
    )  # Kolmogorov–Smirnov distance to the uniform CDF
    critical = 1.949 / math.sqrt(n)  # alpha = 0.001
    assert statistic < critical, f"KS statistic {statistic:.4f} >= {critical:.4f}"
