"""Structured JSON logs on the standard ``logging`` module.

One JSON object per line, with Powertools' key names (``level``, ``message``,
``timestamp``, ``service``, ``cold_start``, ``function_request_id``, ``xray_trace_id``),
so existing CloudWatch Logs Insights queries keep working. ``extra=`` fields and keys
added with ``append_keys`` are merged at the top level; one whose name is one of ours
(``RESERVED_KEYS``) is written as ``extra_<name>`` instead of overwriting it. Values under
keys that look like secrets are written as ``"***"`` at any depth, in every mapping,
dataclass, list and tuple. Every line is strict JSON: NaN and infinities are written as
the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, a container that contains
itself as ``"<cycle>"``. A log call never raises.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Mapping

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
CYCLE = "<cycle>"
# Matched in keys lower-cased, with "-" read as "_" (x-api-key, Set-Cookie, ...).
SECRET_WORDS = (
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "access_key",
    "accesskey",
    "private_key",
    "privatekey",
    "credential",
    "cookie",
)
# Keys of our own on every line: caller fields of these names are written as extra_<name>.
RESERVED_KEYS = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "service",
        "logger",
        "cold_start",
        "function_name",
        "function_request_id",
        "function_memory_size",
        "xray_trace_id",
        "tenant_id",
        "traceback",
    }
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


_SECRET_KEY = re.compile("|".join(SECRET_WORDS))
_secret_keys: dict[object, bool] = {}  # key -> looks secret?  (keys repeat from line to line)


def _looks_secret(key: object) -> bool:
    verdict = _secret_keys.get(key)
    if verdict is None:
        verdict = _SECRET_KEY.search(str(key).lower().replace("-", "_")) is not None
        if len(_secret_keys) < 4096:
            _secret_keys[key] = verdict
    return verdict


def _non_finite(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def redact(value: Any) -> Any:
    """A JSON-ready copy of ``value``: the values of secret-looking keys replaced at any
    depth (in every mapping, dataclass, list and tuple), non-finite floats written as
    strings, and a container inside itself written as ``"<cycle>"``."""
    return _clean(value, [])


def _clean(value: Any, path: list[int]) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float or isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if kind is dict or isinstance(value, Mapping):
        items: Any = value.items()
    elif hasattr(kind, "__dataclass_fields__") and not isinstance(value, type):
        items = [(name, getattr(value, name, None)) for name in kind.__dataclass_fields__]
    elif isinstance(value, (list, tuple)):
        items = None
    else:
        return value  # the encoder writes str(value)
    if id(value) in path:
        return CYCLE
    path.append(id(value))
    try:
        if items is None:
            return [_clean(v, path) for v in value]
        return {
            (k if type(k) is str else str(k)): REDACTED if _looks_secret(k) else _clean(v, path)
            for k, v in items
        }
    finally:
        path.pop()


_PLAIN = frozenset({str, int, bool, type(None)})  # written as they are


def _merge(document: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Caller fields into a line: redacted, and never over one of our keys."""
    for key, value in fields.items():
        if _looks_secret(key):
            value = REDACTED
        elif type(value) not in _PLAIN:
            value = _clean(value, [id(fields)])
        name = key if type(key) is str else str(key)
        document[f"extra_{name}" if name in RESERVED_KEYS else name] = value


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
        tenant = getattr(lambda_context, "tenant_id", None)  # tenant isolation mode
        if tenant:
            document["tenant_id"] = tenant
    trace = _xray_trace_id()
    if trace:
        document["xray_trace_id"] = trace
    if _appended:
        _merge(document, _appended)
    if fields:
        _merge(document, fields)
    if traceback is not None:
        document["traceback"] = traceback
    return _ENCODER.encode(document)


def _stringify(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


_ENCODER = json.JSONEncoder(
    default=_stringify, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


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
