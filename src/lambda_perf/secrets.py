"""Secrets Manager secrets and SSM parameters, cached in process.

A hit is a dict lookup and one monotonic clock read. Values come from the pooled
``get_aws_client`` clients, or, with ``LAMBDA_PERF_SECRETS_SOURCE=extension``, from the AWS
Parameters and Secrets Lambda Extension on localhost. Values never appear in a repr, a
log line or an exception message of ours.
"""

from __future__ import annotations

import math
import os
import time

from ._errors import ConfigurationError, LambdaPerfError, SecretFetchError
from .aws_errors import is_retryable_aws_error
from .cache import TTLCache
from .context import get_lambda_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

__all__ = ["configure_secrets", "get_parameter", "get_secret", "invalidate"]

SOURCE_ENV = "LAMBDA_PERF_SECRETS_SOURCE"
EXTENSION_PORT_ENV = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"  # the extension's own setting
DEFAULT_EXTENSION_PORT = 2773
TRANSFORMS = (None, "json", "binary")

_monotonic = time.monotonic

# How long one fetch may take: botocore's defaults (60 s read timeout, 3 attempts) would
# let a hung endpoint block a caller for three minutes.
CONNECT_TIMEOUT_ENV = "LAMBDA_PERF_SECRETS_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "LAMBDA_PERF_SECRETS_READ_TIMEOUT"
MAX_ATTEMPTS_ENV = "LAMBDA_PERF_SECRETS_MAX_ATTEMPTS"
DEFAULT_CONNECT_TIMEOUT = 1.0
DEFAULT_READ_TIMEOUT = 2.0
DEFAULT_MAX_ATTEMPTS = 2
DEADLINE_RESERVE = 0.1  # seconds left to the handler after a fetch cut short by the deadline
MIN_FETCH_TIME = 0.25  # with less than this left in the invocation, do not start a fetch
_TIMEOUT_STEP = 0.25  # timeouts cut by the deadline are rounded down to this (few clients)


class _FetchLimits:
    __slots__ = ("connect_timeout", "max_attempts", "read_timeout")

    def __init__(self, connect_timeout: float, read_timeout: float, max_attempts: int) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts

    def worst_case(self) -> float:
        """Every attempt timing out, plus botocore's standard-mode sleeps between them
        (up to 2**(n-1) s before retry n, capped at 20 s)."""
        sleeps = sum(min(20.0, 2.0 ** (n - 1)) for n in range(1, self.max_attempts))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + sleeps


_limits: _FetchLimits | None = None  # read from the environment on first use


def _positive_seconds(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _attempts(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _from_environment(name: str, default: float, parse: Callable[[str], float]) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name}={raw!r} is not a number: set it to a positive "
            f"number (default {default:g}), or unset it"
        ) from None


def _fetch_limits() -> _FetchLimits:
    global _limits
    if _limits is None:
        _limits = _FetchLimits(
            _positive_seconds(
                CONNECT_TIMEOUT_ENV,
                _from_environment(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, float),
            ),
            _positive_seconds(
                READ_TIMEOUT_ENV, _from_environment(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT, float)
            ),
            _attempts(
                MAX_ATTEMPTS_ENV,
                int(_from_environment(MAX_ATTEMPTS_ENV, DEFAULT_MAX_ATTEMPTS, int)),
            ),
        )
    return _limits


def configure_secrets(
    *,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_attempts: int | None = None,
) -> None:
    """Set how long one secret or parameter fetch may take.

    Each argument overrides its environment variable (``LAMBDA_PERF_SECRETS_CONNECT_TIMEOUT``,
    ``..._READ_TIMEOUT``, ``..._MAX_ATTEMPTS``; defaults 1 s, 2 s and 2 attempts). Within an
    invocation a fetch is also cut to the time the invocation has left.
    """
    global _limits
    current = _fetch_limits()
    _limits = _FetchLimits(
        current.connect_timeout
        if connect_timeout is None
        else _positive_seconds("configure_secrets: connect_timeout", connect_timeout),
        current.read_timeout
        if read_timeout is None
        else _positive_seconds("configure_secrets: read_timeout", read_timeout),
        current.max_attempts
        if max_attempts is None
        else _attempts("configure_secrets: max_attempts", max_attempts),
    )


