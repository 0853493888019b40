"""Deadline-aware retries with exponential backoff and full jitter.

The pieces are small and composed by :func:`retry_with_backoff`:

* backoff policies (``_full``, ``_equal``, ``_decorrelated``, ``_no_jitter``) compute the
  next delay from the retry number, the previous delay and a random source;
* :class:`RetryBudget` is a process-wide token bucket against retry storms;
* :func:`parse_retry_after` / :func:`server_retry_after` read a server-directed delay;
* ``_Retrier`` holds a decorated function's settings, and ``_Run`` the state of one call
  that has failed at least once.

The success path is the call inside a ``try``: no clock read, no random draw, no lock and
no allocation. Everything else happens only after a failure.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import deque

from . import testing as _testing
from ._callables import callable_kind, refuse_generators
from ._errors import CircuitOpenError, add_note
from ._snapstart import jitter_random, register_hooks
from .aws_errors import is_retryable_aws_error
from .context import get_lambda_context
from .testing import no_sleep_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

    from ._retry_state import GiveUpReason, RetryState

    P = ParamSpec("P")
    R = TypeVar("R")

    class RandomSource(Protocol):
        def uniform(self, a: float, b: float, /) -> float: ...

    ExceptionMatch = (
        type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
    )
    JitterName = Literal["full", "equal", "decorrelated", "none"]
    Hook = Callable[[RetryState], object]

__all__ = [
    "DEFAULT_BUDGET",
    "RetryBudget",
    "parse_retry_after",
    "retry_with_backoff",
    "server_retry_after",
]

_log_name = "lambda_perf.retry"
register_hooks()  # under SnapStart: reseed the jitter source after each restore


# --- checking arguments ---------------------------------------------------------------


def _check_number(
    owner: str, name: str, value: object, *, minimum: float, exclusive: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    if value < minimum or (exclusive and value == minimum):
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        raise ValueError(f"{owner}: {name} must be {bound}, got {value!r}")


# --- backoff policies -----------------------------------------------------------------


def _ceiling(n: int, base: float, multiplier: float, cap: float) -> float:
    """min(cap, base * multiplier**n), without overflow for any n."""
    if base == 0.0:
        return 0.0
    try:
        grown = base * multiplier**n
    except OverflowError:
        return cap
    return cap if grown > cap else grown


def _full(n: int, previous: float, r: _Retrier, rng: RandomSource) -> float:
    return rng.uniform(0.0, _ceiling(n, r.base_delay, r.multiplier, r.max_delay))


def _equal(n: int, previous: float, r: _Retrier, rng: RandomSource) -> float:
    half = _ceiling(n, r.base_delay, r.multiplier, r.max_delay) / 2.0
    return half + rng.uniform(0.0, half)


def _decorrelated(n: int, previous: float, r: _Retrier, rng: RandomSource) -> float:
    # "Exponential Backoff And Jitter", AWS Architecture Blog: grows from the last sleep.
    upper = max(r.base_delay, (previous or r.base_delay) * 3.0)
    return min(r.max_delay, rng.uniform(r.base_delay, upper))


def _no_jitter(n: int, previous: float, r: _Retrier, rng: RandomSource) -> float:
    return _ceiling(n, r.base_delay, r.multiplier, r.max_delay)


_POLICIES = {"full": _full, "equal": _equal, "decorrelated": _decorrelated, "none": _no_jitter}


# --- budget ---------------------------------------------------------------------------


class RetryBudget:
    """A token bucket shared by retried functions: each retry takes a token.

    ``capacity`` tokens at most; ``refill_per_second`` come back over time, and a call
    that succeeds after retrying returns one. An empty bucket makes callers give up at
    once (``reason="budget"``), so an outage does not become a retry storm. Only the
    failure path touches it.

    The tokens live in a bounded ``collections.deque``, whose ``pop`` and ``append`` are
    atomic: taking or returning a token needs no lock. Time-based refill runs under a
    lock, when the bucket is found empty (or ``tokens`` is read).
    """

    def __init__(
        self,
        capacity: int = 50,
        refill_per_second: float = 1.0,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"RetryBudget: capacity must be an int, got {capacity!r}")
        if capacity < 1:
            raise ValueError(f"RetryBudget: capacity must be >= 1, got {capacity!r}")
        _check_number("RetryBudget", "refill_per_second", refill_per_second, minimum=0.0)
        self.capacity = capacity
        self.refill_per_second = float(refill_per_second)
        self._clock = clock or time.monotonic
        self._tokens: deque[None] = deque([None] * capacity, maxlen=capacity)
        self._credit = 0.0
        self._refilled_at: float | None = None
        self._refill_lock = threading.Lock()

    def _refill(self) -> None:
        with self._refill_lock:
            now = self._clock()
            if self._refilled_at is not None and now > self._refilled_at:
                self._credit += (now - self._refilled_at) * self.refill_per_second
            self._refilled_at = now
            whole = min(int(self._credit), self.capacity)
            if whole:
                self._credit = 0.0 if whole == self.capacity else self._credit - whole
                self._tokens.extend([None] * whole)  # maxlen drops what overflows

    def try_acquire(self) -> bool:
        """Take one token if there is one."""
        try:
            self._tokens.pop()
        except IndexError:
            self._refill()
            try:
                self._tokens.pop()
            except IndexError:
                return False
        return True

    def release(self) -> None:
        """Give one token back (a retried call succeeded); a full bucket stays full."""
        self._tokens.append(None)

    def reset(self) -> None:
        """Fill the bucket again (between tests, say)."""
        with self._refill_lock:
            self._tokens.extend([None] * self.capacity)
            self._credit = 0.0
            self._refilled_at = None

    @property
    def tokens(self) -> int:
        """Tokens available now (refilling first)."""
        self._refill()
        return len(self._tokens)

    def __repr__(self) -> str:
        return (
            f"RetryBudget(capacity={self.capacity}, refill_per_second="
            f"{self.refill_per_second:g}, tokens={self.tokens})"
        )


DEFAULT_BUDGET = RetryBudget()
"""The budget every decorated function shares unless given ``budget=``."""


# --- Retry-After ----------------------------------------------------------------------


def parse_retry_after(value: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date.

    ``now`` is the current epoch time for dates (default ``time.time()``). Returns None
    for a value that is neither; a date in the past gives 0.0.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # HTTP dates are GMT
                import datetime

                when = when.replace(tzinfo=datetime.timezone.utc)
            seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    else:
        return None
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return None
    return seconds


def _header(headers: Any, name: str) -> Any:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None and name != name.lower():
        value = getter(name.lower())
    return value


def server_retry_after(source: object) -> float | None:
    """The server-directed delay an exception (or response) carries, in seconds, if any.

    Understands botocore ``ClientError`` (``retry-after``, or ``x-amz-retry-after`` in
    milliseconds, from ``ResponseMetadata.HTTPHeaders``), exceptions with
    ``.response.headers`` (requests, httpx) and responses with ``.headers`` (urllib3).
    """
    response = getattr(source, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        millis = parse_retry_after(_header(headers, "x-amz-retry-after"))
        if millis is not None:
            return millis / 1000.0
        return parse_retry_after(_header(headers, "retry-after"))
    headers = getattr(response if response is not None else source, "headers", None)
    if headers is None:
        return None
    return parse_retry_after(_header(headers, "Retry-After"))


# --- checking arguments ---------------------------------------------------------------


def _exception_matcher(name: str, spec: object) -> Callable[[BaseException], bool]:
    if spec == "aws":
        return is_retryable_aws_error
    if isinstance(spec, type) and issubclass(spec, BaseException):
        return lambda exc: isinstance(exc, spec)
    if isinstance(spec, tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in spec
    ):
        return lambda exc: isinstance(exc, spec)
    if callable(spec):
        return spec
    also = ' or "aws"' if name == "retry_on" else ""
    raise TypeError(
        f"retry_with_backoff: {name} must be an exception type, a tuple of them or a "
        f"predicate{also}, got {spec!r}"
    )


def _check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"retry_with_backoff: {name} must be callable or None, got {value!r}")


# --- the retry machinery --------------------------------------------------------------

_DEFAULT: Any = object()
_NO_RESULT: Any = object()


def _call_hook(hook: Hook | None, state: RetryState) -> None:
    if hook is None:
        return
    try:
        hook(state)
    except Exception:
        import logging

        logging.getLogger(_log_name).exception(
            "retry_with_backoff: hook %r raised; the retry goes on", hook
        )


class _Retrier:
    """One decorated function's settings (checked once, at decoration)."""

    __slots__ = (
        "base_delay",
        "budget",
        "clock",
        "deadline",
        "give_up_on",
        "max_delay",
        "max_retries",
        "multiplier",
        "no_sleep",
        "on_giveup",
        "on_retry",
        "policy",
        "reserve",
        "retry_if_result",
        "retry_on",
        "retry_types",
        "rng",
        "sleep",
    )

    def __init__(
        self,
        *,
        max_retries: int,
        base_delay: float,
        max_delay: float,
        multiplier: float,
        jitter: str,
        retry_on: object,
        give_up_on: object,
        retry_if_result: Callable[[Any], bool] | None,
        deadline: object,
        reserve: float,
        budget: RetryBudget | None,
        on_retry: Hook | None,
        on_giveup: Hook | None,
        sleep: Callable[[float], object] | None,
        clock: Callable[[], float] | None,
        rng: RandomSource | None,
    ) -> None:
        owner = "retry_with_backoff"
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise TypeError(f"{owner}: max_retries must be an int, got {max_retries!r}")
        if max_retries < 0:
            raise ValueError(f"{owner}: max_retries must be >= 0, got {max_retries!r}")
        _check_number(owner, "base_delay", base_delay, minimum=0.0)
        _check_number(owner, "max_delay", max_delay, minimum=0.0)
        if max_delay < base_delay:
            raise ValueError(
                f"{owner}: max_delay ({max_delay!r}) must be >= base_delay ({base_delay!r})"
            )
        _check_number(owner, "multiplier", multiplier, minimum=1.0)
        _check_number(owner, "reserve", reserve, minimum=0.0)
        if jitter not in _POLICIES:
            raise ValueError(
                f"{owner}: jitter must be one of {', '.join(map(repr, _POLICIES))}, got {jitter!r}"
            )
        if deadline != "auto" and deadline is not None:
            _check_number(owner, "deadline", deadline, minimum=0.0, exclusive=True)
            if deadline <= reserve:  # type: ignore[operator]
                raise ValueError(
                    f"{owner}: deadline ({deadline!r}) must be longer than reserve "
                    f"({reserve!r}), or no retry would ever fit: raise the deadline, lower "
                    f"reserve, or pass deadline=None"
                )
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"{owner}: budget must be a RetryBudget or None, got {budget!r}")
        if rng is not None and not callable(getattr(rng, "uniform", None)):
            raise TypeError(f"{owner}: rng must have a uniform(a, b) method, got {rng!r}")
        for name, value in (
            ("retry_if_result", retry_if_result),
            ("on_retry", on_retry),
            ("on_giveup", on_giveup),
            ("sleep", sleep),
            ("clock", clock),
        ):
            _check_callable(name, value)
        self.max_retries = max_retries
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.multiplier = float(multiplier)
        self.policy = _POLICIES[jitter]
        self.retry_on = _exception_matcher("retry_on", retry_on)
        # Types are checked inline with isinstance; predicates are called.
        self.retry_types: tuple[type[BaseException], ...] = ()
        if isinstance(retry_on, type):
            self.retry_types = (retry_on,)
        elif isinstance(retry_on, tuple):
            self.retry_types = retry_on
        give_up = give_up_on if give_up_on != () else None
        self.give_up_on = None if give_up is None else _exception_matcher("give_up_on", give_up)
        self.retry_if_result = retry_if_result
        self.deadline = deadline
        self.reserve = float(reserve)
        self.budget = budget
        self.on_retry = on_retry
        self.on_giveup = on_giveup
        self.sleep = sleep
        self.clock = clock or time.monotonic
        self.rng = rng
        self.no_sleep = no_sleep_env()

    def time_left(self) -> float | None:
        """Seconds a retried attempt may still end within, from now; None if unbounded."""
        if self.deadline is None:
            return None
        if self.deadline == "auto":
            context = get_lambda_context()
            remaining = getattr(context, "get_remaining_time_in_millis", None)
            if remaining is None:
                return None
            return float(remaining()) / 1000.0 - self.reserve
        return float(self.deadline) - self.reserve  # type: ignore[arg-type]


