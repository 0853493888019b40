"""get_secret: a cache hit, against the floor, Powertools and aws-secretsmanager-caching."""

from __future__ import annotations

import os
import time

from aws_lambda_powertools.utilities import parameters
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig
from moto.server import ThreadedMotoServer

from bench.harness import Table, Target, compare_statements
from lambda_perf import clear_client_cache, get_aws_client, get_secret

NAME = "bench/db-password"


def run(repeats: int) -> list[Table]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint  # every client of this suite talks to moto
    clear_client_cache()
    try:
        client = get_aws_client("secretsmanager")
        client.create_secret(Name=NAME, SecretString="hunter2")

        store = {NAME: (time.monotonic(), "hunter2")}
        monotonic = time.monotonic

        def floor(  # get_secret's signature, one dict lookup and one clock read
            name: str,
            *,
            max_age: float = 300.0,
            transform: str | None = None,
            force_fetch: bool = False,
            version_stage: str = "AWSCURRENT",
        ) -> object:
            fetched_at, value = store[name]
            if monotonic() - fetched_at < max_age:
                return value
            raise LookupError(name)

        # parameters.get_secret() uses the default provider; give it the moto client.
        parameters.base.DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(
            boto3_client=client
        )
        aws_cache = SecretCache(config=SecretCacheConfig(), client=client)
        for warm in (
            lambda: get_secret(NAME),
            lambda: parameters.get_secret(NAME, max_age=300),
            lambda: aws_cache.get_secret_string(NAME),
        ):
            assert warm() == "hunter2"

        table = compare_statements(
            "get_secret: a cache hit",
            {
                "floor: dict lookup + monotonic() behind get_secret's signature": "floor(NAME)",
                "lambda_perf.get_secret": "get_secret(NAME)",
                "Powertools parameters.get_secret(name, max_age=300)": (
                    "parameters.get_secret(NAME, max_age=300)"
                ),
                "aws-secretsmanager-caching SecretCache.get_secret_string": (
                    "aws_cache.get_secret_string(NAME)"
                ),
            },
            namespace={
                "NAME": NAME,
                "floor": floor,
                "get_secret": get_secret,
                "parameters": parameters,
                "aws_cache": aws_cache,
            },
            floor="floor: dict lookup + monotonic() behind get_secret's signature",
            repeats=repeats,
            targets=[
                Target("lambda_perf.get_secret", 1.5),
                Target(
                    "lambda_perf.get_secret",
                    20,
                    versus="Powertools parameters.get_secret(name, max_age=300)",
                    invert=True,
                ),
                Target(
                    "lambda_perf.get_secret",
                    300,
                    versus="aws-secretsmanager-caching SecretCache.get_secret_string",
                    invert=True,
                ),
            ],
            notes=[
                "Every cache was filled once from a local moto server; the rows time hits only.",
                "A lambda_perf hit is one dict lookup and one monotonic clock read: no lock, "
                "no copy, no parse (the cache holds the transformed value).",
            ],
        )
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
        clear_client_cache()
        server.stop()
    return [table]
