"""Shared circuit state for a fleet of Lambda environments.

A store holds one record per breaker name: its state, a version that every write checks
and bumps (fenced writes), when an open circuit may be probed (``open_until``), and who
holds the probe lease until when. Times are epoch seconds, as they cross processes.

* :class:`DynamoDBStateStore` keeps the records in a DynamoDB table, with conditional
  writes, so one environment's OPEN is seen by all and exactly one of them probes.
* :class:`InMemoryStateStore` has the same conditional semantics in one process, for
  tests and for several breakers standing in for several environments.
"""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["DynamoDBStateStore", "InMemoryStateStore", "SharedState"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
RECORD_LIFETIME = 7 * 24 * 3600.0  # records expire (DynamoDB TTL) a week after the last write


class SharedState:
    """One breaker's shared record, as read from a store."""

    __slots__ = ("lease_until", "open_until", "owner", "state", "version")

    def __init__(
        self,
        state: str = CLOSED,
        version: int = 0,
        open_until: float = 0.0,
        lease_until: float = 0.0,
        owner: str = "",
    ) -> None:
        self.state = state
        self.version = version
        self.open_until = open_until
        self.lease_until = lease_until
        self.owner = owner

    def probe_available(self, now: float) -> bool:
        """True if a caller may now take the probe lease."""
        if self.state == OPEN:
            return now >= self.open_until
        return self.state == HALF_OPEN and now >= self.lease_until

    def __repr__(self) -> str:
        return (
            f"SharedState({self.state}, version={self.version}, open_until={self.open_until:.3f}, "
            f"lease_until={self.lease_until:.3f}, owner={self.owner!r})"
        )


class InMemoryStateStore:
    """Conditional shared state in this process (tests; breakers standing in for hosts)."""

    def __init__(self, *, cache_ttl: float = 2.0, clock: Callable[[], float] | None = None):
        if cache_ttl < 0:
            raise ValueError(f"InMemoryStateStore: cache_ttl must be >= 0, got {cache_ttl!r}")
        self.cache_ttl = float(cache_ttl)
        self.clock = clock or time.time
        self._records: dict[str, SharedState] = {}
        self._lock = threading.Lock()
        self.reads = 0
        self.writes = 0

    def read(self, name: str) -> SharedState:
        with self._lock:
            self.reads += 1
            record = self._records.get(name)
            if record is None:
                return SharedState()
            return SharedState(
                record.state, record.version, record.open_until, record.lease_until, record.owner
            )

    def _write(self, name: str, expected_version: int, new: SharedState) -> bool:
        # Must hold the lock. A missing record is version 0, closed.
        current = self._records.get(name, SharedState())
        if current.version != expected_version:
            return False
        self.writes += 1
        self._records[name] = new
        return True

    def trip(self, name: str, version: int, open_until: float) -> bool:
        with self._lock:
            return self._write(name, version, SharedState(OPEN, version + 1, open_until))

    def acquire_probe(self, name: str, version: int, owner: str, lease_until: float) -> bool:
        with self._lock:
            current = self._records.get(name, SharedState())
            if current.version != version or not current.probe_available(self.clock()):
                return False
            new = SharedState(HALF_OPEN, version + 1, current.open_until, lease_until, owner)
            return self._write(name, version, new)

    def close(self, name: str, version: int, owner: str) -> bool:
        with self._lock:
            current = self._records.get(name, SharedState())
            if current.owner != owner:
                return False
            return self._write(name, version, SharedState(CLOSED, version + 1))

    def force(self, name: str, state: str, open_until: float = 0.0) -> None:
        with self._lock:
            version = self._records.get(name, SharedState()).version
            self.writes += 1
            self._records[name] = SharedState(state, version + 1, open_until)


class DynamoDBStateStore:
    """Breaker state shared through a DynamoDB table.

    The table has a string partition key ``pk`` and, for expiry, a TTL attribute
    ``expires_at`` (see docs/circuit-breaker.md for the template). Every write is
    conditional on the version last read. The default client uses tight timeouts and
    no botocore retries, so a slow or failing table costs little: the breaker then falls
    back to its local state.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        cache_ttl: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(table_name, str) or not table_name:
            raise ValueError(
                f"DynamoDBStateStore: table_name must be a table name, got {table_name!r}"
            )
        if cache_ttl < 0:
            raise ValueError(f"DynamoDBStateStore: cache_ttl must be >= 0, got {cache_ttl!r}")
        self.table_name = table_name
        self.cache_ttl = float(cache_ttl)
        self.clock = clock or time.time
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from botocore.config import Config

            from lambda_perf.clients import get_aws_client

            self._client = get_aws_client(
                "dynamodb",
                config=Config(
                    connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1}
                ),
            )
        return self._client

    def read(self, name: str) -> SharedState:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": name}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return SharedState()
        return SharedState(
            item["state"]["S"],
            int(item["version"]["N"]),
            float(item.get("open_until", {}).get("N", "0")),
            float(item.get("lease_until", {}).get("N", "0")),
            item.get("owner", {}).get("S", ""),
        )

    def _expires_at(self) -> dict[str, str]:
        return {"N": str(int(self.clock() + RECORD_LIFETIME))}

    def _conditional(self, operation: str, **request: Any) -> bool:
        """Run a conditional write; False if its condition did not hold."""
        try:
            getattr(self.client, operation)(TableName=self.table_name, **request)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _put_record(
        self, name: str, record: SharedState, condition: str | None = None, **values: Any
    ) -> bool:
        item = {
            "pk": {"S": name},
            "state": {"S": record.state},
            "version": {"N": str(record.version)},
            "open_until": {"N": repr(record.open_until)},
            "lease_until": {"N": repr(record.lease_until)},
            "owner": {"S": record.owner},
            "expires_at": self._expires_at(),
        }
        request: dict[str, Any] = {"Item": item}
        if condition is not None:
            request["ConditionExpression"] = condition
            request["ExpressionAttributeNames"] = {
                k: v for k, v in _NAMES.items() if k in condition
            }
            request["ExpressionAttributeValues"] = values
        return self._conditional("put_item", **request)

    def trip(self, name: str, version: int, open_until: float) -> bool:
        return self._put_record(
            name,
            SharedState(OPEN, version + 1, open_until),
            "attribute_not_exists(#pk) OR #v = :v",
            **{":v": {"N": str(version)}},
        )

    def acquire_probe(self, name: str, version: int, owner: str, lease_until: float) -> bool:
        return self._conditional(
            "update_item",
            Key={"pk": {"S": name}},
            UpdateExpression=(
                "SET #s = :half, #v = :next, #l = :lease, #o = :owner, #e = :expires"
            ),
            ConditionExpression=(
                "#v = :v AND ((#s = :open AND #u <= :now) OR (#s = :half AND #l <= :now))"
            ),
            ExpressionAttributeNames={
                k: v for k, v in _NAMES.items() if k in ("#s", "#v", "#l", "#o", "#e", "#u")
            },
            ExpressionAttributeValues={
                ":v": {"N": str(version)},
                ":next": {"N": str(version + 1)},
                ":half": {"S": HALF_OPEN},
                ":open": {"S": OPEN},
                ":lease": {"N": repr(lease_until)},
                ":owner": {"S": owner},
                ":now": {"N": repr(self.clock())},
                ":expires": self._expires_at(),
            },
        )

    def close(self, name: str, version: int, owner: str) -> bool:
        return self._put_record(
            name,
            SharedState(CLOSED, version + 1),
            "#v = :v AND #o = :owner",
            **{":v": {"N": str(version)}, ":owner": {"S": owner}},
        )

    def force(self, name: str, state: str, open_until: float = 0.0) -> None:
        current = self.read(name)
        self._put_record(name, SharedState(state, current.version + 1, open_until))


# Attribute names go through placeholders: STATE and OWNER are DynamoDB reserved words.
_NAMES = {
    "#pk": "pk",
    "#s": "state",
    "#v": "version",
    "#u": "open_until",
    "#l": "lease_until",
    "#o": "owner",
    "#e": "expires_at",
}


def _is_condition_failure(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return (
        isinstance(response, dict)
        and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )
