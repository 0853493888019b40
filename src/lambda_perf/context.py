"""The current Lambda context, for utilities that need the invocation's deadline.

The handler decorator sets it for each invocation; call :func:`set_lambda_context`
yourself if you do not use the decorator. It lives in a ``contextvars.ContextVar``, so
concurrent asyncio tasks can each carry their own. Threads do not inherit context
variables, so a thread that has not set one sees the context last set in the process
(Lambda runs one invocation at a time per execution environment).
"""

from __future__ import annotations

from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["get_lambda_context", "set_lambda_context"]

_UNSET: Any = object()
_current: ContextVar[Any] = ContextVar("lambda_perf_lambda_context", default=_UNSET)
_process_wide: Any = None


def set_lambda_context(context: Any) -> None:
    """Make ``context`` (a Lambda context object, or None to clear) the current one."""
    global _process_wide
    _current.set(context)
    _process_wide = context


def get_lambda_context() -> Any:
    """The current Lambda context object, or None outside an invocation."""
    context = _current.get()
    return _process_wide if context is _UNSET else context
