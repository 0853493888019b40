"""Pooled boto3 clients, created once per process and reused across warm invocations.

Two caches sit in front of each other:

* a C-level ``functools.lru_cache`` keyed by the raw call arguments makes a hit cost one
  hashed lookup, with no lock and no Python frame of ours;
* on a miss, the arguments are made canonical (region resolved from the environment,
  ``Config`` objects compared by their options) and the client is looked up, or created
  once under a lock, in a second dict. Equal requests therefore share one client however
  they were spelled.

boto3 and botocore are imported on the first miss, never at ``import lambda_perf``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import threading

from ._errors import ConfigurationError, MissingRegionError
from ._snapstart import register_hooks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Literal, overload

    import boto3
    from botocore.client import BaseClient
    from botocore.config import Config
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

__all__ = ["clear_client_cache", "get_aws_client", "prime_clients"]

MAX_POOL_CONNECTIONS_ENV = "MAX_POOL_CONNECTIONS"
DEFAULT_MAX_POOL_CONNECTIONS = 50
FRONT_CACHE_SIZE = 256

_session: boto3.session.Session | None = None
_default_config: Config | None = None
_clients: dict[tuple[Any, ...], BaseClient] = {}
# One lock serialises session and client creation: botocore sessions are not thread-safe,
# and creation is CPU-bound under the GIL, so parallel creation would gain nothing.
_create_lock = threading.RLock()


_gc_pause_depth = 0  # > 0 while a client is being built with the GC paused
_gc_enabled_before_pause = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a client is built.

    Building the first client allocates enough to trigger a full collection part-way
    through; pausing cuts the first creation by about a third (see bench/results.md).
    A child forked during the pause gets the GC state from before it (see
    ``_after_fork_in_child``).
    """
    global _gc_pause_depth, _gc_enabled_before_pause
    if _gc_pause_depth == 0:
        _gc_enabled_before_pause = gc.isenabled()
    _gc_pause_depth += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pause_depth -= 1
        if _gc_pause_depth == 0 and _gc_enabled_before_pause:
            gc.enable()


