"""Fleet-wide breaker state: several breakers stand in for several Lambda environments."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from herd import herd
from lambda_perf import CircuitBreaker, CircuitOpenError, CircuitState, get_aws_client
from lambda_perf.breaker import DynamoDBStateStore, InMemoryStateStore
from lambda_perf.testing import FakeClock

TIMEOUT = 10.0
CACHE_TTL = 2.0


class Down(Exception):
    pass


def fleet(store: Any, fake: FakeClock, size: int = 4) -> list[CircuitBreaker]:
    return [
        CircuitBreaker(3, TIMEOUT, name="vanta-api", store=store, clock=fake) for _ in range(size)
    ]


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        with pytest.raises(Down):
            breaker.call(_raise_down)


def _raise_down() -> None:
    raise Down()


def exercise_fleet(store: Any, fake: FakeClock) -> None:
    """The fleet contract, for any store."""
    breakers = fleet(store, fake)
    calls: list[int] = []
    for b in breakers:
        assert b.call(calls.append, 1) is None  # healthy: everyone reads the store once
    trip(breakers[0])
    assert breakers[0].state is CircuitState.OPEN

    # Within cache_ttl every other environment rejects, without calling the function.
    fake.advance(CACHE_TTL)
    before = len(calls)
    for b in breakers[1:]:
        with pytest.raises(CircuitOpenError):
            b.call(calls.append, 1)
    assert len(calls) == before

    # After the timeout, eight callers across four environments: exactly one probe.
    fake.advance(TIMEOUT)
    assert herd([breakers[i % 4].call for i in range(8)]) == (1, 7)

    # The probe closed the circuit for everyone within cache_ttl.
    fake.advance(CACHE_TTL)
    for b in breakers:
        assert b.call(lambda: "ok") == "ok"
        assert b.state is CircuitState.CLOSED


def test_in_memory_store_fleet() -> None:
    fake = FakeClock(start=1_700_000_000.0)
    exercise_fleet(InMemoryStateStore(cache_ttl=CACHE_TTL, clock=fake), fake)


def test_healthy_path_reads_at_most_once_per_cache_ttl_and_never_writes() -> None:
    fake = FakeClock(start=1_700_000_000.0)
    store = InMemoryStateStore(cache_ttl=CACHE_TTL, clock=fake)
    breaker = CircuitBreaker(3, TIMEOUT, name="quiet", store=store, clock=fake)
    for _ in range(1000):
        breaker.call(lambda: None)
        fake.advance(0.01)  # ten seconds in all
    assert store.reads <= 10 / CACHE_TTL + 1
    assert store.writes == 0


def test_a_late_prober_loses_its_lease_to_another_environment() -> None:
    fake = FakeClock(start=1_700_000_000.0)
    store = InMemoryStateStore(cache_ttl=CACHE_TTL, clock=fake)
    a, b = fleet(store, fake, size=2)
    trip(a)
    fake.advance(TIMEOUT)
    with a:  # a holds the probe lease ...
        with pytest.raises(CircuitOpenError):
            b.call(lambda: None)
        fake.advance(TIMEOUT + 1)  # ... longer than its lease: b may probe now
        assert b.call(lambda: "b probed") == "b probed"
    assert store.read("vanta-api").state == "closed"


class OneRequestAtATime:
    """moto checks a write's condition and applies it without a lock, so two concurrent
    conditional writes can both pass; DynamoDB applies them atomically per item. This
    proxy sends one request at a time to give moto that guarantee (the requests still go
    over HTTP to the moto server)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return one_at_a_time


@pytest.fixture
def breaker_table(moto_server: str) -> Callable[[], Any]:
    client = get_aws_client("dynamodb", endpoint_url=moto_server)
    name = f"breakers-{id(client):x}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return lambda: (client, name)


def test_dynamodb_store_fleet_on_a_real_moto_server(breaker_table: Callable[[], Any]) -> None:
    client, table = breaker_table()
    fake = FakeClock(start=1_700_000_000.0)
    store = DynamoDBStateStore(
        table, client=OneRequestAtATime(client), cache_ttl=CACHE_TTL, clock=fake
    )
    exercise_fleet(store, fake)
    item = client.get_item(TableName=table, Key={"pk": {"S": "vanta-api"}})["Item"]
    assert item["state"]["S"] == "closed"
    assert int(item["version"]["N"]) >= 3  # open, half-open, closed: every write fenced
    assert int(item["expires_at"]["N"]) > fake()


def test_dynamodb_writes_are_fenced_by_version(breaker_table: Callable[[], Any]) -> None:
    client, table = breaker_table()
    fake = FakeClock(start=100.0)
    store = DynamoDBStateStore(table, client=client, clock=fake)
    assert store.trip("fenced", 0, 123.0) is True
    assert store.trip("fenced", 0, 456.0) is False  # a stale writer loses
    record = store.read("fenced")
    assert (record.state, record.version, record.open_until) == ("open", 1, 123.0)
    assert store.acquire_probe("fenced", 1, "me", 999.0) is False  # still open until 123
    fake.advance(30.0)
    assert store.acquire_probe("fenced", 1, "me", 999.0) is True  # open_until passed
    assert store.acquire_probe("fenced", 2, "you", 999.0) is False  # lease held until 999
    assert store.close("fenced", 2, "you") is False  # not the owner
    assert store.close("fenced", 2, "me") is True
    assert store.read("fenced").state == "closed"


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connections to it are refused