def _limits_now(what: str) -> _FetchLimits:
    """The limits for a fetch starting now: the configured ones, cut to the invocation's
    remaining time. With too little time left, a transient SecretFetchError instead (so a
    cached value can still be served)."""
    limits = _fetch_limits()
    remaining_ms = getattr(get_lambda_context(), "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return limits
    budget = float(remaining_ms()) / 1000.0 - DEADLINE_RESERVE
    if budget >= limits.worst_case():
        return limits
    if budget < MIN_FETCH_TIME:
        raise SecretFetchError(
            what,
            f"only {max(0.0, budget + DEADLINE_RESERVE):.3f}s left in the invocation, too "
            f"little to fetch it; fetch it earlier (at init or at the start of the handler), "
            f"or raise the function's timeout",
            transient=True,
        )
    budget = math.floor(budget / _TIMEOUT_STEP) * _TIMEOUT_STEP
    connect = min(limits.connect_timeout, budget / 2.0)
    return _FetchLimits(connect, budget - connect, 1)


def _client(service: str, limits: _FetchLimits) -> Any:
    from botocore.config import Config

    from .clients import get_aws_client

    return get_aws_client(
        service,
        config=Config(
            connect_timeout=limits.connect_timeout,
            read_timeout=limits.read_timeout,
            retries={"total_max_attempts": limits.max_attempts},
        ),
    )


def _describe(key: Hashable) -> str:
    kind, name = (key[0], key[1]) if isinstance(key, tuple) else ("secret", key)
    return f"{'parameter' if kind == 'parameter' else 'secret'} {name!r}"


_secrets = TTLCache(logger_name="lambda_perf.secrets", describe=_describe)
_parameters = TTLCache(logger_name="lambda_perf.secrets", describe=_describe)
_fresh_secrets = _secrets.fresh  # the hit path's one dict


def _check_transform(name: str, transform: object) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(
            f"unknown transform {transform!r} for {name!r}: use None, 'json' or 'binary'"
        )


def _check_arguments(name: object, transform: object, max_age: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"the name must be a non-empty string, got {name!r}")
    _check_transform(name, transform)
    _check_max_age(max_age)


def _check_max_age(max_age: object) -> None:
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)):
        raise TypeError(f"max_age must be a number of seconds, got {max_age!r}")
    if not max_age >= 0:  # also refuses NaN, which would silently disable caching
        raise ValueError(f"max_age must be seconds >= 0, got {max_age!r}")


def _is_transient(exc: BaseException) -> bool:
    """Worth serving a stale value for: throttling, 5xx, network trouble, timeouts."""
    if isinstance(exc, SecretFetchError):
        return exc.transient
    return is_retryable_aws_error(exc) or isinstance(exc, OSError)


# --- sources ------------------------------------------------------------------------


