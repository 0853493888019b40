"""A monotonic TTL cache with single-flight refresh and stale-on-error.

* A hit is one dict lookup and one monotonic clock read: no lock, no copy.
* A miss takes the key's own lock, so concurrent callers of a cold or expired key wait
  for one fetch instead of each making their own.
* A failed refresh serves the last good value for up to ``max_stale`` seconds past its
  expiry (warning once per key), and backs off with exponential delay and equal jitter
  before calling the source again. A call that finds no value to serve while backing off
  gets a fresh copy of the last error (no traceback carried over from earlier calls).
* Freshness has one rule, :func:`is_fresh`: a value is fresh for a call while it is
  younger than *that call's* ``max_age``. The hit paths inline the same comparison.

``ttl_cache`` is the decorator for any expensive call; ``lambda_perf.secrets`` builds
``get_secret`` and ``get_parameter`` on the same :class:`TTLCache`.
"""

from __future__ import annotations

import functools
import threading
import time

from ._errors import add_note
from ._snapstart import jitter_random, register_hooks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any, ParamSpec, TypeVar

    P = ParamSpec("P")
    R = TypeVar("R")

__all__ = ["TTLCache", "is_fresh", "ttl_cache"]

register_hooks()  # under SnapStart: reseed the backoff jitter after each restore
BACKOFF_BASE = 1.0  # seconds before the first retry of a failed refresh (before jitter)
BACKOFF_CAP = 60.0


def is_fresh(fetched_at: float, now: float, max_age: float) -> bool:
    """The freshness rule: a value fetched at ``fetched_at`` is fresh for a call with
    ``max_age`` while it is younger than ``max_age`` (``max_age=0`` is never fresh)."""
    return now - fetched_at < max_age


def _fresh_copy(error: BaseException) -> BaseException:
    """A new exception of the same type, arguments and attributes, with no traceback,
    cause or context: raising it again and again grows nothing and keeps no frames."""
    cls = type(error)
    try:
        fresh = cls.__new__(cls, *error.args)
        fresh.args = error.args
        state = getattr(error, "__dict__", None)
        if state:
            fresh.__dict__.update(state)
            notes = state.get("__notes__")
            if isinstance(notes, list):
                fresh.__dict__["__notes__"] = list(notes)
    except Exception:  # an exception type that cannot be copied: a plain summary instead
        return RuntimeError(f"{cls.__name__}: {error}")
    return fresh


class _Entry:
    """A key's refresh state; its last good value lives in ``TTLCache.fresh``."""

    __slots__ = ("error", "failures", "lock", "retry_at", "warned")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures = 0
        self.retry_at = float("-inf")
        self.warned = False
        # The last failure while backing off, detached from the call that raised it.
        self.error: BaseException | None = None

    def __repr__(self) -> str:  # never the value: it may be a secret
        return f"<cache entry failures={self.failures}>"


class TTLCache:
    """Entries by key, each with its own expiry, lock and failure backoff.

    ``describe(key)`` names a key in logs and errors (never its value).
    """

    def __init__(
        self,
        *,
        max_stale: float = 900.0,
        clock: Callable[[], float] | None = None,
        logger_name: str = "lambda_perf.cache",
        describe: Callable[[Hashable], str] = repr,
        rng: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(max_stale, bool) or not isinstance(max_stale, (int, float)) or max_stale < 0:
            raise ValueError(f"ttl_cache: max_stale must be a number >= 0, got {max_stale!r}")
        self.max_stale = float(max_stale)
        self.clock = clock or time.monotonic
        self.entries: dict[Hashable, _Entry] = {}
        # key -> (fetched_at, ttl, value) of the last good fetch: what a hit reads.
        self.fresh: dict[Hashable, tuple[float, float, Any]] = {}
        self._logger_name = logger_name
        self._describe = describe
        self._rng = rng

    def get(
        self,
        key: Hashable,
        fetch: Callable[[], Any],
        *,
        max_age: float | Callable[[Any], float],
        force: bool = False,
        serve_stale_on: Callable[[BaseException], bool] | None = None,
    ) -> Any:
        """The value for ``key``: cached while fresh, else fetched once for all callers.

        On a failed fetch the stale value is served (if ``serve_stale_on`` accepts the
        error, and within ``max_stale``); otherwise the error propagates unchanged.
        """
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries.setdefault(key, _Entry())
        with entry.lock:
            now = self.clock()
            good = self.fresh.get(key)
            # A callable max_age was applied to the value when it was fetched (good[1]).
            limit = good[1] if good is not None and callable(max_age) else max_age
            if not force and good is not None and is_fresh(good[0], now, limit):  # type: ignore[arg-type]
                return good[2]  # fetched by another caller while we waited
            good = None  # no value of ours in this frame's locals if we raise
            if not force and now < entry.retry_at:
                return self._after_failure(key, entry, now, limit, None)  # backing off
            try:
                value = fetch()
            except Exception as exc:
                if serve_stale_on is not None and not serve_stale_on(exc):
                    raise  # not a transient failure: no stale value, no backoff
                entry.failures += 1
                entry.retry_at = now + self._backoff(entry.failures)
                entry.error = _fresh_copy(exc)
                return self._after_failure(key, entry, now, limit, exc)
            ttl = float(max_age(value) if callable(max_age) else max_age)
            self.fresh[key] = (now, ttl, value)
            entry.failures = 0
            entry.retry_at = float("-inf")
            entry.warned = False
            entry.error = None
            return value

    def _after_failure(
        self,
        key: Hashable,
        entry: _Entry,
        now: float,
        limit: Any,
        error: BaseException | None,
    ) -> Any:
        good = self.fresh.get(key)
        if good is not None:
            ttl = good[1] if callable(limit) else float(limit)
            if now - good[0] < ttl + self.max_stale:
                if not entry.warned:
                    entry.warned = True
                    import logging

                    logging.getLogger(self._logger_name).warning(
                        "%s: refresh failed (%s); serving the cached value for up to %.0fs more",
                        self._describe(key),
                        "backing off" if error is None else type(error).__name__,
                        good[0] + ttl + self.max_stale - now,
                    )
                return good[2]
            good = None  # the expired value must not sit in this frame if we raise
        if error is not None:
            raise error  # this call's own failure, with its own traceback
        # Backing off with nothing to serve: a fresh copy of the last failure.
        assert entry.error is not None  # backing off implies a recorded failure
        failure = _fresh_copy(entry.error)
        add_note(
            failure,
            f"{self._describe(key)}: not fetched again for another "
            f"{max(0.0, entry.retry_at - now):.1f}s (backing off after "
            f"{entry.failures} failure(s))",
        )
        raise failure

    def _backoff(self, failures: int) -> float:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(failures - 1, 32))
        if self._rng is None:
            self._rng = jitter_random().random
        return ceiling / 2.0 + self._rng() * ceiling / 2.0  # equal jitter: never near zero

    def invalidate(self, match: Callable[[Hashable], bool] | None = None) -> int:
        """Drop the entries whose key ``match`` accepts (all when None); returns how many."""
        if match is None:
            count = len(self.entries)
            self.entries.clear()
            self.fresh.clear()
            return count
        doomed = [key for key in list(self.entries) if match(key)]
        for key in doomed:
            self.entries.pop(key, None)
            self.fresh.pop(key, None)
        return len(doomed)


