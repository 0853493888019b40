"""A tour of what lambda-perf offers so far, against a local moto server (no AWS account).

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
)

from lambda_perf import LazyImport, get_aws_client, prime_clients, resolve_lazy_imports

# Module level, as in a Lambda function: defining these imports nothing.
boto3 = LazyImport("boto3")
botocore_config = LazyImport("botocore.config")


def handler(event: dict[str, str], context: object, endpoint: str) -> dict[str, object]:
    """What a warm invocation does: take the pooled client, use it."""
    s3 = get_aws_client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
    body = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read()
    return {"stored": body.decode(), "client_id": id(s3)}


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
    try:
        print(f"   boto3.__version__ (first access loads it): {boto3.__version__}")
        print(f"   it is now the real module: {type(boto3).__name__}")
        print(f"   resolve_lazy_imports() for the init phase -> {resolve_lazy_imports()}")

        print("\n2. get_aws_client, against moto at", endpoint)
        (s3,) = prime_clients("s3", endpoint_url=endpoint)  # in init, ahead of requests
        s3.create_bucket(Bucket="lambda-perf-example")

        ids = set()
        for i in range(3):
            result = handler(
                {"bucket": "lambda-perf-example", "key": f"k{i}", "body": f"invocation {i}"},
                None,
                endpoint,
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
            f"   pool size from MAX_POOL_CONNECTIONS (default 50): "
            f"{tuned.meta.config.max_pool_connections}"
        )
    finally:
        server.stop()
    print("\nDone: everything ran against 127.0.0.1.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
