"""The package's exceptions. Every one derives from :class:`LambdaPerfError`."""

from __future__ import annotations


class LambdaPerfError(Exception):
    """Base class of every error that lambda-perf raises itself."""


class ConfigurationError(LambdaPerfError, ValueError):
    """A setting (an argument or an environment variable) has a value lambda-perf cannot use."""


class MissingRegionError(ConfigurationError):
    """No AWS region is configured for a client."""


class CircuitOpenError(LambdaPerfError):
    """A circuit breaker is open: the guarded call was not made.

    ``retry_after`` is the number of seconds until the breaker lets a probe call through.
    Retry decorators never retry this error.
    """

    def __init__(self, name: str, retry_after: float, message: str | None = None) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(
            message
            or f"circuit {name!r} is open: calls fail fast for another {retry_after:.3f}s "
            f"while the dependency recovers; handle CircuitOpenError or pass a fallback"
        )
