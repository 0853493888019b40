"""Shared fixtures: a real moto server on loopback, and an AWS environment that reaches
nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from broken_endpoint import BrokenEndpoint

# Shared CI machines stall now and then; a slow example is not a failing one.
settings.register_profile(
    "lambda-perf", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("lambda-perf")

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never probe the instance metadata service
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so no test can reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MAX_POOL_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    """Each test starts and ends with an empty client pool (environment is read anew)."""
    from lambda_perf import clear_client_cache

    clear_client_cache()
    yield
    clear_client_cache()


@pytest.fixture(autouse=True)
def full_retry_budget() -> None:
    """The process-wide retry budget starts full in every test."""
    from lambda_perf.retry import DEFAULT_BUDGET

    DEFAULT_BUDGET.reset()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A real moto server over HTTP on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # a free port
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def broken_endpoint() -> Iterator[Callable[[str], BrokenEndpoint]]:
    made: list[BrokenEndpoint] = []

    def make(mode: str) -> BrokenEndpoint:
        made.append(BrokenEndpoint(mode))
        return made[-1]

    try:
        yield make
    finally:
        for endpoint in made:
            endpoint.stop()
