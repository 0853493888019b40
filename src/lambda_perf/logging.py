"""Structured JSON logs on the standard ``logging`` module.

One JSON object per line, with Powertools' key names (``level``, ``message``,
``timestamp``, ``service``, ``cold_start``, ``function_request_id``, ``xray_trace_id``),
so existing CloudWatch Logs Insights queries keep working. ``extra=`` fields and keys
added with ``append_keys`` are merged at the top level. Values under keys that look like
secrets are written as ``"***"`` at any depth. A log call never raises.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

from . import context as _context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import MutableMapping
    from typing import Any

__all__ = [
    "JsonFormatter",
    "StructuredLogger",
    "get_logger",
    "json_line",
    "redact",
    "service_name",
]

REDACTED = "***"
SECRET_WORDS = (
    "secret",
    "password",
    "token",
    "authorization",
    "client_secret",
    "api_key",
    "apikey",
)
_FIELDS = "_lambda_perf_fields"  # the LogRecord attribute our extra fields travel in
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", _FIELDS}
)

# Keys added with append_keys(): they appear on every line until the invocation ends.
_appended: dict[str, Any] = {}


_configured_service: str | None = None  # set by lambda_handler(service=...)


def set_default_service(name: str) -> None:
    """Make ``name`` the service of every logger and metric that was not given one."""
    global _configured_service
    _configured_service = name


def service_name(explicit: str | None = None) -> str:
    """The service: the argument, else the one ``lambda_handler(service=...)`` set, else
    LAMBDA_PERF_SERVICE_NAME, POWERTOOLS_SERVICE_NAME, AWS_LAMBDA_FUNCTION_NAME, else
    "service_undefined"."""
    return (
        explicit
        or _configured_service
        or os.environ.get("LAMBDA_PERF_SERVICE_NAME")
        or os.environ.get("POWERTOOLS_SERVICE_NAME")
        or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        or "service_undefined"
    )


_SECRET_KEY = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
_secret_keys: dict[object, bool] = {}  # key -> looks secret?  (keys repeat from line to line)


def _looks_secret(key: object) -> bool:
    verdict = _secret_keys.get(key)
    if verdict is None:
        verdict = _SECRET_KEY.search(str(key)) is not None
        if len(_secret_keys) < 4096:
            _secret_keys[key] = verdict
    return verdict


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if _looks_secret(k) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def _xray_trace_id() -> str | None:
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    for part in header.split(";"):
        if part.startswith("Root="):
            return part[5:]
    return None


_second_cache: list[Any] = [None, ""]  # [whole second, its "YYYY-MM-DDTHH:MM:SS" text]


def _iso_utc(created: float) -> str:
    seconds = int(created)
    if _second_cache[0] != seconds:
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache[0] = seconds
    return f"{_second_cache[1]}.{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; never raises."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.explicit_service = service  # None: resolved per line, as lambda_handler set it

    @property
    def service(self) -> str:
        return service_name(self.explicit_service)

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception as exc:  # a log call must never raise
            return json.dumps(
                {
                    "level": "ERROR",
                    "message": "lambda_perf: could not format a log record",
                    "timestamp": _iso_utc(time.time()),
                    "service": self.service,
                    "formatting_error": type(exc).__name__,
                    "logger": getattr(record, "name", "?"),
                }
            )

    def _format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
        fields.update(getattr(record, _FIELDS, None) or {})  # extra= of our loggers
        traceback = None
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception_name"] = record.exc_info[0].__name__
            traceback = self.formatException(record.exc_info)
        elif record.exc_text:
            traceback = record.exc_text
        return json_line(
            record.levelname,
            record.getMessage(),
            record.created,
            record.name,
            self.service,
            fields,
            traceback,
        )


def json_line(
    level: str,
    message: str,
    created: float,
    logger_name: str,
    service: str,
    fields: dict[str, Any],
    traceback: str | None = None,
) -> str:
    """One log line: our keys, then the invocation's, then the redacted caller fields."""
    document: dict[str, Any] = {
        "level": level,
        "message": message,
        "timestamp": _iso_utc(created),
        "service": service,
        "logger": logger_name,
        "cold_start": _context.is_cold_start(),
    }
    lambda_context = _context.get_lambda_context()
    if lambda_context is not None:
        document["function_name"] = getattr(lambda_context, "function_name", None)
        document["function_request_id"] = getattr(lambda_context, "aws_request_id", None)
        document["function_memory_size"] = getattr(lambda_context, "memory_limit_in_mb", None)
    trace = _xray_trace_id()
    if trace:
        document["xray_trace_id"] = trace
    if _appended:
        document.update(redact(_appended))
    if fields:
        document.update(redact(fields))
    if traceback is not None:
        document["traceback"] = traceback
    return _ENCODER.encode(document)


def _stringify(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


_ENCODER = json.JSONEncoder(default=_stringify, ensure_ascii=False, separators=(",", ":"))


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time (test capture, redirection)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class StructuredLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A stdlib logger that writes JSON lines; ``extra=`` fields go to the top level."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        fields = kwargs.pop("extra", None)
        if fields:
            kwargs["extra"] = {_FIELDS: dict(fields)}
        return msg, kwargs

    def append_keys(self, **keys: Any) -> None:
        """Add keys to every line until the invocation ends (the handler clears them)."""
        _appended.update(keys)

    def remove_keys(self, *names: str) -> None:
        for name in names:
            _appended.pop(name, None)


def clear_keys() -> None:
    """Forget keys added with ``append_keys`` (the handler does it after each invocation)."""
    _appended.clear()


def _level_from_environment() -> int:
    name = (os.environ.get("LOG_LEVEL") or os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "INFO").upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def get_logger(name: str | None = None, *, service: str | None = None) -> StructuredLogger:
    """A JSON logger writing to stdout (``name`` defaults to the service name).

    The level comes from ``LOG_LEVEL`` or ``AWS_LAMBDA_LOG_LEVEL`` (default INFO). It does
    not propagate to the root logger, so Lambda's own handler does not print lines twice.
    """
    logger = logging.getLogger(name or service_name(service))
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(_CurrentStdout())
        handler.setFormatter(JsonFormatter(service))
        logger.addHandler(handler)
        logger.setLevel(_level_from_environment())
        logger.propagate = False
    return StructuredLogger(logger, {})
