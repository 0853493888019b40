"""Fixtures for the Vanta sync example: the fake Vanta API, resources on a moto server,
and the function on the local Lambda service (real awslambdaric processes)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vanta_sync"
sys.path.insert(0, str(EXAMPLE))

import fake_vanta  # noqa: E402
import run_local  # noqa: E402

from lambda_perf.local import FunctionConfig, LocalLambda  # noqa: E402


@dataclass
class Deployment:
    """The function, its resources, and what a test needs to drive and check it."""

    service: LocalLambda
    fake: Any
    s3: Any
    sqs: Any
    bucket: str
    dlq_url: str
    lines: list[str]

    def invoke(self, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], str | None]:
        client = boto3.client(
            "lambda", endpoint_url=self.service.endpoint_url, region_name="us-east-1"
        )
        response = client.invoke(
            FunctionName="vanta-vuln-sync", Payload=json.dumps(event or {}).encode()
        )
        return json.loads(response["Payload"].read()), response.get("FunctionError")

    def manifest(self, date: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(
                Bucket=self.bucket, Key=f"vanta/_runs/dt={date}/manifest.json"
            )["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        document: dict[str, Any] = json.loads(body)
        return document

    def verify(self, date: str) -> list[str]:
        return run_local.verify(self.s3, self.bucket, "vanta/", date, self.fake)

    def object_keys(self, prefix: str = "vanta/") -> list[str]:
        return [
            item["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for item in page.get("Contents", [])
        ]

    def page_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.fake.requests if r["kind"] == "page"]

    def token_requests(self) -> int:
        return sum(1 for r in self.fake.requests if r["kind"] == "token")

    def wait_for(self, check: Callable[[], Any], seconds: float = 60.0) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)  # against real servers
        raise AssertionError("timed out waiting")


@pytest.fixture
def deploy(moto_server: str, tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """deploy(vulnerabilities=, remediations=, faults=, timeout=, env=, s3_url=) starts the
    fake API and the function; everything is stopped after the test, by PID."""
    pytest.importorskip("awslambdaric")
    made: list[tuple[LocalLambda, Any]] = []

    def make(
        *,
        vulnerabilities: int = 250,
        remediations: int = 120,
        faults: dict[str, Any] | None = None,
        timeout: int = 60,
        env: dict[str, str] | None = None,
        s3_url: str | None = None,
        max_retry_attempts: int = 0,
    ) -> Deployment:
        fake = fake_vanta.start(
            vulnerabilities=vulnerabilities, remediations=remediations, faults=faults
        )
        suffix = f"{time.time_ns()}"
        bucket = f"vanta-test-{suffix}"
        session = boto3.session.Session(region_name="us-east-1")
        secret_name = f"vanta/credentials-{suffix}"
        session.client("secretsmanager", endpoint_url=moto_server).create_secret(
            Name=secret_name,
            SecretString=json.dumps(
                {"client_id": fake_vanta.CLIENT_ID, "client_secret": fake_vanta.CLIENT_SECRET}
            ),
        )
        s3 = session.client("s3", endpoint_url=s3_url or moto_server)
        s3.create_bucket(Bucket=bucket)
        sqs = session.client("sqs", endpoint_url=moto_server)
        dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
        environment = run_local.function_environment(
            moto_server,
            fake.url,
            VANTA_SECRET_NAME=secret_name,
            S3_BUCKET_NAME=bucket,
            VANTA_SYNC_PART_RECORDS="100",  # several parts even for small runs
            VANTA_SYNC_RETRY_BASE_DELAY="0.05",
            VANTA_SYNC_CHECKPOINT_SECONDS="0",
            **({"AWS_ENDPOINT_URL_S3": s3_url} if s3_url else {}),
        )
        environment.update(env or {})
        lines: list[str] = []
        config = FunctionConfig.from_handler(
            "vanta_sync.handler.handler",
            EXAMPLE / "src",
            function_name="vanta-vuln-sync",
            memory=1536,
            timeout=timeout,
            dlq_url=dlq_url,
            max_retry_attempts=max_retry_attempts,
            environment=environment,
        )
        service = LocalLambda(config, log=lines.append)
        config.environment["AWS_ENDPOINT_URL_LAMBDA"] = service.endpoint_url
        service.start()
        made.append((service, fake))
        return Deployment(service, fake, s3, sqs, bucket, dlq_url, lines)

    try:
        yield make
    finally:
        for service, fake in made:
            service.stop()
            fake.stop()
        for service, _ in made:
            for pid in service.pids:
                assert not Path(f"/proc/{pid}/cmdline").exists() or _zombie(pid), pid


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except (OSError, IndexError):
        return True
