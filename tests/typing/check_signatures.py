"""Checked by ``nox -s typing`` (mypy --strict), never run: decorators keep signatures."""

from __future__ import annotations

from typing_extensions import assert_type

from lambda_perf import CircuitBreaker, get_aws_client, retry_with_backoff, ttl_cache


@retry_with_backoff
def bare(x: int, *, label: str = "") -> str:
    return f"{label}{x}"


@retry_with_backoff(max_retries=5, retry_on="aws", deadline=None)
def configured(items: list[int]) -> int:
    return sum(items)


@retry_with_backoff(retry_if_result=lambda r: r is None)
async def fetch(url: str) -> bytes | None:
    return None


assert_type(bare(1, label="a"), str)
assert_type(configured([1, 2]), int)
bare("1")  # type: ignore[arg-type]
configured(items=[1], extra=True)  # type: ignore[call-arg]


async def use() -> None:
    assert_type(await fetch("u"), bytes | None)


def clients() -> None:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    assert_type(get_aws_client("s3"), S3Client)
    assert_type(get_aws_client("dynamodb", region_name="eu-west-1"), DynamoDBClient)


breaker = CircuitBreaker(3, 10.0)


@breaker
def guarded(x: int, *, label: str = "") -> str:
    return f"{label}{x}"


@breaker
async def guarded_async(x: int) -> float:
    return x / 2


assert_type(guarded(1, label="a"), str)
assert_type(breaker.call(guarded, 2), str)
guarded("1")  # type: ignore[arg-type]


async def use_breaker() -> None:
    assert_type(await guarded_async(3), float)


@ttl_cache(60.0)
def cached_config(env: str) -> dict[str, int]:
    return {}


assert_type(cached_config("prod"), dict[str, int])
