"""RetryState, kept apart from retry.py so that decorating does not import dataclasses
(about 12 ms cold); it is imported the first time a hook has to be called."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

GiveUpReason = Literal["max_retries", "deadline", "budget", "not_retryable"]


@dataclass(frozen=True)
class RetryState:
    """What ``on_retry`` and ``on_giveup`` hooks receive."""

    function: Callable[..., Any]
    attempt: int
    """1-based number of the call that just failed."""
    exception: BaseException | None
    """What the call raised, or None when its result was retried."""
    result: Any
    delay: float
    """Seconds about to be slept; 0.0 in ``on_giveup``."""
    elapsed: float
    """Seconds since the first call failed (the success path reads no clock)."""
    reason: GiveUpReason | None = None
    """Why it gave up, in ``on_giveup``; None in ``on_retry``."""
