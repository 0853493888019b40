"""CircuitBreaker: fail fast while a dependency is down, probe it, close when it recovers.

The closed-state success path reads one attribute (is the circuit closed?), calls the
function, and on success clears the failure streak if there is one: no lock, no clock
read, no allocation. Locks are taken only on failures and transitions.

A generation counter, bumped on every transition, tags each call with the phase it began
in; a result that arrives after the phase ended (a slow call finishing after the circuit
opened, say) changes nothing.
"""

from __future__ import annotations

import enum
import functools
import itertools
import os
import threading
import time
from contextvars import ContextVar

from lambda_perf._callables import callable_kind, refuse_generators
from lambda_perf._errors import CircuitOpenError
from lambda_perf.context import get_lambda_context

from .stores import CLOSED, HALF_OPEN, OPEN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any, ParamSpec, Protocol, TypeVar

    from .stores import SharedState

    P = ParamSpec("P")
    R = TypeVar("R")

    class StateStore(Protocol):
        """What a shared store offers (see stores.py)."""

        cache_ttl: float
        clock: Callable[[], float]

        def read(self, name: str) -> SharedState: ...
        def trip(self, name: str, version: int, open_until: float) -> bool: ...
        def acquire_probe(
            self, name: str, version: int, owner: str, lease_until: float
        ) -> bool: ...
        def close(self, name: str, version: int, owner: str) -> bool: ...
        def force(self, name: str, state: str, open_until: float = 0.0) -> None: ...


__all__ = ["CircuitBreaker", "CircuitState"]

_log_name = "lambda_perf.breaker"
STORE_BACKOFF_BASE = 1.0  # seconds without asking the store after its first failure
STORE_BACKOFF_CAP = 60.0  # ... doubling per failure up to this


class CircuitState(enum.Enum):
    CLOSED = CLOSED
    OPEN = OPEN
    HALF_OPEN = HALF_OPEN


_FROM_SHARED = {
    CLOSED: CircuitState.CLOSED,
    OPEN: CircuitState.OPEN,
    HALF_OPEN: CircuitState.HALF_OPEN,
}


def _log() -> Any:
    import logging

    return logging.getLogger(_log_name)


def _positive_int(name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"CircuitBreaker: {name} must be a positive integer, got {value!r}")


def _positive_number(name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"CircuitBreaker: {name} must be a positive number, got {value!r}")


class _Permit:
    """What one admitted call needs at its end: its phase, and whether it is a probe."""

    __slots__ = ("generation", "probe", "started")

    def __init__(self, generation: int, probe: bool, started: float) -> None:
        self.generation = generation
        self.probe = probe
        self.started = started


