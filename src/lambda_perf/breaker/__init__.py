"""Circuit breakers: ``CircuitBreaker`` and the shared state stores."""

from __future__ import annotations

from ._core import CircuitBreaker, CircuitState
from .stores import DynamoDBStateStore, InMemoryStateStore, SharedState

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "DynamoDBStateStore",
    "InMemoryStateStore",
    "SharedState",
]
