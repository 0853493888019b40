"""``lambda-perf dlq show`` and ``lambda-perf dlq replay``: a dead-letter queue, read and
replayed without losing anything.

``replay`` deletes a message only after its invocation was accepted (``Event``: 202;
``RequestResponse``: 200 without ``FunctionError``). Anything else stays in the queue: it
is kept invisible for the rest of the run (so the run never replays it twice) and made
visible again when the run ends, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from . import UsageError

if TYPE_CHECKING:
    import argparse

PREVIEW_CHARS = 160
INVOKE_TIMEOUT_S = 900  # a synchronous replay may take as long as the function may run


def _clients(args: argparse.Namespace) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    from lambda_perf.local.service import sqs_client_for

    region = args.region or boto3.session.Session().region_name or "us-east-1"
    sqs = sqs_client_for(args.queue_url, region)
    if getattr(args, "function", None) is None:
        return sqs, None
    lam = boto3.client(
        "lambda",
        region_name=region,
        endpoint_url=args.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=INVOKE_TIMEOUT_S + 30),
    )
    return sqs, lam


def preview(body: str) -> str:
    """The body's start, with the values of secret-looking keys redacted."""
    from lambda_perf.logging import redact

    try:
        text = json.dumps(redact(json.loads(body)), separators=(",", ":"))
    except ValueError:
        text = body
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def describe(message: dict[str, Any]) -> str:
    attributes = message.get("MessageAttributes", {})

    def value(name: str) -> str:
        return str(attributes.get(name, {}).get("StringValue", "-"))

    return (
        f"{message['MessageId']}  RequestID={value('RequestID')}  ErrorCode={value('ErrorCode')}"
        f"  ErrorMessage={value('ErrorMessage')[:200]!r}\n    body: {preview(message['Body'])}"
    )


def _receive(sqs: Any, url: str, count: int, visibility: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, count)),
        VisibilityTimeout=visibility,
        WaitTimeSeconds=1,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    ).get("Messages", [])
    return messages


def show(args: argparse.Namespace) -> int:
    sqs, _ = _clients(args)
    seen: set[str] = set()
    quiet_rounds = 0
    while len(seen) < args.max and quiet_rounds < 3:
        new = [
            m for m in _receive(sqs, args.queue_url, args.max - len(seen), 0)
            if m["MessageId"] not in seen
        ]  # fmt: skip
        quiet_rounds = 0 if new else quiet_rounds + 1
        for message in new:
            seen.add(message["MessageId"])
            print(describe(message))
    print(f"{len(seen)} message(s) shown; nothing was received for good or deleted")
    return 0


def replay(args: argparse.Namespace) -> int:
    if args.max is not None and args.max < 1:
        raise UsageError("--max must be at least 1")
    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be > 0 invocations per second")
    sqs, lam = _clients(args)
    seen: set[str] = set()
    kept: list[tuple[str, str]] = []  # (message id, receipt handle): made visible at the end
    replayed = failed = 0
    last_invoke = 0.0
    # Long enough for a whole batch of synchronous replays (SQS allows 12 hours).
    visibility = min(
        43200, 10 * INVOKE_TIMEOUT_S if args.invocation_type == "RequestResponse" else 300
    )
    try:
        while args.max is None or len(seen) < args.max:
            remaining = 10 if args.max is None else args.max - len(seen)
            batch = [
                m for m in _receive(sqs, args.queue_url, remaining, visibility)
                if m["MessageId"] not in seen
            ]  # fmt: skip
            if not batch:
                break
            for message in batch:
                if args.max is not None and len(seen) >= args.max:
                    kept.append((message["MessageId"], message["ReceiptHandle"]))
                    continue
                seen.add(message["MessageId"])
                print(describe(message))
                if args.dry_run:
                    kept.append((message["MessageId"], message["ReceiptHandle"]))
                    continue
                if args.rate is not None:
                    wait = last_invoke + 1.0 / args.rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                last_invoke = time.monotonic()
                reason = _invoke(lam, args.function, args.invocation_type, message["Body"])
                if reason is None:
                    sqs.delete_message(
                        QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                    replayed += 1
                    print("    replayed: deleted from the queue")
                else:
                    kept.append((message["MessageId"], message["ReceiptHandle"]))
                    failed += 1
                    print(f"    NOT replayed ({reason}): left in the queue")
    finally:
        _release(sqs, args.queue_url, [receipt for _, receipt in kept])
    left = _approximate_depth(sqs, args.queue_url)
    verb = "would replay" if args.dry_run else "replayed"
    print(
        f"summary: {verb} {len(seen) if args.dry_run else replayed}, failed {failed}, "
        f"left in the queue {left}"
    )
    if args.dry_run:
        return 0
    return 1 if failed or left else 0


def _release(sqs: Any, url: str, receipts: list[str]) -> None:
    """Make messages visible again at once, for the next reader (batches of 10)."""
    for start in range(0, len(receipts), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
            for i, r in enumerate(receipts[start : start + 10])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except Exception as exc:
            print(f"lambda-perf dlq: could not release messages ({exc})", file=sys.stderr)


def _invoke(lam: Any, function: str, kind: str, body: str) -> str | None:
    """None when the invocation was accepted, else why not."""
    try:
        response = lam.invoke(FunctionName=function, InvocationType=kind, Payload=body.encode())
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return f"{code}: {exc}"
    status = response.get("StatusCode")
    if kind == "Event":
        return None if status == 202 else f"HTTP {status}"
    payload = response["Payload"].read()
    if status != 200:
        return f"HTTP {status}"
    if response.get("FunctionError"):
        try:
            error = json.loads(payload)
            return f"{error.get('errorType')}: {str(error.get('errorMessage'))[:200]}"
        except ValueError:
            return f"FunctionError {response['FunctionError']}"
    return None


def _approximate_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def run(args: argparse.Namespace) -> int:
    return show(args) if args.dlq_command == "show" else replay(args)
