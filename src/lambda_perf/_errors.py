"""The package's exceptions. Every one derives from :class:`LambdaPerfError`."""

from __future__ import annotations

import contextlib


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)`` where it can be done: never an error of its own (3.10 has no
    notes; a ``__notes__`` that is not a list makes add_note raise TypeError)."""
    notes = getattr(exc, "__notes__", None)
    if notes is None:
        with contextlib.suppress(AttributeError, TypeError):  # an exception with __slots__
            exc.__notes__ = [note]  # type: ignore[attr-defined]  # what add_note does
    elif isinstance(notes, list):
        notes.append(note)


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


class SecretFetchError(LambdaPerfError):
    """A secret or parameter could not be fetched (and no cached value could be served).

    The message names the secret or parameter and why; it never contains the value.
    ``transient`` is True for throttling, 5xx and network failures.
    """

    def __init__(self, what: str, reason: str, *, transient: bool = False) -> None:
        self.what = what
        self.reason = reason
        self.transient = transient
        super().__init__(f"could not get {what}: {reason}")
