"""The local Lambda service's own overhead: a warm invoke of a no-op handler through it,
against a direct in-process call of the same handler."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Table, compare_runs

INVOKES = 50  # per sample

NOOP = "def handler(event, context):\n    return {'ok': True}\n"


class _Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


def run(repeats: int) -> list[Table]:
    import boto3
    from botocore.config import Config

    from lambda_perf.local import FunctionConfig, LocalLambda

    with tempfile.TemporaryDirectory() as code_dir:
        Path(code_dir, "noop.py").write_text(NOOP)
        sys.path.insert(0, code_dir)
        import noop

        config = FunctionConfig.from_handler("noop.handler", code_dir, function_name="noop")
        with LocalLambda(config, log=lambda line: None) as service:
            client = boto3.client(
                "lambda",
                endpoint_url=service.endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(retries={"total_max_attempts": 1}),
            )
            payload = json.dumps({"n": 1}).encode()
            client.invoke(FunctionName="noop", Payload=payload)  # the cold start: not measured
            context = _Context()

            def per_invoke(call) -> float:  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                for _ in range(INVOKES):
                    call()
                return (time.perf_counter() - start) / INVOKES

            table = compare_runs(
                "local service: one warm invoke of a no-op handler",
                {
                    "direct in-process call of the handler": lambda: per_invoke(
                        lambda: noop.handler(json.loads(payload), context)
                    ),
                    "LocalLambda.invoke (Runtime API round trip, no Lambda API)": lambda: (
                        per_invoke(lambda: service.invoke(payload))
                    ),
                    "boto3 lambda.invoke through the local service": lambda: per_invoke(
                        lambda: client.invoke(FunctionName="noop", Payload=payload)[
                            "Payload"
                        ].read()
                    ),
                },
                floor="direct in-process call of the handler",
                unit="µs",
                repeats=repeats,
            )
        sys.path.remove(code_dir)
    floor = table.medians["direct in-process call of the handler"]
    added = (table.medians["boto3 lambda.invoke through the local service"] - floor) * 1000.0
    table.notes += [
        f"Wall time per invoke, {INVOKES} warm invokes per sample, on one warm environment "
        "(a real `python -m awslambdaric` process). The boto3 row is the whole path a caller "
        "sees: botocore's request building and signing, the Lambda API, the Runtime API, "
        "the runtime's own JSON handling, and the answer back.",
        f"Target: at most 2 ms of added latency per warm invoke: measured {added:.2f} ms "
        f"({'met' if added <= 2.0 else '**not met**'}; an absolute figure from this machine).",
    ]
    return [table]