class CircuitBreaker:
    """Fail fast while a dependency is down.

    After ``failure_threshold`` consecutive failures (or a failure rate of
    ``failure_rate_threshold`` percent over the last ``window_size`` calls, once
    ``minimum_calls`` were seen) the circuit opens: calls raise :class:`CircuitOpenError`
    (or return ``fallback(error)``) without calling the function, for ``timeout``
    seconds. Then up to ``half_open_max_calls`` probe calls go through: a success closes
    the circuit, a failure opens it again.

    Guard a call with ``breaker.call(func, *args)``, ``@breaker``, ``with breaker:`` or
    ``async with breaker:``. With ``store=DynamoDBStateStore(...)`` the open state and the
    probe are shared by every environment that uses the same ``name``.
    """

    def __init__(
        self,
        failure_threshold: int | None = 5,
        timeout: float = 60.0,
        *,
        name: str | None = None,
        half_open_max_calls: int = 1,
        failure_rate_threshold: float | None = None,
        window_size: int = 20,
        minimum_calls: int = 10,
        slow_call_duration: float | None = None,
        ignore: type[BaseException] | tuple[type[BaseException], ...] = (),
        failure_if: Callable[[Any], bool] | None = None,
        fallback: Callable[[CircuitOpenError], Any] | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] | None = None,
        on_state_change: Callable[[CircuitBreaker, CircuitState, CircuitState], object]
        | None = None,
        probe_timeout: float | None = None,
    ) -> None:
        _positive_int("failure_threshold", failure_threshold, optional=True)
        _positive_number("timeout", timeout)
        _positive_int("half_open_max_calls", half_open_max_calls)
        _positive_int("window_size", window_size)
        _positive_int("minimum_calls", minimum_calls)
        _positive_number("slow_call_duration", slow_call_duration, optional=True)
        _positive_number("probe_timeout", probe_timeout, optional=True)
        if failure_rate_threshold is not None:
            if isinstance(failure_rate_threshold, bool) or not isinstance(
                failure_rate_threshold, (int, float)
            ):
                raise ValueError(
                    f"CircuitBreaker: failure_rate_threshold must be a percentage, got "
                    f"{failure_rate_threshold!r}"
                )
            if not 0 < failure_rate_threshold <= 100:
                raise ValueError(
                    f"CircuitBreaker: failure_rate_threshold must be within (0, 100], got "
                    f"{failure_rate_threshold!r}"
                )
        if failure_threshold is None and failure_rate_threshold is None:
            raise ValueError(
                "CircuitBreaker: failure_threshold=None needs a failure_rate_threshold, "
                "or nothing would ever open the circuit"
            )
        if minimum_calls > window_size:
            raise ValueError(
                f"CircuitBreaker: minimum_calls ({minimum_calls}) must be <= window_size "
                f"({window_size})"
            )
        if isinstance(ignore, type):
            ignore = (ignore,)
        if not isinstance(ignore, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in ignore
        ):
            raise ValueError(
                f"CircuitBreaker: ignore must be an exception type or a tuple of them, "
                f"got {ignore!r}"
            )
        for arg, value in (
            ("failure_if", failure_if),
            ("fallback", fallback),
            ("clock", clock),
            ("on_state_change", on_state_change),
        ):
            if value is not None and not callable(value):
                raise ValueError(f"CircuitBreaker: {arg} must be callable, got {value!r}")
        if store is not None and name is None:
            raise ValueError(
                "CircuitBreaker: a shared store needs a name, the key every environment "
                "shares: pass name='payments-api', say"
            )
        self.name = name if name is not None else f"circuit-{id(self):x}"
        self.failure_threshold = failure_threshold
        self.timeout = float(timeout)
        self.half_open_max_calls = half_open_max_calls
        self.failure_rate_threshold = failure_rate_threshold
        self.window_size = window_size
        self.minimum_calls = minimum_calls
        self.slow_call_duration = slow_call_duration
        self.ignore = ignore
        self.failure_if = failure_if
        self.fallback = fallback
        self.store = store
        self.clock = clock or time.monotonic
        self.on_state_change = on_state_change
        # A probe that has not reported back after this long (its caller vanished)
        # loses its slot, so HALF_OPEN cannot refuse calls for ever.
        self.probe_timeout = float(probe_timeout) if probe_timeout is not None else self.timeout

        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._closed = True  # the one attribute the success path reads
        self._generation = 0
        self._streak = 0  # consecutive failures
        self._opened_at = 0.0
        self._probes = 0  # probes in flight
        self._probe_admitted_at = 0.0  # when the latest probe was let through
        # Failure-rate window: a ring of outcomes (1 = failure) written without a lock.
        self._windowed = failure_rate_threshold is not None
        self._window = [0] * window_size
        self._sequence = itertools.count()  # next() is atomic: no lock on success
        # Shared state (store): what we last read, and when (store clock).
        self._owner_id: str | None = None  # made on first use: unique after a SnapStart restore
        self._shared_version = 0
        self._synced_at = float("-inf")  # monotonic, as every cadence here
        self._store_failures = 0  # consecutive store failures
        self._store_retry_at = float("-inf")  # do not ask the store before this (monotonic)
        self._permits: ContextVar[tuple[_Permit, ...]] = ContextVar(
            f"lambda_perf_breaker_{id(self):x}", default=()
        )
        # The success path needs nothing but the call when these are all off.
        self._plain = (
            failure_if is None
            and not self._windowed
            and slow_call_duration is None
            and store is None
        )

    # --- state -------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit whose timeout passed reports HALF_OPEN."""
        if self._state is CircuitState.OPEN and self.clock() - self._opened_at >= self.timeout:
            return CircuitState.HALF_OPEN
        return self._state

    def reset(self) -> None:
        """Close the circuit and forget all counts (everywhere, with a store)."""
        if self.store is not None:
            self._store_call(lambda s: s.force(self.name, CLOSED), even_backing_off=True)
        self._transition(CircuitState.CLOSED)

    def force_open(self) -> None:
        """Open the circuit now, for ``timeout`` seconds (everywhere, with a store)."""
        if self.store is not None:
            store = self.store
            self._store_call(
                lambda s: s.force(self.name, OPEN, store.clock() + self.timeout),
                even_backing_off=True,
            )
        self._transition(CircuitState.OPEN)

    def _transition(self, new: CircuitState, expected_generation: int | None = None) -> bool:
        with self._lock:
            if expected_generation is not None and expected_generation != self._generation:
                return False  # a late result from an earlier phase
            old = self._set_state_locked(new)
        self._notify(old, new)
        return True

    def _set_state_locked(self, new: CircuitState) -> CircuitState:
        old = self._state
        self._generation += 1
        self._state = new
        self._closed = new is CircuitState.CLOSED
        self._probes = 0
        if new is CircuitState.OPEN:
            self._opened_at = self.clock()
        if new is CircuitState.CLOSED:
            self._streak = 0
            self._window = [0] * self.window_size
            self._sequence = itertools.count()
        return old

    def _notify(self, old: CircuitState, new: CircuitState) -> None:
        if self.on_state_change is None or old is new:
            return
        try:
            self.on_state_change(self, old, new)
        except Exception:
            _log().exception("CircuitBreaker %r: on_state_change raised; ignored", self.name)

    def _state_now(self) -> CircuitState:
        return self._state

    # --- shared store ------------------------------------------------------------------

    def _store_call(
        self, operation: Callable[[StateStore], Any], *, even_backing_off: bool = False
    ) -> Any:
        """Run a store operation; on any error fall back to local state (logged once).

        After a failure the store is not asked again for a doubling interval (1 s up to
        60 s), so a hung table costs at most one timeout per interval. ``reset`` and
        ``force_open`` ask it all the same.
        """
        assert self.store is not None
        if not even_backing_off and self.clock() < self._store_retry_at:
            return None
        try:
            result = operation(self.store)
        except Exception as exc:
            self._store_failures += 1
            doublings = min(self._store_failures - 1, 16)
            pause = min(STORE_BACKOFF_CAP, STORE_BACKOFF_BASE * 2.0**doublings)
            self._store_retry_at = self.clock() + pause
            if self._store_failures == 1:
                _log().warning(
                    "CircuitBreaker %r: state store unavailable (%s: %s); using local state "
                    "until it answers again (asking it again in %.0fs, then less often)",
                    self.name,
                    type(exc).__name__,
                    exc,
                    pause,
                )
            return None
        self._store_failures = 0
        self._store_retry_at = float("-inf")
        return result

    def _sync(self, now: float) -> None:
        """Adopt the shared state; called at most once per cache_ttl (``now`` is this
        breaker's monotonic clock; the record's epoch times are read with the store's)."""
        assert self.store is not None
        self._synced_at = now
        shared: SharedState | None = self._store_call(lambda s: s.read(self.name))
        if shared is None:
            return
        self._shared_version = shared.version
        if shared.state != CLOSED and self._closed:
            remaining = max(0.0, shared.open_until - self.store.clock())
            with self._lock:
                if self._state_now() is not CircuitState.CLOSED:
                    return  # changed while we read the store
                old = self._set_state_locked(CircuitState.OPEN)
                # Open for as long as the record says, on our monotonic clock.
                self._opened_at = self.clock() - (self.timeout - remaining)
            self._notify(old, CircuitState.OPEN)

    def _share_trip(self) -> None:
        store = self.store
        if store is None:
            return
        open_until = store.clock() + self.timeout
        if not self._store_call(lambda s: s.trip(self.name, self._shared_version, open_until)):
            shared = self._store_call(lambda s: s.read(self.name))
            if shared is not None:
                self._shared_version = shared.version
                if shared.state == CLOSED:
                    self._store_call(lambda s: s.trip(self.name, shared.version, open_until))
        self._synced_at = self.clock()

    def _owner(self) -> str:
        """Who holds the fleet's probe lease when this breaker wins it."""
        if self._owner_id is None:
            self._owner_id = f"{os.getpid()}-{id(self):x}-{os.urandom(4).hex()}"
        return self._owner_id

    def _lease_seconds(self) -> float:
        context = get_lambda_context()
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return self.timeout
        return max(0.001, min(self.timeout, float(remaining()) / 1000.0))

    def _shared_probe(self) -> str | None:
        """Try to become the fleet's one prober: "won", "lost" or "closed" (another
        environment closed the circuit already); None when the store is unavailable."""
        assert self.store is not None
        store = self.store
        shared: SharedState | None = self._store_call(lambda s: s.read(self.name))
        if shared is None:
            return None
        self._shared_version = shared.version
        if shared.state == CLOSED:
            return "closed"
        now = store.clock()
        if not shared.probe_available(now):
            return "lost"
        lease_until = now + self._lease_seconds()
        won = self._store_call(
            lambda s: s.acquire_probe(self.name, shared.version, self._owner(), lease_until)
        )
        if won is None:
            return None
        if won:
            self._shared_version = shared.version + 1
            return "won"
        return "lost"

    # --- admission and outcomes ----------------------------------------------------------

    def _admit(self) -> _Permit | CircuitOpenError:
        """Let a call through (returning its permit) or refuse it (returning the error)."""
        store = self.store
        if self._closed:
            # Closed: the clock is read only to time slow calls.
            started = self.clock() if self.slow_call_duration is not None else 0.0
            if store is None:
                return _Permit(self._generation, False, started)
            now = self.clock()
            if now - self._synced_at < store.cache_ttl:
                return _Permit(self._generation, False, started)
            self._sync(now)
            if self._closed:
                return _Permit(self._generation, False, started)
        now = self.clock()
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return _Permit(self._generation, False, now)
            if self._state is CircuitState.OPEN:
                wait = self.timeout - (now - self._opened_at)  # as the state property
                if wait > 0:
                    return CircuitOpenError(self.name, wait)
            elif self._probe_slots_full_locked(now):
                return CircuitOpenError(self.name, self.timeout)
        if store is not None:
            verdict = self._shared_probe()
            if verdict == "closed":
                if not self._closed:
                    self._transition(CircuitState.CLOSED)
                return _Permit(self._generation, False, now)
            if verdict == "lost":
                # Another environment probes (or re-opened it): look again in cache_ttl.
                recheck = min(store.cache_ttl, self.timeout)
                with self._lock:
                    if self._state is CircuitState.OPEN:
                        self._opened_at = now - self.timeout + recheck
                return CircuitOpenError(self.name, recheck)
            # "won", or None: the store is unavailable and local state decides.
        with self._lock:
            old = self._state_now()  # may have changed while we asked the store
            if old is CircuitState.CLOSED:
                return _Permit(self._generation, False, now)
            if old is CircuitState.OPEN:
                wait = self.timeout - (now - self._opened_at)  # as the state property
                if wait > 0:
                    return CircuitOpenError(self.name, wait)
                self._set_state_locked(CircuitState.HALF_OPEN)
            if self._probe_slots_full_locked(now):
                return CircuitOpenError(self.name, self.timeout)
            self._probes += 1
            self._probe_admitted_at = now
            permit = _Permit(self._generation, True, now)
        self._notify(old, CircuitState.HALF_OPEN)
        return permit

    def _probe_slots_full_locked(self, now: float) -> bool:
        """True while every probe slot is taken. Slots whose probes have not reported back
        within ``probe_timeout`` are reclaimed: the phase ends (their late results are
        ignored) and new probes may go."""
        if self._probes < self.half_open_max_calls:
            return False
        if now - self._probe_admitted_at < self.probe_timeout:
            return True
        self._generation += 1
        self._probes = 0
        _log().warning(
            "CircuitBreaker %r: a probe did not report back within %.1fs; its slot is "
            "given to the next call",
            self.name,
            self.probe_timeout,
        )
        return False

    def _is_slow(self, permit: _Permit) -> bool:
        limit = self.slow_call_duration
        return limit is not None and self.clock() - permit.started > limit

    def _record_success(self, permit: _Permit) -> None:
        if permit.probe:
            if self.store is not None:
                self._store_call(lambda s: s.close(self.name, self._shared_version, self._owner()))
            self._transition(CircuitState.CLOSED, permit.generation)
            return
        if self._windowed:
            self._window[next(self._sequence) % self.window_size] = 0
        if self._streak and permit.generation == self._generation:
            self._streak = 0

    def _record_failure(self, permit: _Permit) -> None:
        opened = False
        with self._lock:
            if permit.generation != self._generation:
                return  # the phase this call began in is over
            if permit.probe:
                old = self._set_state_locked(CircuitState.OPEN)
                opened = True
            else:
                self._streak += 1
                trip = self.failure_threshold is not None and self._streak >= self.failure_threshold
                if self._windowed:
                    position = next(self._sequence)  # calls recorded so far, minus one
                    self._window[position % self.window_size] = 1
                    filled = min(position + 1, self.window_size)
                    if filled >= self.minimum_calls:
                        rate = 100.0 * sum(self._window) / filled
                        assert self.failure_rate_threshold is not None
                        trip = trip or rate >= self.failure_rate_threshold
                if trip and self._state is CircuitState.CLOSED:
                    old = self._set_state_locked(CircuitState.OPEN)
                    opened = True
        if opened:
            self._notify(old, CircuitState.OPEN)
            self._share_trip()

    def _record_ignored(self, permit: _Permit) -> None:
        if permit.probe:
            with self._lock:
                if permit.generation == self._generation and self._probes > 0:
                    self._probes -= 1

    def _outcome(self, permit: _Permit, exc: BaseException | None, result: Any) -> None:
        """Record how an admitted call ended (a probe's slot is released on every path)."""
        if exc is not None:
            if isinstance(exc, self.ignore) or not isinstance(exc, Exception):
                self._record_ignored(permit)
            else:
                self._record_failure(permit)
        elif (self.failure_if is not None and self._classify(result)) or self._is_slow(permit):
            self._record_failure(permit)
        else:
            self._record_success(permit)

    def _classify(self, result: Any) -> bool:
        """``failure_if(result)``; a classifier that raises counts the call as failed."""
        assert self.failure_if is not None
        try:
            return bool(self.failure_if(result))
        except Exception:
            _log().exception(
                "CircuitBreaker %r: failure_if raised on a result; the call counts as failed",
                self.name,
            )
            return True

    def _reject(self, error: CircuitOpenError) -> Any:
        if self.fallback is None:
            raise error
        return self.fallback(error)

    # --- the three ways to guard a call ------------------------------------------------

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func(*args, **kwargs)`` through the breaker.

        For a coroutine function (an ``async def``, a partial of one, an object with an
        ``async def __call__``) it returns an awaitable: ``await breaker.call(fetch)``.
        """
        code = getattr(func, "__code__", None)
        if code is None or code.co_flags & 0x2A0:  # not a plain function: look closer
            kind = callable_kind(func)
            refuse_generators("CircuitBreaker", func, kind)
            if kind == "async":
                return self._call_async(func, args, kwargs)  # type: ignore[arg-type,return-value]
        return self._call_sync(func, args, kwargs)

    def _call_sync(self, func: Callable[..., R], args: Any, kwargs: Any) -> R:
        permit = self._admit()
        if isinstance(permit, CircuitOpenError):
            return self._reject(permit)  # type: ignore[no-any-return]
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self._outcome(permit, exc, None)
            raise
        self._outcome(permit, None, result)
        return result

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Use the breaker as a decorator (sync or async functions, methods)."""
        if isinstance(func, (staticmethod, classmethod)):
            return type(func)(self(func.__func__))
        if not callable(func):
            raise TypeError(f"CircuitBreaker can only decorate a callable, got {func!r}")
        kind = callable_kind(func)
        refuse_generators("CircuitBreaker", func, kind)
        if kind == "async":
            wrapped: Any = self._async_wrapper(func)  # type: ignore[arg-type]
            return functools.wraps(func)(wrapped)
        return functools.wraps(func)(self._sync_wrapper(func))

    def _sync_wrapper(self, func: Callable[P, R]) -> Callable[P, R]:
        breaker = self
        if self._plain:

            def plain(*args: P.args, **kwargs: P.kwargs) -> R:
                if not breaker._closed:
                    return breaker._call_sync(func, args, kwargs)
                generation = breaker._generation
                try:
                    result = func(*args, **kwargs)
                except Exception as exc:
                    breaker._outcome(_Permit(generation, False, 0.0), exc, None)
                    raise
                if breaker._streak and generation == breaker._generation:
                    breaker._streak = 0
                return result

            return plain

        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return breaker._call_sync(func, args, kwargs)

        return guarded

    def _async_wrapper(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        breaker = self
        if self._plain:

            async def plain(*args: P.args, **kwargs: P.kwargs) -> R:
                if not breaker._closed:
                    return await breaker._call_async(func, args, kwargs)
                generation = breaker._generation
                try:
                    result = await func(*args, **kwargs)
                except Exception as exc:
                    breaker._outcome(_Permit(generation, False, 0.0), exc, None)
                    raise
                if breaker._streak and generation == breaker._generation:
                    breaker._streak = 0
                return result

            return plain

        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return await breaker._call_async(func, args, kwargs)

        return guarded

    async def _call_async(
        self, func: Callable[..., Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        permit = self._admit()
        if isinstance(permit, CircuitOpenError):
            fallback = self._reject(permit)
            if hasattr(fallback, "__await__"):
                fallback = await fallback
            return fallback  # type: ignore[no-any-return]
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            self._outcome(permit, exc, None)
            raise
        self._outcome(permit, None, result)
        return result

    # --- with / async with -------------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        permit = self._admit()
        if isinstance(permit, CircuitOpenError):
            raise permit  # the body does not run, even with a fallback
        self._permits.set((*self._permits.get(), permit))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        stack = self._permits.get()
        permit = stack[-1]
        self._permits.set(stack[:-1])
        self._outcome(permit, exc, None)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(name={self.name!r}, state={self.state.name}, failures={self._streak})"
        )
