"""The Lambda entry point: ``vanta_sync.handler.handler``.

The flow is the seed's: cold-start detection, credentials from Secrets Manager, an OAuth
token, vulnerabilities, remediations, storage to S3 by date, metrics and one structured
log line; success, or a raised error so that Lambda retries the asynchronous invocation
and then sends it to the DLQ. A run that runs short of time checkpoints and invokes its
own function again (at most ``MAX_CONTINUATIONS`` times).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from typing import Any

from lambda_perf import get_aws_client, get_logger, get_secret, lambda_handler, metrics

from . import sync, vanta
from .config import Settings

log = get_logger("vanta_sync")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_settings: Settings | None = None


class ContinuationLimitError(Exception):
    """A sync needed more continuations than MAX_CONTINUATIONS allows."""


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_environment()
    return _settings


def _date(event: dict[str, Any]) -> str:
    date = event.get("date")
    if date is None:
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    if not isinstance(date, str) or not _DATE.match(date):
        raise ValueError(f'"date" must be YYYY-MM-DD, got {date!r}')
    datetime.date.fromisoformat(date)  # a real calendar date
    return date


def _time_left(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else remaining() / 1000.0


@lambda_handler(
    service="vanta-sync",
    namespace=os.environ.get("LAMBDA_PERF_METRICS_NAMESPACE") or "VantaSync",
)
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    event = event if isinstance(event, dict) else {}
    config = settings()
    date = _date(event)
    before = dict(vanta.counters)
    credentials = get_secret(config.secret_name, transform="json")
    client = vanta.VantaClient(
        config.api_base, credentials, config.max_pool_connections, config.retry_base_delay
    )
    outcome = sync.run(
        settings=config,
        s3=get_aws_client("s3"),
        client=client,
        date=date,
        force=bool(event.get("force")),
        time_left=lambda: _time_left(context),
    )
    duration_ms = (time.perf_counter() - started) * 1000.0
    metrics.add_metric("VulnerabilitiesFetched", outcome.counts["vulnerabilities"])
    metrics.add_metric("RemediationsFetched", outcome.counts["remediations"])
    metrics.add_metric("ObjectsStored", outcome.objects_stored)
    metrics.add_metric("BytesStored", outcome.bytes_stored, "Bytes")
    metrics.add_metric("PagesFetched", outcome.pages)
    metrics.add_metric("ApiRetries", vanta.counters["api_retries"] - before["api_retries"])
    metrics.add_metric("TokenMints", vanta.counters["token_mints"] - before["token_mints"])
    metrics.add_metric("SyncDuration", duration_ms, "Milliseconds")
    message = {
        "complete": "Sync completed successfully",
        "skipped": f"Sync skipped: {outcome.reason}",
        "incomplete": f"Sync incomplete, continuing: {outcome.reason}",
    }[outcome.status]
    log.info(
        message,
        extra={
            "status": outcome.status,
            "date": date,
            "vulnerabilities_count": outcome.counts["vulnerabilities"],
            "remediations_count": outcome.counts["remediations"],
            "parts": outcome.parts,
            "duration_ms": round(duration_ms, 3),
            "run_id": outcome.run_id,
        },
    )
    if outcome.status == "incomplete":
        _continue(context, date, outcome)
    return outcome.result()


def _continue(context: Any, date: str, outcome: sync.Outcome) -> None:
    """Invoke this function again, asynchronously, to resume from the checkpoint."""
    limit = settings().max_continuations
    if outcome.continuations >= limit:
        raise ContinuationLimitError(
            f"the sync of {date} is still incomplete after {limit} continuations: raise "
            f"MAX_CONTINUATIONS or the function's timeout; the checkpoint is kept"
        )
    name = getattr(context, "function_name", None) or os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    get_aws_client("lambda").invoke(
        FunctionName=name,
        InvocationType="Event",
        Payload=json.dumps({"date": date, "resume": True}).encode(),
    )