class _Run:
    """One call that has failed at least once: decides each retry or gives up.

    The clock is read only when something needs it: a deadline or a hook.
    """

    __slots__ = (
        "attempt",
        "attempt_started",
        "deadline_at",
        "exception",
        "function",
        "previous_delay",
        "reason",
        "result",
        "retrier",
        "rng",
        "slept",
        "started",
        "timed",
    )

    def __init__(
        self,
        retrier: _Retrier,
        function: Callable[..., Any],
        exc: BaseException | None,
        result: Any,
    ) -> None:
        self.retrier = retrier
        self.function = function
        self.exception = exc
        self.result = result
        self.attempt = 1
        self.previous_delay = 0.0
        self.slept = 0.0
        self.reason: GiveUpReason | None = None
        self.rng: RandomSource | None = retrier.rng
        time_left = retrier.time_left()
        hooks = retrier.on_retry is not None or retrier.on_giveup is not None
        self.timed = time_left is not None or hooks  # else the clock is never read
        now = retrier.clock() if self.timed else 0.0
        self.started = self.attempt_started = now  # the first attempt's duration counts as 0
        self.deadline_at = None if time_left is None else now + time_left

    def next_delay(self) -> float | None:
        """Seconds to sleep before the next attempt, or None to give up (see ``reason``)."""
        r = self.retrier
        exc = self.exception
        if exc is not None:
            give_up = r.give_up_on
            if (
                isinstance(exc, CircuitOpenError)
                or (give_up is not None and give_up(exc))
                or not (isinstance(exc, r.retry_types) if r.retry_types else r.retry_on(exc))
            ):
                self.reason = "not_retryable"
                return None
        if self.attempt > r.max_retries:
            self.reason = "max_retries"
            return None
        rng = self.rng
        if rng is None:  # first failure of this function: the shared jitter source
            rng = self.rng = r.rng = jitter_random()
        delay = r.policy(self.attempt - 1, self.previous_delay, r, rng)
        source = exc if exc is not None else self.result
        server = None
        if getattr(source, "response", None) is not None or hasattr(source, "headers"):
            server = server_retry_after(source)
            if server is not None:
                delay = server if server < r.max_delay else r.max_delay
        now = 0.0
        if self.timed:
            now = r.clock()
            if self.deadline_at is not None:
                last_duration = now - self.attempt_started if self.attempt > 1 else 0.0
                available = self.deadline_at - now - last_duration
                if available <= 0.0 or (server is not None and server > available):
                    self.reason = "deadline"
                    return None
                if delay > available:
                    delay = available
        if r.budget is not None and not r.budget.try_acquire():
            self.reason = "budget"
            return None
        self.previous_delay = delay
        if r.on_retry is not None:
            _call_hook(r.on_retry, self.state(delay, now))
        self.slept += delay
        return delay

    def state(self, delay: float, now: float | None = None) -> RetryState:
        from ._retry_state import RetryState

        now = self.retrier.clock() if now is None else now
        return RetryState(
            function=self.function,
            attempt=self.attempt,
            exception=self.exception,
            result=None if self.result is _NO_RESULT else self.result,
            delay=delay,
            elapsed=now - self.started,
            reason=self.reason,
        )

    def begin_attempt(self) -> None:
        self.attempt += 1
        if self.timed:
            self.attempt_started = self.retrier.clock()

    def give_up(self) -> Any:
        """Raise the last exception (with a note), or return the last retried result."""
        r = self.retrier
        if r.on_giveup is not None:
            _call_hook(r.on_giveup, self.state(0.0))
        exc = self.exception
        if exc is None:
            return self.result
        name = getattr(self.function, "__qualname__", repr(self.function))
        _replace_note(
            exc,
            f"{_NOTE_PREFIX} {name} after {self.attempt} attempt(s), {self.slept:.3f}s "
            f"slept in backoff: {self.reason}",
        )
        self.exception = None  # no reference cycle through this frame
        raise exc


