"""Lambda's own log lines and error payloads, in its exact formats."""

from __future__ import annotations

import math

# Response payloads above this fail with Function.ResponseSizeTooLarge (Lambda's limit).
MAX_RESPONSE_BYTES = 6_291_556
MAX_SYNC_REQUEST_BYTES = 6_291_456
MAX_EVENT_REQUEST_BYTES = 1_048_576
TAIL_BYTES = 4096


def billed_duration_ms(duration_ms: float, init_ms: float | None) -> int:
    """Billed Duration since August 2025: 1 ms granularity, and an on-demand cold start's
    init is billed too."""
    return max(1, math.ceil(duration_ms + (init_ms or 0.0)))


def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(
    request_id: str,
    *,
    duration_ms: float,
    memory_mb: int,
    max_memory_used_mb: int,
    init_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """``REPORT RequestId: ...`` with Lambda's tab-separated fields; Init Duration on
    cold starts only; Status (and Error Type) when the environment failed."""
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed_duration_ms(duration_ms, init_ms)} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    if status is not None:
        parts.append(f"Status: {status}")
        if error_type is not None:
            parts.append(f"Error Type: {error_type}")
    return "\t".join(parts) + "\t"


def timeout_error(request_id: str, timeout_s: float) -> dict[str, str]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
        f"{timeout_s:.2f} seconds",
    }


def out_of_memory_error(request_id: str) -> dict[str, str]:
    return {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }


def exit_error(request_id: str, returncode: int | None) -> dict[str, str]:
    how = (
        f"signal: {_signal_name(-returncode)}"
        if returncode is not None and returncode < 0
        else f"exit status {returncode}"
    )
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
    }


def response_too_large_error(size: int) -> dict[str, str]:
    return {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": f"Response payload size ({size} bytes) exceeded maximum allowed "
        f"payload size ({MAX_RESPONSE_BYTES} bytes).",
    }


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)
