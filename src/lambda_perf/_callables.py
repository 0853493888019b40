"""What kind of callable a decorator was given: plain, coroutine, generator.

Shared by ``retry_with_backoff``, ``CircuitBreaker`` and ``lambda_handler``. It sees
through ``functools.partial``, bound methods, ``staticmethod``/``classmethod``, objects
with an ``async def __call__`` and ``inspect.markcoroutinefunction``, without importing
``inspect`` or ``asyncio``.
"""

from __future__ import annotations

import functools

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["sync", "async", "generator", "async_generator"]

__all__ = ["callable_kind", "refuse_generators"]

# inspect's code flags
CO_GENERATOR = 0x20
CO_COROUTINE = 0x80
CO_ASYNC_GENERATOR = 0x200


def _code_kind(code: object) -> Kind:
    flags = getattr(code, "co_flags", 0)
    if flags & CO_COROUTINE:
        return "async"
    if flags & CO_ASYNC_GENERATOR:
        return "async_generator"
    if flags & CO_GENERATOR:
        return "generator"
    return "sync"


def callable_kind(func: object) -> Kind:
    """``"async"`` for anything whose call returns a coroutine as an ``async def`` does,
    ``"generator"``/``"async_generator"`` for generator functions, else ``"sync"``."""
    for _ in range(100):  # a partial of a partial of ...: bounded, never a cycle
        if getattr(func, "_is_coroutine_marker", None) is not None:  # markcoroutinefunction
            return "async"
        if isinstance(func, functools.partial):
            func = func.func
            continue
        if isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
            continue
        code = getattr(func, "__code__", None)
        if code is not None:
            return _code_kind(code)
        inner = getattr(func, "__func__", None)  # a bound method
        if inner is not None:
            func = inner
            continue
        call = getattr(type(func), "__call__", None)  # noqa: B004 (the method, not callable())
        if call is None or getattr(call, "__code__", None) is None:
            return "sync"  # a builtin, a class, a C callable
        return _code_kind(call.__code__)
    return "sync"


def refuse_generators(owner: str, func: object, kind: str) -> None:
    """Raise TypeError for a generator function: calling one only creates the generator,
    so nothing it does when iterated would be retried or guarded."""
    if kind in ("generator", "async_generator"):
        name = getattr(func, "__qualname__", repr(func))
        raise TypeError(
            f"{owner} cannot guard {name}: it is a{'n async' if kind == 'async_generator' else ''} "
            f"generator function, whose call only creates the generator (the work happens "
            f"later, while it is iterated). Decorate a function that consumes it instead, "
            f"e.g. one returning list({name}(...))"
        )