_NOTE_PREFIX = "lambda_perf.retry_with_backoff gave up on"


def _replace_note(exc: BaseException, note: str) -> None:
    """Add our note, replacing one an earlier give-up added to the same exception object
    (re-raised instances must not pile up notes). An exception whose ``__notes__`` is not
    a list is left as it is: the caller gets their own error, without our note."""
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, list):
        add_note(exc, note)
        return
    notes[:] = [n for n in notes if not (isinstance(n, str) and n.startswith(_NOTE_PREFIX))]
    notes.append(note)


def _retry_sync(
    r: _Retrier,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException | None,
    result: Any,
) -> Any:
    run = _Run(r, func, exc, result)
    predicate = r.retry_if_result
    while True:
        delay = run.next_delay()
        if delay is None:
            return run.give_up()
        if not (r.no_sleep or _testing._no_sleep_depth):
            (r.sleep or time.sleep)(delay)
        run.begin_attempt()
        try:
            result = func(*args, **kwargs)
        except Exception as failure:
            run.exception = failure
            continue
        if predicate is not None and predicate(result):
            run.exception, run.result = None, result
            continue
        if r.budget is not None:
            r.budget.release()  # a retried call that succeeds gives a token back
        return result


async def _retry_async(
    r: _Retrier,
    func: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException | None,
    result: Any,
) -> Any:
    import asyncio

    run = _Run(r, func, exc, result)
    predicate = r.retry_if_result
    while True:
        delay = run.next_delay()
        if delay is None:
            return run.give_up()
        if not (r.no_sleep or _testing._no_sleep_depth):
            if r.sleep is None:
                await asyncio.sleep(delay)
            else:
                slept = r.sleep(delay)
                if asyncio.iscoroutine(slept) or isinstance(slept, asyncio.Future):
                    await slept
        run.begin_attempt()
        try:
            result = await func(*args, **kwargs)
        except Exception as failure:
            run.exception = failure
            continue
        if predicate is not None and predicate(result):
            run.exception, run.result = None, result
            continue
        if r.budget is not None:
            r.budget.release()
        return result