def _read_max_pool_connections() -> int:
    raw = os.environ.get(MAX_POOL_CONNECTIONS_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_POOL_CONNECTIONS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(
            f"environment variable {MAX_POOL_CONNECTIONS_ENV}={raw!r} is not a positive "
            f"integer: set it to the number of HTTP connections each client may keep open "
            f"(default {DEFAULT_MAX_POOL_CONNECTIONS}), or unset it"
        )
    return value


def _get_session() -> boto3.session.Session:
    """The process-wide session, created once. Must be called under ``_create_lock``."""
    global _session, _default_config
    if _session is None:
        import boto3.session
        from botocore.config import Config

        _default_config = Config(
            max_pool_connections=_read_max_pool_connections(),
            retries={"mode": "standard"},
        )
        _session = boto3.session.Session()
    return _session


def _options(config: Config) -> dict[str, Any]:
    """The options a ``Config`` was built with (``Config`` itself compares by identity)."""
    options: dict[str, Any] = config._user_provided_options  # type: ignore[attr-defined]
    return options


def _merged_config(config: Config | None) -> Config:
    assert _default_config is not None
    if config is None:
        return _default_config
    merged = _default_config.merge(config)
    user_retries = _options(config).get("retries")
    if user_retries is not None:  # keep mode=standard unless the user chose a mode
        retries = {**_options(_default_config)["retries"], **user_retries}
        setattr(merged, "retries", retries)  # noqa: B010 (not in the stubs)
        _options(merged)["retries"] = retries
    return merged


def _freeze(value: Any) -> Any:
    """A hashable stand-in for ``value`` that compares equal for equal contents."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_freeze(v) for v in value), key=repr)))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def _resolve_region(
    service_name: str,
    region_name: str | None,
    config: Config | None,
    session: boto3.session.Session,
) -> str:
    """boto3's precedence: the argument, then the ``Config``'s, then the environment."""
    region = (
        region_name
        or (_options(config).get("region_name") if config is not None else None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or session.region_name
    )
    if not region:
        raise MissingRegionError(
            f"no AWS region for the {service_name!r} client: pass region_name=..., or set "
            f"the AWS_REGION (or AWS_DEFAULT_REGION) environment variable; Lambda sets "
            f"AWS_REGION itself"
        )
    return region


def _get_or_create(
    service_name: str,
    *,
    region_name: str | None = None,
    endpoint_url: str | None = None,
    config: Config | None = None,
    **client_kwargs: Any,
) -> BaseClient:
    """Return a pooled boto3 client for ``service_name``.

    Calls with equal arguments return the same client for the life of the process (or
    until :func:`clear_client_cache`). ``region_name`` defaults to ``AWS_REGION``, then
    ``AWS_DEFAULT_REGION``. ``config`` is merged over the default
    ``Config(max_pool_connections=$MAX_POOL_CONNECTIONS or 50, retries={"mode": "standard"})``.
    Other keyword arguments go to ``boto3.session.Session.client``.
    """
    with _create_lock, _gc_paused():
        session = _get_session()
        region = _resolve_region(service_name, region_name, config, session)
        merged = _merged_config(config)
        key = (
            service_name,
            region,
            endpoint_url,
            # The region is in the key already, however it was given.
            _freeze({k: v for k, v in _options(merged).items() if k != "region_name"}),
            _freeze(client_kwargs),
        )
        client = _clients.get(key)
        if client is None:
            client = session.client(
                service_name,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=endpoint_url,
                config=merged,
                **client_kwargs,
            )
            _clients[key] = client
        if _front.cache_info().currsize >= FRONT_CACHE_SIZE:
            _front.cache_clear()  # many one-off argument spellings: start the front afresh
        return client


# The hit path: C-level, keyed by the raw arguments, in front of the canonical cache.
# Unbounded lru_cache is the cheapest C wrapper (no recency list); the slow path above
# bounds its size instead.
_front = functools.lru_cache(maxsize=None)(_get_or_create)
_front.__name__ = _front.__qualname__ = "get_aws_client"

if TYPE_CHECKING:

    @overload
    def get_aws_client(
        service_name: Literal["s3"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> S3Client: ...
    @overload
    def get_aws_client(
        service_name: Literal["secretsmanager"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> SecretsManagerClient: ...
    @overload
    def get_aws_client(
        service_name: Literal["ssm"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> SSMClient: ...
    @overload
    def get_aws_client(
        service_name: Literal["sqs"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> SQSClient: ...
    @overload
    def get_aws_client(
        service_name: Literal["lambda"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> LambdaClient: ...
    @overload
    def get_aws_client(
        service_name: Literal["cloudwatch"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> CloudWatchClient: ...
    @overload
    def get_aws_client(
        service_name: Literal["dynamodb"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> DynamoDBClient: ...
    @overload
    def get_aws_client(
        service_name: str,
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: Config | None = ...,
        **client_kwargs: Any,
    ) -> BaseClient: ...
    def get_aws_client(
        service_name: str,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        config: Config | None = None,
        **client_kwargs: Any,
    ) -> BaseClient: ...

else:
    get_aws_client = _front


def prime_clients(*service_names: str, **common_kwargs: Any) -> list[BaseClient]:
    """Create the clients for ``service_names`` now, for the init phase; returns them in order."""
    return [get_aws_client(name, **common_kwargs) for name in service_names]


def clear_client_cache() -> None:
    """Forget every pooled client and the shared session.

    Environment settings (``AWS_REGION``, ``MAX_POOL_CONNECTIONS``) are read again on the
    next call. Clients already handed out keep working.
    """
    global _session, _default_config
    with _create_lock:
        _front.cache_clear()
        _clients.clear()
        _session = None
        _default_config = None


def _drop_idle_connections() -> None:
    """Close every pooled client's idle HTTP connections (after a SnapStart restore they
    are stale); the clients open new ones on their next request."""
    for client in list(_clients.values()):
        http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
        close = getattr(http_session, "close", None)
        if close is not None:
            close()


register_hooks()  # under SnapStart: drop the snapshot's connections after each restore


def _after_fork_in_child() -> None:
    # The parent's connections and locks must not be shared with a child process.
    global _create_lock, _gc_pause_depth
    _create_lock = threading.RLock()  # the parent's may have been held while forking
    if _gc_pause_depth:  # forked while another thread built a client: undo its pause
        _gc_pause_depth = 0
        if _gc_enabled_before_pause:
            gc.enable()
    clear_client_cache()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