def _default_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
    if not kwargs:
        return args
    return (args, tuple(sorted(kwargs.items())))


def ttl_cache(
    max_age: float | Callable[[Any], float],
    *,
    max_stale: float = 900.0,
    key: Callable[..., Hashable] | None = None,
    clock: Callable[[], float] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a function's result per arguments for ``max_age`` seconds.

    ``max_age`` may be a callable on the result (for a token:
    ``lambda tok: tok["expires_in"] - 60``). Concurrent callers of a cold key share one
    call. When a refresh raises, the last good result is returned for up to ``max_stale``
    seconds past its expiry; past that, or with no result yet, the function's own
    exception propagates. ``key(*args, **kwargs)`` makes the cache key (default: the
    arguments, which must then be hashable).

    The decorated function gains ``invalidate(*args, **kwargs)`` and ``cache_clear()``.
    """
    if not callable(max_age) and (
        isinstance(max_age, bool)
        or not isinstance(max_age, (int, float))
        or not max_age >= 0  # also refuses NaN
    ):
        raise ValueError(
            f"ttl_cache: max_age must be seconds >= 0 or a callable on the result, got {max_age!r}"
        )
    if key is not None and not callable(key):
        raise ValueError(f"ttl_cache: key must be callable, got {key!r}")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = getattr(func, "__qualname__", repr(func))
        cache = TTLCache(
            max_stale=max_stale,
            clock=clock,
            logger_name="lambda_perf.cache",
            describe=lambda k: f"ttl_cache({name})",
        )
        fresh = cache.fresh
        now = cache.clock
        make_key = key

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            k = make_key(*args, **kwargs) if make_key is not None else _default_key(args, kwargs)
            try:
                hit = fresh.get(k)
            except TypeError:
                raise TypeError(
                    f"ttl_cache({name}): the arguments are not hashable, so they cannot be "
                    f"a cache key; pass key=lambda *args, **kwargs: <something hashable>"
                ) from None
            if hit is not None and now() - hit[0] < hit[1]:  # is_fresh, inlined
                return hit[2]  # type: ignore[no-any-return]
            hit = None  # an expired value must not sit in this frame if the refresh raises
            return refresh(k, args, kwargs)

        def refresh(k: Hashable, args: Any, kwargs: Any) -> R:
            # Apart from wrapper, so the hit path builds no closure cells.
            return cache.get(k, lambda: func(*args, **kwargs), max_age=max_age)  # type: ignore[no-any-return]

        def invalidate(*args: Any, **kwargs: Any) -> None:
            k = make_key(*args, **kwargs) if make_key is not None else _default_key(args, kwargs)
            cache.invalidate(lambda candidate: candidate == k)

        wrapper.invalidate = invalidate  # type: ignore[attr-defined]
        wrapper.cache_clear = cache.invalidate  # type: ignore[attr-defined]
        return wrapper

    return decorate