def _wrap(func: Any, r: _Retrier) -> Any:
    # Decorating a staticmethod/classmethod object: wrap its function, keep its kind.
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(_wrap(func.__func__, r))
    if not callable(func):
        raise TypeError(f"retry_with_backoff can only decorate a callable, got {func!r}")
    kind = callable_kind(func)
    refuse_generators("retry_with_backoff", func, kind)
    predicate = r.retry_if_result
    if kind == "async":
        if predicate is None:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except Exception as exc:
                    failure = exc
                return await _retry_async(r, func, args, kwargs, failure, _NO_RESULT)

        else:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = await func(*args, **kwargs)
                except Exception as exc:
                    failure = exc
                    return await _retry_async(r, func, args, kwargs, failure, _NO_RESULT)
                if predicate(result):
                    return await _retry_async(r, func, args, kwargs, None, result)
                return result

        return functools.wraps(func)(async_wrapper)

    if predicate is None:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                failure = exc
            return _retry_sync(r, func, args, kwargs, failure, _NO_RESULT)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                failure = exc
            else:
                if not predicate(result):
                    return result
                return _retry_sync(r, func, args, kwargs, None, result)
            return _retry_sync(r, func, args, kwargs, failure, _NO_RESULT)

    return functools.wraps(func)(wrapper)