def _extension_get(path: str, what: str, limits: _FetchLimits) -> dict[str, Any]:
    """GET from the Parameters and Secrets Lambda Extension; the JSON body as a dict."""
    import json
    import urllib.error
    import urllib.request

    port = os.environ.get(EXTENSION_PORT_ENV, str(DEFAULT_EXTENSION_PORT))
    request = urllib.request.Request(
        f"http://localhost:{port}{path}",
        headers={"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")},
    )
    try:
        timeout = limits.connect_timeout + limits.read_timeout
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response and its socket
        transient = exc.code >= 500 or exc.code == 429
        raise SecretFetchError(
            what,
            f"the Parameters and Secrets extension answered HTTP {exc.code}",
            transient=transient,
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SecretFetchError(
            what,
            f"the Parameters and Secrets extension on localhost:{port} is unreachable "
            f"({type(reason).__name__}); is the extension layer attached?",
            transient=True,
        ) from None


def _from_extension() -> bool:
    return os.environ.get(SOURCE_ENV, "").strip().lower() == "extension"


def _fetch_secret(name: str, version_stage: str) -> dict[str, Any]:
    what = f"secret {name!r}"
    limits = _limits_now(what)
    if _from_extension():
        from urllib.parse import urlencode

        query = urlencode({"secretId": name, "versionStage": version_stage})
        return _extension_get(f"/secretsmanager/get?{query}", what, limits)
    try:
        response: Any = _client("secretsmanager", limits).get_secret_value(
            SecretId=name, VersionStage=version_stage
        )
    except Exception as exc:
        raise _wrap_aws_error(what, exc) from exc
    return response  # type: ignore[no-any-return]


def _fetch_parameter(name: str, decrypt: bool) -> str:
    what = f"parameter {name!r}"
    limits = _limits_now(what)
    if _from_extension():
        from urllib.parse import urlencode

        query = urlencode({"name": name, "withDecryption": "true" if decrypt else "false"})
        body = _extension_get(f"/systemsmanager/parameters/get?{query}", what, limits)
    else:
        try:
            body = dict(_client("ssm", limits).get_parameter(Name=name, WithDecryption=decrypt))
        except Exception as exc:
            raise _wrap_aws_error(what, exc) from exc
    value: str = body["Parameter"]["Value"]
    return value


def _wrap_aws_error(what: str, exc: Exception) -> SecretFetchError:
    response = getattr(exc, "response", None)  # None on botocore's timeout errors
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = error.get("Code") or type(exc).__name__
    if code in ("ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"):
        reason = "it does not exist (check the name, the region and the account)"
    elif code in ("AccessDeniedException", "AccessDenied"):
        reason = "access denied: the function's role needs permission to read it"
    else:
        reason = f"{code}"
    return SecretFetchError(what, reason, transient=_is_transient(exc))


# --- transforms -----------------------------------------------------------------------


# A failed transform raises an error that reaches no copy of the value: it is raised
# outside the ``except`` block (so no ``__context__`` holds the decoder's error, whose
# ``doc`` is the whole document), and every local that held the value is deleted first
# (error reporters show traceback frames' locals).


def _transform(what: str, raw: str | bytes, transform: str | None) -> Any:
    if transform is None:
        return raw
    if transform == "json":
        import json

        try:
            return json.loads(raw)
        except ValueError as exc:
            line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        error = SecretFetchError(
            what,
            f"transform='json' failed: the value is not valid JSON (line {line}, column {column})",
        )
    else:
        import base64
        import binascii

        try:
            return raw if isinstance(raw, bytes) else base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            pass
        error = SecretFetchError(what, "transform='binary' failed: the value is not valid base64")
    del raw
    raise error


def _secret_value(name: str, version_stage: str, transform: str | None) -> Any:
    response = _fetch_secret(name, version_stage)
    try:
        return _decode_secret(f"secret {name!r}", response, transform)
    except SecretFetchError as exc:
        error = exc
    del response
    try:  # without the frames below, whose locals hold the value
        raise error.with_traceback(None)
    finally:
        del error


def _decode_secret(what: str, response: dict[str, Any], transform: str | None) -> Any:
    if transform == "binary":
        if response.get("SecretBinary") is None:
            raise SecretFetchError(what, "transform='binary' but it has no SecretBinary")
        return _transform(what, response["SecretBinary"], "binary")
    if response.get("SecretString") is not None:
        return _transform(what, response["SecretString"], transform)
    if response.get("SecretBinary") is None:
        raise SecretFetchError(what, "it has neither SecretString nor SecretBinary")
    return _transform(what, response["SecretBinary"], transform)


# --- public API ---------------------------------------------------------------------


def get_secret(
    name: str,
    *,
    max_age: float = 300.0,
    transform: str | None = None,
    force_fetch: bool = False,
    version_stage: str = "AWSCURRENT",
) -> Any:
    """A secret from Secrets Manager, cached for ``max_age`` seconds.

    ``transform="json"`` returns the parsed object, ``"binary"`` the ``SecretBinary``
    bytes. When a refresh fails transiently, the last good value is served for up to 15
    minutes past its expiry; past that, or with no value yet, ``SecretFetchError``.
    """
    try:  # the hit path: one dict lookup, one clock read (cache.is_fresh, inlined)
        hit = _fresh_secrets[name]
        if (
            _monotonic() - hit[0] < max_age
            and transform is None
            and not force_fetch
            and version_stage == "AWSCURRENT"
        ):
            return hit[2]
    except (KeyError, TypeError):  # not cached; or a bad argument, reported below
        pass
    hit = None  # type: ignore[assignment]  # no expired value in this frame if we raise
    return _get_secret(name, max_age, transform, force_fetch, version_stage)


def _get_secret(
    name: str, max_age: float, transform: str | None, force_fetch: bool, version_stage: str
) -> Any:
    # Apart from get_secret so that its closure does not cost the hit path cell objects.
    key: Hashable = (
        name
        if transform is None and version_stage == "AWSCURRENT"
        else ("secret", name, version_stage, transform)
    )
    _check_arguments(name, transform, max_age)
    if not force_fetch:
        hit = _secrets.fresh.get(key)
        if hit is not None and _monotonic() - hit[0] < max_age:
            return hit[2]
        hit = None
    return _get(
        _secrets,
        key,
        f"secret {name!r}",
        lambda: _secret_value(name, version_stage, transform),
        max_age=max_age,
        force_fetch=force_fetch,
    )


def get_parameter(
    name: str,
    *,
    max_age: float = 300.0,
    decrypt: bool = True,
    transform: str | None = None,
    force_fetch: bool = False,
) -> Any:
    """A parameter from SSM Parameter Store (SecureString decrypted by default), cached."""
    key: Hashable = ("parameter", name, decrypt, transform)
    if not force_fetch:
        try:  # cache.is_fresh, inlined
            hit = _parameters.fresh[key]
            if _monotonic() - hit[0] < max_age:
                return hit[2]
        except (KeyError, TypeError):  # not cached; or a bad argument, reported below
            pass
        hit = None  # type: ignore[assignment]
    return _get_parameter(key, name, max_age, decrypt, transform, force_fetch)


def _get_parameter(
    key: Hashable,
    name: str,
    max_age: float,
    decrypt: bool,
    transform: str | None,
    force_fetch: bool,
) -> Any:
    _check_arguments(name, transform, max_age)
    what = f"parameter {name!r}"
    return _get(
        _parameters,
        key,
        what,
        lambda: _transform(what, _fetch_parameter(name, decrypt), transform),
        max_age=max_age,
        force_fetch=force_fetch,
    )


def _get(
    cache: TTLCache,
    key: Hashable,
    what: str,
    fetch: Callable[[], Any],
    *,
    max_age: float,
    force_fetch: bool,
) -> Any:
    try:
        return cache.get(
            key, fetch, max_age=max_age, force=force_fetch, serve_stale_on=_is_transient
        )
    except LambdaPerfError:  # SecretFetchError, or a ConfigurationError of ours
        raise
    except Exception as exc:
        raise SecretFetchError(what, type(exc).__name__, transient=_is_transient(exc)) from exc


def invalidate(name: str | None = None) -> int:
    """Forget a cached secret or parameter (all of them when ``name`` is None).

    Call it when a downstream API rejects the credential (a 401), then retry once: the
    next ``get_secret`` fetches the rotated value. Returns how many entries were dropped.
    """
    if name is None:
        return _secrets.invalidate() + _parameters.invalidate()

    def match(key: Hashable) -> bool:
        return key == name or (isinstance(key, tuple) and key[1] == name)

    return _secrets.invalidate(match) + _parameters.invalidate(match)
