"""The Vanta API client: one urllib3 pool per environment, one token per environment,
retries on 429 and 5xx within the invocation's deadline, and a circuit breaker.

Vanta allows one live token per application (minting a new one revokes the old at once)
and 5 token requests a minute. So the token is cached until 60 s before it expires; on a
401 it is minted once more and that request retried; it is never minted in a loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lambda_perf import CircuitBreaker, LazyImport, retry_with_backoff, ttl_cache

urllib3 = LazyImport("urllib3")  # comes with botocore; imported on the first request

SCOPE = "vanta-api.all:read"
ENDPOINTS = {
    "vulnerabilities": ("/v1/vulnerabilities", {"includeVulnerabilitiesWithoutSlas": "true"}),
    "remediations": ("/v1/vulnerability-remediations", {}),
}

# What the sync counts (for its metrics): token mints and retried requests.
counters = {"token_mints": 0, "api_retries": 0}


class VantaApiError(Exception):
    """The API answered something the sync cannot use: names where, and what."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        page: int | None = None,
        cursor: str | None = None,
        status: int | None = None,
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"endpoint {endpoint}" if endpoint else "",
                f"page {page}" if page is not None else "",
                f"cursor {cursor!r}" if cursor else "",
                f"HTTP {status}" if status is not None else "",
            )
            if part
        )
        super().__init__(f"{message} ({where})" if where else message)
        self.endpoint, self.page, self.cursor, self.status = endpoint, page, cursor, status


class VantaHttpError(Exception):
    """A 429 or 5xx: worth retrying. ``response.headers`` carries any Retry-After."""

    def __init__(self, status: int, response: Any, endpoint: str) -> None:
        super().__init__(f"Vanta answered HTTP {status} for {endpoint}")
        self.status = status
        self.response = response


_pools: dict[int, Any] = {}


def pool(max_connections: int) -> Any:
    """The environment's connection pool (created once, keep-alive)."""
    manager = _pools.get(max_connections)
    if manager is None:
        manager = _pools[max_connections] = urllib3.PoolManager(
            maxsize=max_connections,
            retries=False,
            timeout=urllib3.Timeout(connect=5.0, read=30.0),
            headers={"Accept": "application/json", "User-Agent": "vanta-sync (lambda-perf)"},
        )
    return manager


def _mint(base: str, client_id: str, client_secret: str, max_connections: int) -> dict[str, Any]:
    response = pool(max_connections).request(
        "POST",
        f"{base}/oauth/token",
        body=json.dumps(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "scope": SCOPE,
                "grant_type": "client_credentials",
            }
        ),
        headers={"Content-Type": "application/json"},
    )
    counters["token_mints"] += 1
    if response.status != 200:
        raise VantaApiError(
            "could not get a Vanta token: check the client credentials in the secret "
            "(and that no other process mints tokens for this application)",
            endpoint="/oauth/token",
            status=response.status,
        )
    try:
        token: dict[str, Any] = json.loads(response.data)
        if not token["access_token"] or float(token["expires_in"]) <= 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise VantaApiError("the token response is not Vanta's", endpoint="/oauth/token") from None
    return token


# One token per environment, reused until 60 s before it expires.
token = ttl_cache(
    lambda t: max(0.0, float(t["expires_in"]) - 60.0),
    key=lambda base, client_id, client_secret, max_connections: (base, client_id),
)(_mint)


def _count_retry(state: Any) -> None:
    counters["api_retries"] += 1


class VantaClient:
    def __init__(
        self,
        base: str,
        credentials: dict[str, str],
        max_connections: int = 50,
        retry_base_delay: float = 0.5,
    ) -> None:
        try:
            self._credentials = (credentials["client_id"], credentials["client_secret"])
        except (KeyError, TypeError):
            raise ValueError(
                'the Vanta secret must be JSON with "client_id" and "client_secret"'
            ) from None
        self.base = base
        self.max_connections = max_connections
        self.breaker = _breaker
        self._get = retry_with_backoff(
            max_retries=6,
            base_delay=retry_base_delay,
            max_delay=20.0,
            retry_on=VantaHttpError,
            on_retry=_count_retry,
        )(_breaker(self._get_once))

    def _token(self) -> str:
        client_id, client_secret = self._credentials
        access: str = token(self.base, client_id, client_secret, self.max_connections)[
            "access_token"
        ]
        return access

    def _request(self, path: str, fields: dict[str, str]) -> Any:
        return pool(self.max_connections).request(
            "GET",
            f"{self.base}{path}",
            fields=fields,
            headers={"Authorization": f"Bearer {self._token()}"},
        )

    def _get_once(self, path: str, fields: dict[str, str], page: int) -> dict[str, Any]:
        response = self._request(path, fields)
        if response.status == 401:  # revoked (another mint) or expired: mint once more
            client_id, client_secret = self._credentials
            token.invalidate(self.base, client_id, client_secret, self.max_connections)
            response = self._request(path, fields)
        if response.status == 429 or response.status >= 500:
            raise VantaHttpError(response.status, response, path)
        cursor = fields.get("pageCursor")
        if response.status != 200:
            raise VantaApiError(
                "Vanta refused the request", endpoint=path, page=page, cursor=cursor,
                status=response.status,
            )  # fmt: skip
        try:
            body: dict[str, Any] = json.loads(response.data)
        except ValueError:
            raise VantaApiError(
                "the response is not JSON", endpoint=path, page=page, cursor=cursor
            ) from None
        return body

    def pages(
        self, dataset: str, *, cursor: str | None = None, page: int = 0, page_size: int = 100
    ) -> Iterator[tuple[int, list[dict[str, Any]], str | None]]:
        """(page number, records, the cursor after this page or None at the end), from
        ``cursor`` on. Malformed pages raise VantaApiError naming the page and cursor."""
        path, extra = ENDPOINTS[dataset]
        seen = {cursor} if cursor else set()
        while True:
            page += 1
            fields = {"pageSize": str(page_size), **extra}
            if cursor:
                fields["pageCursor"] = cursor
            body = self._get(path, fields, page)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, dict) or not isinstance(results.get("data"), list):
                raise VantaApiError(
                    "the response has no results.data", endpoint=path, page=page, cursor=cursor
                )
            records = results["data"]
            for record in records:
                if not isinstance(record, dict) or not record.get("id"):
                    raise VantaApiError(
                        "a record has no id", endpoint=path, page=page, cursor=cursor
                    )
            info = results.get("pageInfo") or {}
            following = info.get("endCursor") if info.get("hasNextPage") else None
            if following is not None and following in seen:
                raise VantaApiError(
                    f"the next cursor {following!r} was seen before (a loop)",
                    endpoint=path,
                    page=page,
                    cursor=cursor,
                )
            if following is not None:
                seen.add(following)
            yield page, records, following
            if following is None:
                return
            cursor = following


# Around the API: five failed calls in a row (after retries) open it for 30 s.
_breaker = CircuitBreaker(failure_threshold=5, timeout=30.0, name="vanta-api", ignore=VantaApiError)
