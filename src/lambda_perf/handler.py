"""``@lambda_handler``: cold start, one structured log line and metrics per invocation.

Per invocation it sets the Lambda context (for retry deadlines), emits the ``ColdStart``
metric at the start of the first one (even if the handler then raises), writes one JSON
log line at the end (``level``, ``message``, ``timestamp``, ``cold_start``,
``function_request_id``, ``duration_ms``, ``service`` and the keys the handler appended),
flushes the default ``metrics``, and re-raises any error so Lambda records the failure.
The handler's outcome always wins: a metrics flush that fails is logged as one ERROR line
and never replaces the handler's value or error. A decorated handler called from another
one (nesting) is not instrumented twice. Nothing here makes a network call.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from traceback import format_exception

from . import context as _context
from ._callables import callable_kind
from .logging import clear_keys, get_logger, json_line, service_name, set_default_service
from .metrics import metrics as default_metrics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["lambda_handler"]

_in_invocation = False  # True while an instrumented handler runs (nesting writes one line)


def lambda_handler(
    func: Callable[..., Any] | None = None,
    /,
    *,
    service: str | None = None,
    namespace: str | None = None,
    capture_cold_start_metric: bool = True,
    log_event: bool = False,
) -> Any:
    """Instrument a ``handler(event, context)`` (a function or a method).

    ``service`` names the service in logs and metrics; ``namespace`` is the metrics
    namespace (else ``LAMBDA_PERF_METRICS_NAMESPACE`` or ``POWERTOOLS_METRICS_NAMESPACE``).
    With ``log_event=True`` the event is logged (secret-looking keys redacted).
    """
    if service is not None:
        set_default_service(service)
    resolved_service = service_name(service)
    if namespace is not None:
        default_metrics._check_namespace(namespace)
        default_metrics.namespace = namespace
    if capture_cold_start_metric and default_metrics.namespace is None:
        from ._errors import ConfigurationError

        raise ConfigurationError(
            "lambda_handler: the ColdStart metric needs a metrics namespace: pass "
            "namespace=..., set LAMBDA_PERF_METRICS_NAMESPACE (or "
            "POWERTOOLS_METRICS_NAMESPACE), or pass capture_cold_start_metric=False"
        )
    logger = get_logger("lambda_perf.handler", service=resolved_service).logger

    def decorate(handler: F) -> F:
        if isinstance(handler, (staticmethod, classmethod)):
            return type(handler)(decorate(handler.__func__))
        kind = callable_kind(handler)
        if kind != "sync":
            name = getattr(handler, "__qualname__", repr(handler))
            raise TypeError(
                f"lambda_handler: {name} is an {'async def' if kind == 'async' else kind} "
                f"function, but Lambda's Python runtime calls the handler and does not await "
                f"or iterate what it returns, so its body would never run. Make the handler "
                f"a plain def that runs the async code itself: "
                f"return asyncio.run(main(event, context))"
            )

        @functools.wraps(handler)
        def instrumented(*args: Any, **kwargs: Any) -> Any:
            global _in_invocation
            if _in_invocation:  # called from another decorated handler: one line, not two
                return handler(*args, **kwargs)
            if "context" in kwargs:  # handler(event, context=ctx)
                lambda_context = kwargs["context"]
                event = kwargs["event"] if "event" in kwargs else (args[-1] if args else None)
            else:
                lambda_context = args[-1] if args else None
                event = args[-2] if len(args) >= 2 else kwargs.get("event")
            started = time.perf_counter()
            _in_invocation = True
            try:
                cold = _context.begin_invocation(lambda_context)
                if cold and capture_cold_start_metric:
                    _emit_cold_start(lambda_context, resolved_service)
                if log_event:
                    logger.info("event", extra={"event": event})
                try:
                    result = handler(*args, **kwargs)
                except BaseException as exc:
                    _finish(logger, resolved_service, started, cold, exc)
                    raise
                _finish(logger, resolved_service, started, cold, None)
                return result
            finally:
                _in_invocation = False

        return instrumented  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


def _emit_cold_start(lambda_context: Any, service: str) -> None:
    function_name = getattr(lambda_context, "function_name", None) or "unknown"
    line = default_metrics.single_metric_line(
        "ColdStart", 1, "Count", {"function_name": function_name, "service": service}
    )
    sys.stdout.write(line + "\n")


def _finish(
    logger: Any, service: str, started: float, cold: bool, error: BaseException | None
) -> None:
    """The invocation's one log line, written directly (the stdlib record machinery costs
    more than the line itself), then the metrics flush."""
    duration_ms = round((time.perf_counter() - started) * 1000.0, 3)
    fields: dict[str, Any] = {"duration_ms": duration_ms}
    init_ms = _context.init_duration_ms()
    if cold and init_ms is not None:
        fields["init_duration_ms"] = round(init_ms, 3)
    try:
        level = logging.INFO if error is None else logging.ERROR
        if logger.isEnabledFor(level):
            traceback = None
            if error is None:
                message = "invocation completed"
            else:
                message = f"invocation failed: {type(error).__name__}"
                fields["exception_name"] = type(error).__name__
                traceback = "".join(
                    format_exception(type(error), error, error.__traceback__)
                ).rstrip()
            line = json_line(
                logging.getLevelName(level),
                message,
                time.time(),
                logger.name,
                service,
                fields,
                traceback,
            )
            sys.stdout.write(line + "\n")
    except Exception:  # never let our log line hide the handler's outcome
        pass
    finally:
        try:
            _flush_metrics(logger, service)
        finally:
            clear_keys()
            _context.end_invocation()


def _flush_metrics(logger: Any, service: str) -> None:
    """Flush the default metrics; a failure is one ERROR line, never an exception."""
    pending = list(default_metrics._metrics)
    try:
        default_metrics.flush()
    except Exception as exc:
        try:
            line = json_line(
                "ERROR",
                f"lambda_perf: metrics flush failed ({type(exc).__name__}: {exc}); "
                f"dropped {len(pending)} metric(s): {', '.join(pending) or '-'}",
                time.time(),
                logger.name,
                service,
                {"dropped_metrics": pending, "flush_error": type(exc).__name__},
            )
            sys.stdout.write(line + "\n")
        except Exception:
            pass
