"""Run the Vanta sync end to end on one machine: the local Lambda service (real
awslambdaric processes), the fake Vanta API and a moto server. ``nox -s example`` runs it.

It invokes the function twice (a cold run of today's date, then a warm forced re-run),
prints the function's log, EMF and REPORT lines and a summary, then checks what landed in
S3 against the fake API's records, record by record and digest by digest. It exits 1 on
any mismatch. Nothing but 127.0.0.1 is reached.

    python examples/vanta_sync/run_local.py [--vulnerabilities N] [--remediations N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fake_vanta  # noqa: E402

SECRET_NAME = "vanta/api-credentials"
BUCKET = "vanta-sync-example"
DLQ = "vanta-vuln-sync-dlq"
FUNCTION = "vanta-vuln-sync"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "example",
    "AWS_SECRET_ACCESS_KEY": "example",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def verify(s3: Any, bucket: str, prefix: str, date: str, fake: Any) -> list[str]:
    """Everything wrong with the date in S3, compared with the fake API's records."""
    problems: list[str] = []
    try:
        manifest = json.loads(
            s3.get_object(Bucket=bucket, Key=f"{prefix}_runs/dt={date}/manifest.json")[
                "Body"
            ].read()
        )
    except Exception as exc:
        return [f"no manifest for {date}: {exc}"]
    for dataset in ("vulnerabilities", "remediations"):
        expected = fake.records(dataset)
        stored: list[dict[str, Any]] = []
        listed = {
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{prefix}{dataset}/dt={date}/"
            )
            for item in page.get("Contents", [])
        }
        entry = manifest["datasets"][dataset]
        named = {part["key"] for part in entry["parts"]}
        if listed != named:
            problems.append(f"{dataset}: objects {sorted(listed ^ named)} differ from the manifest")
        for part in entry["parts"]:
            body = s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read()
            if hashlib.sha256(body).hexdigest() != part["sha256"] or len(body) != part["bytes"]:
                problems.append(f"{part['key']}: digest or size differs from the manifest")
            lines = gzip.decompress(body).decode().splitlines()
            if len(lines) != part["records"]:
                problems.append(
                    f"{part['key']}: {len(lines)} records, manifest says {part['records']}"
                )
            stored += [json.loads(line) for line in lines]
        if entry["records"] != len(expected):
            problems.append(
                f"{dataset}: manifest counts {entry['records']}, the API has {len(expected)}"
            )
        if [r["id"] for r in stored] != [r["id"] for r in expected]:
            ids = [r["id"] for r in stored]
            problems.append(
                f"{dataset}: {len(ids)} stored ({len(set(ids))} distinct), "
                f"{len(expected)} expected: ids differ"
            )
        elif stored != expected:
            problems.append(f"{dataset}: record contents differ from the API's")
    return problems


def start_moto(stack: ExitStack) -> str:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def function_environment(moto_url: str, fake_url: str, **extra: str) -> dict[str, str]:
    return {
        **FAKE_AWS,
        "AWS_ENDPOINT_URL": moto_url,
        "VANTA_SECRET_NAME": SECRET_NAME,
        "S3_BUCKET_NAME": BUCKET,
        "S3_PREFIX": "vanta/",
        "VANTA_API_BASE": fake_url,
        "MAX_POOL_CONNECTIONS": "50",
        "LAMBDA_PERF_METRICS_NAMESPACE": "VantaSync",
        "LOG_LEVEL": "INFO",
        **extra,
    }


