"""Which AWS errors are worth retrying: throttling, 5xx, and connection or read timeouts.

Shared by ``retry_with_backoff(retry_on="aws")`` and the circuit breaker. botocore is never
imported here: an exception can only be a botocore one if botocore is already loaded.
"""

from __future__ import annotations

import sys

__all__ = ["THROTTLING_CODES", "TRANSIENT_CODES", "is_retryable_aws_error", "is_throttling_error"]

# Error codes AWS services use for throttling (from the AWS SDKs' standard retry mode).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

# Codes for transient failures that do not come with a 5xx status.
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "IDPCommunicationError",
    }
)


def _client_error_parts(exc: BaseException) -> tuple[str, int] | None:
    """(error code, HTTP status) of a botocore ClientError, or None for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code, status if isinstance(status, int) else 0


def is_throttling_error(exc: BaseException) -> bool:
    """True for an AWS error that says the caller is being throttled."""
    parts = _client_error_parts(exc)
    return parts is not None and (parts[0] in THROTTLING_CODES or parts[1] == 429)


def _is_botocore_transport_error(exc: BaseException) -> bool:
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:
        return False
    transport = (
        exceptions.ConnectionError,  # endpoint unreachable, connect timeout, proxy, TLS
        exceptions.HTTPClientError,  # read timeout, closed connection, broken stream
    )
    return isinstance(exc, transport)


def is_retryable_aws_error(exc: BaseException) -> bool:
    """True for throttling, HTTP 5xx, transient error codes and connection/read timeouts.

    Other 4xx client errors (validation, access denied, not found) are not retryable.
    Python's own ``ConnectionError`` and ``TimeoutError`` are retryable too.
    """
    parts = _client_error_parts(exc)
    if parts is not None:
        code, status = parts
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or status == 429 or status >= 500
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return _is_botocore_transport_error(exc)
