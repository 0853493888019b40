"""A tour of lambda-perf against a local moto server (no AWS account needed).

Run it with ``nox -s example``, or ``python examples/quickstart.py`` where lambda-perf,
boto3 and ``moto[server]`` are installed. It talks to nothing but 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import sys

# Fake credentials and a region: nothing here may reach a real AWS account.
os.environ.update(
    AWS_ACCESS_KEY_ID="example",
    AWS_SECRET_ACCESS_KEY="example",
    AWS_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
    LAMBDA_PERF_METRICS_NAMESPACE="QuickstartDemo",
)

from lambda_perf import (
    CircuitBreaker,
    CircuitOpenError,
    LazyImport,
    get_aws_client,
    get_logger,
    get_secret,
    invalidate,
    lambda_handler,
    metrics,
    prime_clients,
    resolve_lazy_imports,
    retry_with_backoff,
)

# Module level, as in a Lambda function: defining these imports nothing.
boto3 = LazyImport("boto3")
botocore_config = LazyImport("botocore.config")
log = get_logger("quickstart")


class DemoContext:
    """What Lambda passes as ``context``, reduced to what the demo needs."""

    function_name = "quickstart"
    aws_request_id = "demo-request-1"
    memory_limit_in_mb = 256

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def store(event: dict[str, str], endpoint: str) -> dict[str, object]:
    """What a warm invocation does: take the pooled client, use it."""
    s3 = get_aws_client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
    body = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read()
    return {"stored": body.decode(), "client_id": id(s3)}


def show_clients(endpoint: str) -> None:
    print("\n2. get_aws_client, against moto at", endpoint)
    (s3,) = prime_clients("s3", endpoint_url=endpoint)  # in init, ahead of requests
    s3.create_bucket(Bucket="lambda-perf-example")
    ids = set()
    for i in range(3):
        result = store(
            {"bucket": "lambda-perf-example", "key": f"k{i}", "body": f"invocation {i}"}, endpoint
        )
        ids.add(result["client_id"])
        print(f"   invocation {i}: stored {result['stored']!r}")
    print(f"   distinct clients used by 3 invocations: {len(ids)}")
    config = botocore_config.Config(connect_timeout=2)
    tuned = get_aws_client("s3", endpoint_url=endpoint, config=config)
    again = get_aws_client(
        "s3", endpoint_url=endpoint, config=botocore_config.Config(connect_timeout=2)
    )
    print(f"   equal Config objects share a client: {tuned is again}")
    print(
        f"   pool size (MAX_POOL_CONNECTIONS, default 50): {tuned.meta.config.max_pool_connections}"
    )


def show_secrets() -> None:
    print("\n3. get_secret: cached, single-flight, stale on error")
    secretsmanager = get_aws_client("secretsmanager")
    secretsmanager.create_secret(Name="demo/api-key", SecretString='{"key": "v1"}')
    calls: list[str] = []
    secretsmanager.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("call")
    )
    for _ in range(1000):
        value = get_secret("demo/api-key", transform="json")
    print(f"   1000 reads -> {value} with {len(calls)} GetSecretValue call(s)")
    secretsmanager.put_secret_value(SecretId="demo/api-key", SecretString='{"key": "v2"}')
    invalidate("demo/api-key")  # what to do when a downstream API answers 401
    print(f"   after rotation and invalidate(): {get_secret('demo/api-key', transform='json')}")


def show_retry_and_breaker() -> None:
    print("\n4. retry_with_backoff and CircuitBreaker")
    attempts: list[int] = []

    @retry_with_backoff(
        max_retries=3,
        base_delay=0.05,
        on_retry=lambda state: print(
            f"   attempt {state.attempt} failed ({state.exception!r}); retrying in "
            f"{state.delay * 1000:.0f} ms"
        ),
    )
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("connection reset")
        return "answered"

    print(f"   flaky() -> {flaky()!r} after {len(attempts)} attempts")

    breaker = CircuitBreaker(failure_threshold=2, timeout=30.0, name="vanta-api")
    called: list[int] = []

    @breaker
    def vanta_down() -> None:
        called.append(1)
        raise TimeoutError("Vanta API did not answer")

    for _ in range(5):
        try:
            vanta_down()
        except TimeoutError:
            pass
        except CircuitOpenError as error:
            print(f"   fails fast: {error.name} open, next probe in {error.retry_after:.0f} s")
            break
    print(f"   the dependency was called {len(called)} times, not 5; state {breaker.state.name}")


@lambda_handler(service="quickstart")
def handler(event: dict[str, str], context: object) -> dict[str, str]:
    log.append_keys(customer=event["customer"])
    log.info("syncing", extra={"api_token": "never printed"})
    metrics.add_metric("Synced", 3)
    return {"status": "ok"}


def show_handler() -> None:
    print("\n5. lambda_handler: one JSON log line and EMF metrics per invocation")
    for customer in ("acme", "globex"):
        handler({"customer": customer}, DemoContext())


def main() -> int:
    print("1. LazyImport")
    print(f"   boto3 imported after definition? {'boto3' in sys.modules}")
    print(f"   repr does not import it: {boto3!r}")

    from moto.server import ThreadedMotoServer  # imports boto3 itself, so only now

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # a free port
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint  # every other client goes to moto too
    try:
        print(f"   boto3.__version__ (first access loads it): {boto3.__version__}")
        print(f"   it is now the real module: {type(boto3).__name__}")
        print(f"   resolve_lazy_imports() for the init phase -> {resolve_lazy_imports()}")
        show_clients(endpoint)
        show_secrets()
        show_retry_and_breaker()
        show_handler()
    finally:
        server.stop()
    print("\nDone: everything ran against 127.0.0.1.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