def test_store_failure_falls_back_to_local_state_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = get_aws_client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{unused_port()}",
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"total_max_attempts": 1}),
    )
    fake = FakeClock(start=1_700_000_000.0)
    store = DynamoDBStateStore("breakers", client=dead, cache_ttl=0.0, clock=fake)
    breaker = CircuitBreaker(2, TIMEOUT, name="fail-open", store=store, clock=fake)
    with caplog.at_level(logging.WARNING, logger="lambda_perf.breaker"):
        assert breaker.call(lambda: "served") == "served"  # the store is down: fail open
        for _ in range(2):
            with pytest.raises(Down):
                breaker.call(_raise_down)
        assert breaker.state is CircuitState.OPEN  # local rules still apply
        with pytest.raises(CircuitOpenError):
            breaker.call(lambda: None)
        fake.advance(TIMEOUT)
        assert breaker.call(lambda: "probe") == "probe"
    warnings = [r for r in caplog.records if "state store unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert "fail-open" in warnings[0].getMessage()


def test_store_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="table_name"):
        DynamoDBStateStore("")
    with pytest.raises(ValueError, match="cache_ttl"):
        DynamoDBStateStore("t", cache_ttl=-1)
    with pytest.raises(ValueError, match="cache_ttl"):
        InMemoryStateStore(cache_ttl=-1)


def test_force_open_and_reset_reach_the_fleet(breaker_table: Callable[[], Any]) -> None:
    client, table = breaker_table()
    fake = FakeClock(start=1_700_000_000.0)
    store = DynamoDBStateStore(table, client=client, cache_ttl=CACHE_TTL, clock=fake)
    a, b = fleet(store, fake, size=2)
    assert b.call(lambda: "ok") == "ok"
    a.force_open()
    fake.advance(CACHE_TTL)
    with pytest.raises(CircuitOpenError):
        b.call(lambda: None)  # b read the shared OPEN
    a.reset()
    assert store.read("vanta-api").state == "closed"
    fake.advance(TIMEOUT)
    calls: list[int] = []
    assert b.call(calls.append, 1) is None  # b asks the store, finds it closed: no probe
    assert b.state is CircuitState.CLOSED
    assert calls == [1]


def test_a_second_environment_tripping_late_does_not_reopen_the_record() -> None:
    fake = FakeClock(start=1_700_000_000.0)
    store = InMemoryStateStore(cache_ttl=CACHE_TTL, clock=fake)
    a, b = fleet(store, fake, size=2)
    a.call(lambda: None)
    b.call(lambda: None)  # both have read version 0
    trip(a)
    opened = store.read("vanta-api")
    fake.advance(1.0)
    trip(b)  # b's write is fenced out by the version a bumped
    again = store.read("vanta-api")
    assert (again.version, again.open_until) == (opened.version, opened.open_until)
    assert b.state is CircuitState.OPEN  # locally it opened all the same


# --- issue 9: a hung table is backed off; the sync cadence ignores wall-clock steps ------


def test_a_hung_table_costs_at_most_one_timeout_per_backoff_interval(
    broken_endpoint: Callable[[str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    from lambda_perf.breaker import _core

    hung = broken_endpoint("hang")
    client = get_aws_client(
        "dynamodb",
        endpoint_url=hung.url,
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"total_max_attempts": 1}),
    )
    fake = FakeClock(start=1_700_000_000.0)
    store = DynamoDBStateStore("breakers", client=client, cache_ttl=CACHE_TTL, clock=fake)
    breaker = CircuitBreaker(3, TIMEOUT, name="hung", store=store, clock=fake)
    with caplog.at_level(logging.WARNING, logger="lambda_perf.breaker"):
        for second in range(120):  # two minutes of traffic, one call a second
            fake.advance(1.0)
            if second % 30 == 29:  # and now and then a trip
                with contextlib.suppress(Down, CircuitOpenError):
                    trip(breaker)
            with contextlib.suppress(CircuitOpenError):
                breaker.call(lambda: None)
    # Backoff 1, 2, 4, 8, 16, 32, 60 s: a handful of attempts in 120 s, not one per
    # cache_ttl (60) plus three per trip.
    assert 1 <= hung.connections <= 8, hung.connections
    assert breaker._store_retry_at - fake() <= _core.STORE_BACKOFF_CAP
    assert len([r for r in caplog.records if "state store unavailable" in r.getMessage()]) == 1


def test_the_sync_cadence_follows_the_monotonic_clock_not_the_wall_clock() -> None:
    wall = FakeClock(start=1_700_000_000.0)  # the store's epoch clock
    mono = FakeClock(start=500.0)  # each breaker's monotonic clock
    store = InMemoryStateStore(cache_ttl=CACHE_TTL, clock=wall)
    tripper = CircuitBreaker(3, TIMEOUT, name="stepped", store=store, clock=mono)
    other = CircuitBreaker(3, TIMEOUT, name="stepped", store=store, clock=mono)
    calls: list[int] = []
    other.call(calls.append, 1)  # healthy: syncs once
    wall.now -= 3600.0  # the wall clock steps back an hour
    trip(tripper)  # the fleet record says OPEN
    reached = 0
    for _ in range(int(TIMEOUT) - 1):  # traffic on the other environment while OPEN
        mono.advance(1.0)
        wall.advance(1.0)
        before = len(calls)
        with contextlib.suppress(CircuitOpenError):
            other.call(calls.append, 1)
        reached += len(calls) - before
    assert reached <= 1  # at most the calls within the first cache_ttl
    assert other.state is CircuitState.OPEN