if TYPE_CHECKING:

    @overload
    def retry_with_backoff(func: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def retry_with_backoff(
        func: None = None,
        /,
        *,
        max_retries: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        multiplier: float = 2.0,
        jitter: JitterName = "full",
        retry_on: ExceptionMatch | Literal["aws"] = Exception,
        give_up_on: ExceptionMatch = (),
        retry_if_result: Callable[[Any], bool] | None = None,
        deadline: float | Literal["auto"] | None = "auto",
        reserve: float = 0.25,
        budget: RetryBudget | None = ...,
        on_retry: Hook | None = None,
        on_giveup: Hook | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] | None = None,
        rng: RandomSource | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def retry_with_backoff(
    func: Callable[..., Any] | None = None,
    /,
    *,
    max_retries: int = 3,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    multiplier: float = 2.0,
    jitter: str = "full",
    retry_on: object = Exception,
    give_up_on: object = (),
    retry_if_result: Callable[[Any], bool] | None = None,
    deadline: object = "auto",
    reserve: float = 0.25,
    budget: RetryBudget | None = _DEFAULT,
    on_retry: Hook | None = None,
    on_giveup: Hook | None = None,
    sleep: Callable[[float], object] | None = None,
    clock: Callable[[], float] | None = None,
    rng: RandomSource | None = None,
) -> Any:
    """Retry a function with exponential backoff and full jitter, within the Lambda deadline.

    Use it bare (``@retry_with_backoff``) or with arguments
    (``@retry_with_backoff(max_retries=5, retry_on="aws")``). The retry after failed call
    n (n = 0, 1, ...) sleeps ``rng.uniform(0, min(max_delay, base_delay * multiplier**n))``.
    See docs/retry.md for the deadline, budget and Retry-After rules.
    """
    retrier = _Retrier(
        max_retries=max_retries,
        base_delay=base_delay,
        max_delay=max_delay,
        multiplier=multiplier,
        jitter=jitter,
        retry_on=retry_on,
        give_up_on=give_up_on,
        retry_if_result=retry_if_result,
        deadline=deadline,
        reserve=reserve,
        budget=DEFAULT_BUDGET if budget is _DEFAULT else budget,
        on_retry=on_retry,
        on_giveup=on_giveup,
        sleep=sleep,
        clock=clock,
        rng=rng,
    )
    if func is not None:
        return _wrap(func, retrier)
    return lambda f: _wrap(f, retrier)
