"""Secrets Manager secrets and SSM parameters, cached in process.

A hit is a dict lookup and one monotonic clock read. Values come from the pooled
``get_aws_client`` clients, or, with ``LAMBDA_PERF_SECRETS_SOURCE=extension``, from the AWS
Parameters and Secrets Lambda Extension on localhost. Values never appear in a repr, a
log line or an exception message of ours.
"""

from __future__ import annotations

import os
import time

from ._errors import SecretFetchError
from .aws_errors import is_retryable_aws_error
from .cache import TTLCache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

__all__ = ["get_parameter", "get_secret", "invalidate"]

SOURCE_ENV = "LAMBDA_PERF_SECRETS_SOURCE"
EXTENSION_PORT_ENV = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"  # the extension's own setting
DEFAULT_EXTENSION_PORT = 2773
TRANSFORMS = (None, "json", "binary")

_monotonic = time.monotonic


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


def _check_max_age(max_age: object) -> None:
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age < 0:
        raise ValueError(f"max_age must be seconds >= 0, got {max_age!r}")


def _is_transient(exc: BaseException) -> bool:
    """Worth serving a stale value for: throttling, 5xx, network trouble."""
    if isinstance(exc, SecretFetchError):
        return exc.transient
    return is_retryable_aws_error(exc) or isinstance(exc, OSError)


# --- sources ------------------------------------------------------------------------


def _extension_get(path: str, what: str) -> dict[str, Any]:
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
        with urllib.request.urlopen(request, timeout=5.0) as response:
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
    if _from_extension():
        from urllib.parse import urlencode

        query = urlencode({"secretId": name, "versionStage": version_stage})
        return _extension_get(f"/secretsmanager/get?{query}", what)
    from .clients import get_aws_client

    try:
        response: Any = get_aws_client("secretsmanager").get_secret_value(
            SecretId=name, VersionStage=version_stage
        )
    except Exception as exc:
        raise _wrap_aws_error(what, exc) from exc
    return response  # type: ignore[no-any-return]


def _fetch_parameter(name: str, decrypt: bool) -> str:
    what = f"parameter {name!r}"
    if _from_extension():
        from urllib.parse import urlencode

        query = urlencode({"name": name, "withDecryption": "true" if decrypt else "false"})
        body = _extension_get(f"/systemsmanager/parameters/get?{query}", what)
    else:
        from .clients import get_aws_client

        try:
            body = dict(get_aws_client("ssm").get_parameter(Name=name, WithDecryption=decrypt))
        except Exception as exc:
            raise _wrap_aws_error(what, exc) from exc
    value: str = body["Parameter"]["Value"]
    return value


def _wrap_aws_error(what: str, exc: Exception) -> SecretFetchError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    if code in ("ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"):
        reason = "it does not exist (check the name, the region and the account)"
    elif code in ("AccessDeniedException", "AccessDenied"):
        reason = "access denied: the function's role needs permission to read it"
    else:
        reason = f"{code}"
    return SecretFetchError(what, reason, transient=_is_transient(exc))


# --- transforms -----------------------------------------------------------------------


def _transform(what: str, raw: str | bytes, transform: str | None) -> Any:
    if transform is None:
        return raw
    if transform == "json":
        import json

        try:
            return json.loads(raw)
        except ValueError as exc:
            line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
            raise SecretFetchError(
                what,
                f"transform='json' failed: the value is not valid JSON (line {line}, "
                f"column {column})",
            ) from None  # the decoder's error holds the whole document: never chain it
    import base64
    import binascii

    try:
        return raw if isinstance(raw, bytes) else base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SecretFetchError(
            what, "transform='binary' failed: the value is not valid base64"
        ) from None


def _secret_value(name: str, version_stage: str, transform: str | None) -> Any:
    what = f"secret {name!r}"
    response = _fetch_secret(name, version_stage)
    if transform == "binary":
        binary = response.get("SecretBinary")
        if binary is None:
            raise SecretFetchError(what, "transform='binary' but it has no SecretBinary")
        return _transform(what, binary, "binary")
    raw = response.get("SecretString")
    if raw is None:
        raw = response.get("SecretBinary")
        if raw is None:
            raise SecretFetchError(what, "it has neither SecretString nor SecretBinary")
        if transform is None:
            return raw
    return _transform(what, raw, transform)


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
    try:  # the hit path: one dict lookup, one clock read
        fetched_at, _, value = _fresh_secrets[name]
    except (KeyError, TypeError):
        pass
    else:
        if (
            _monotonic() - fetched_at < max_age
            and transform is None
            and not force_fetch
            and version_stage == "AWSCURRENT"
        ):
            return value
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
    if not force_fetch:
        hit = _secrets.fresh.get(key)
        if hit is not None and _monotonic() - hit[0] < max_age:
            return hit[2]
    return _get(
        _secrets,
        key,
        f"secret {name!r}",
        lambda: _secret_value(name, version_stage, transform),
        name=name,
        max_age=max_age,
        transform=transform,
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
        hit = _parameters.fresh.get(key)
        if hit is not None and _monotonic() - hit[0] < max_age:
            return hit[2]
    return _get_parameter(key, name, max_age, decrypt, transform, force_fetch)


def _get_parameter(
    key: Hashable,
    name: str,
    max_age: float,
    decrypt: bool,
    transform: str | None,
    force_fetch: bool,
) -> Any:
    what = f"parameter {name!r}"
    return _get(
        _parameters,
        key,
        what,
        lambda: _transform(what, _fetch_parameter(name, decrypt), transform),
        name=name,
        max_age=max_age,
        transform=transform,
        force_fetch=force_fetch,
    )


def _get(
    cache: TTLCache,
    key: Hashable,
    what: str,
    fetch: Callable[[], Any],
    *,
    name: str,
    max_age: float,
    transform: str | None,
    force_fetch: bool,
) -> Any:
    if not isinstance(name, str) or not name:
        raise ValueError(f"the name must be a non-empty string, got {name!r}")
    _check_transform(name, transform)
    _check_max_age(max_age)
    try:
        return cache.get(
            key, fetch, max_age=max_age, force=force_fetch, serve_stale_on=_is_transient
        )
    except SecretFetchError:
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
