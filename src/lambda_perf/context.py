"""The current Lambda invocation: its context object, and whether it is a cold start.

The handler decorator sets both for each invocation; call :func:`set_lambda_context`
yourself if you do not use the decorator. The context lives in a ``ContextVar``, so
concurrent asyncio tasks can each carry their own. Threads do not inherit context
variables, so a thread that has not set one sees the context last set in the process
(Lambda runs one invocation at a time per execution environment).
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["get_lambda_context", "init_duration_ms", "is_cold_start", "set_lambda_context"]

INITIALIZATION_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"

_UNSET: Any = object()
_current: ContextVar[Any] = ContextVar("lambda_perf_lambda_context", default=_UNSET)
_process_wide: Any = None

# One flag for the whole package: True until the first invocation has begun.
_first_invocation_pending = True
_cold_start = False  # the current (or last) invocation's
_init_duration_ms: float | None = None


def set_lambda_context(context: Any) -> None:
    """Make ``context`` (a Lambda context object, or None to clear) the current one."""
    global _process_wide
    _current.set(context)
    _process_wide = context


def get_lambda_context() -> Any:
    """The current Lambda context object, or None outside an invocation."""
    context = _current.get()
    return _process_wide if context is _UNSET else context


def _on_demand() -> bool:
    kind = os.environ.get(INITIALIZATION_TYPE_ENV, "on-demand").strip().lower()
    return kind in ("", "on-demand")


def begin_invocation(context: Any) -> bool:
    """Mark an invocation's start; returns whether it is a cold start.

    Only the first invocation of an on-demand environment is cold: with provisioned
    concurrency or SnapStart, init ran ahead of time and no caller waited for it.
    """
    global _first_invocation_pending, _cold_start, _init_duration_ms
    set_lambda_context(context)
    if _first_invocation_pending:
        _first_invocation_pending = False
        from . import _IMPORTED_AT

        _init_duration_ms = (time.perf_counter() - _IMPORTED_AT) * 1000.0
        _cold_start = _on_demand()
    else:
        _cold_start = False
    return _cold_start


def end_invocation() -> None:
    set_lambda_context(None)


def is_cold_start() -> bool:
    """True during the first invocation of an on-demand execution environment.

    Before any invocation (during init) it says whether the coming one will be cold.
    """
    if _first_invocation_pending:
        return _on_demand()
    return _cold_start


def init_duration_ms() -> float | None:
    """Milliseconds from ``import lambda_perf`` to the first invocation (None before it)."""
    return _init_duration_ms


def _reset_for_tests() -> None:
    global _first_invocation_pending, _cold_start, _init_duration_ms
    _first_invocation_pending = True
    _cold_start = False
    _init_duration_ms = None