def create_resources(moto_url: str) -> str:
    """The secret, the bucket and the DLQ on the moto server; returns the DLQ's URL."""
    import boto3

    session = boto3.session.Session(**{k.lower(): v for k, v in FAKE_AWS.items() if k in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}, region_name="us-east-1")  # fmt: skip
    session.client("secretsmanager", endpoint_url=moto_url).create_secret(
        Name=SECRET_NAME,
        SecretString=json.dumps(
            {"client_id": fake_vanta.CLIENT_ID, "client_secret": fake_vanta.CLIENT_SECRET}
        ),
    )
    session.client("s3", endpoint_url=moto_url).create_bucket(Bucket=BUCKET)
    return str(session.client("sqs", endpoint_url=moto_url).create_queue(QueueName=DLQ)["QueueUrl"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Vanta sync example locally.")
    parser.add_argument("--vulnerabilities", type=int, default=5000)
    parser.add_argument("--remediations", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.update(FAKE_AWS)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    import boto3
    from rich.console import Console
    from rich.table import Table

    from lambda_perf.cli.bench import parse_report
    from lambda_perf.local import FunctionConfig, LocalLambda

    console = Console(width=120 if not sys.stdout.isatty() else None)
    lines: list[str] = []
    with ExitStack() as stack:
        moto_url = start_moto(stack)
        fake = fake_vanta.start(
            vulnerabilities=args.vulnerabilities, remediations=args.remediations
        )
        stack.callback(fake.stop)
        dlq_url = create_resources(moto_url)
        config = FunctionConfig.from_handler(
            "vanta_sync.handler.handler",
            HERE / "src",
            function_name=FUNCTION,
            memory=1536,
            timeout=900,
            dlq_url=dlq_url,
            environment=function_environment(moto_url, fake.url),
        )
        service = LocalLambda(config, log=lines.append)
        config.environment["AWS_ENDPOINT_URL_LAMBDA"] = service.endpoint_url  # continuations
        stack.enter_context(service)
        client = boto3.client("lambda", endpoint_url=service.endpoint_url, region_name="us-east-1")
        console.print(
            f"[bold]Vanta sync[/] on the local Lambda service {service.endpoint_url}; fake Vanta "
            f"API {fake.url} ({args.vulnerabilities:,} vulnerabilities, "
            f"{args.remediations:,} remediations); moto {moto_url}"
        )
        runs = []
        for label, event in (("cold", {}), ("warm, forced re-run", {"force": True})):
            started = time.perf_counter()
            response = client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read())
            runs.append(
                (label, payload, response.get("FunctionError"), time.perf_counter() - started)
            )
        for line in lines:
            text = line.split(" ", 2)[-1]
            if text.startswith(("{", "START", "END", "REPORT")):
                console.print(text, highlight=False, markup=False, soft_wrap=True)
        reports = [line.split(" ", 2)[-1] for line in lines if " REPORT RequestId:" in line]
        table = Table(title="Runs")
        for column in (
            "run",
            "status",
            "vulnerabilities",
            "remediations",
            "parts",
            "Duration ms",
            "Init ms",
        ):
            table.add_column(column)
        for (label, payload, error, _), report in zip(runs, reports, strict=False):
            fields = parse_report(report)
            table.add_row(
                label,
                str(payload.get("status", payload.get("errorType")))
                + (" (error)" if error else ""),
                str(payload.get("vulnerabilities", "-")),
                str(payload.get("remediations", "-")),
                str(payload.get("parts", "-")),
                f"{fields['duration_ms']:.2f}" if "duration_ms" in fields else "-",
                f"{fields['init_ms']:.2f}" if "init_ms" in fields else "-",
            )
        console.print(table)
        date = runs[0][1].get("date", "")
        s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
        stored = sum(
            item["Size"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="vanta/")
            for item in page.get("Contents", [])
        )
        console.print(f"S3: {stored:,} bytes under s3://{BUCKET}/vanta/")
        problems = [f"{label}: {error}" for label, payload, error, _ in runs if error]
        problems += verify(s3, BUCKET, "vanta/", date, fake)
    if problems:
        console.print("[bold red]MISMATCH[/]")
        for problem in problems:
            console.print(f"  {problem}", markup=False)
        return 1
    console.print(f"[bold green]OK[/]: S3 holds exactly the API's records for {date}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
