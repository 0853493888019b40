"""retry_with_backoff over real HTTP: a local http.server, and boto3 against moto."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from lambda_perf import get_aws_client, retry_with_backoff


class RateLimitedAPI(BaseHTTPRequestHandler):
    """Answers 429 with a Retry-After header ``throttle`` times, then 200."""

    throttle = 2
    retry_after = "1"
    hits: list[str] = []  # noqa: RUF012 - reset per test by the fixture

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if len(type(self).hits) <= type(self).throttle:
            self.send_response(429)
            self.send_header("Retry-After", type(self).retry_after)
            body = b'{"error": "rate limited"}'
        else:
            self.send_response(200)
            body = b'{"ok": true}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    RateLimitedAPI.hits = []
    RateLimitedAPI.throttle = 2
    RateLimitedAPI.retry_after = "1"
    server = ThreadingHTTPServer(("127.0.0.1", 0), RateLimitedAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class RateLimited(Exception):
    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


def recorder() -> tuple[list[float], Any]:
    slept: list[float] = []
    return slept, slept.append


def test_429_with_retry_after_seconds_through_urllib3(api: str) -> None:
    http = urllib3.PoolManager(retries=False)
    slept, sleep = recorder()

    @retry_with_backoff(retry_on=RateLimited, sleep=sleep, budget=None, base_delay=0.01)
    def fetch() -> Any:
        response = http.request("GET", f"{api}/v1/items")
        if response.status == 429:
            raise RateLimited(response)
        return response.json()

    assert fetch() == {"ok": True}
    assert slept == [1.0, 1.0]  # the server's Retry-After, not the 0.01 s backoff
    assert len(RateLimitedAPI.hits) == 3


def test_429_with_retry_after_http_date_on_a_retried_result(api: str) -> None:
    RateLimitedAPI.retry_after = email.utils.formatdate(time.time() + 30, usegmt=True)
    http = urllib3.PoolManager(retries=False)
    slept, sleep = recorder()

    @retry_with_backoff(
        retry_if_result=lambda r: r.status == 429, sleep=sleep, budget=None, deadline=None
    )
    def fetch() -> urllib3.BaseHTTPResponse:
        return http.request("GET", f"{api}/v1/items")

    assert fetch().status == 200
    assert len(slept) == 2
    assert all(20.0 <= s <= 30.0 for s in slept), slept  # 30 s ahead, minus the test's own time


def test_server_asking_for_more_than_the_deadline_gives_up_now(api: str) -> None:
    RateLimitedAPI.retry_after = "120"
    http = urllib3.PoolManager(retries=False)
    slept, sleep = recorder()

    @retry_with_backoff(retry_on=RateLimited, sleep=sleep, budget=None, deadline=10.0)
    def fetch() -> Any:
        response = http.request("GET", f"{api}/v1/items")
        if response.status == 429:
            raise RateLimited(response)
        return response.json()

    with pytest.raises(RateLimited):
        fetch()
    assert slept == []
    assert len(RateLimitedAPI.hits) == 1


def throttle_first_calls(client: Any, times: int, status: int, code: str) -> list[str]:
    """Answer the first ``times`` S3 requests with a real throttling response.

    A botocore ``before-send`` handler that returns a response stands in for the server:
    botocore parses it exactly as it would one from the wire, so the ClientError is real.
    moto cannot be told to throttle, hence this hook; later requests go to moto over HTTP.
    """
    seen: list[str] = []

    def before_send(request: Any, **kwargs: Any) -> AWSResponse | None:
        seen.append(request.url)
        if len(seen) > times:
            return None
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>Please reduce your request rate.</Message></Error>"
        ).encode()
        raw = _RawBody(body)
        headers = {"Content-Type": "application/xml", "retry-after": "2"}
        return AWSResponse(request.url, status, headers, raw)

    client.meta.events.register("before-send.s3.*", before_send)
    return seen


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def test_boto3_throttling_against_moto_is_retried_with_aws_classifier(moto_server: str) -> None:
    s3 = get_aws_client(
        "s3", endpoint_url=moto_server, config=Config(retries={"total_max_attempts": 1})
    )
    s3.create_bucket(Bucket="throttled")
    s3.put_object(Bucket="throttled", Key="k", Body=b"payload")
    seen = throttle_first_calls(s3, times=2, status=503, code="SlowDown")
    slept, sleep = recorder()

    @retry_with_backoff(retry_on="aws", sleep=sleep, budget=None)
    def read() -> bytes:
        body: bytes = s3.get_object(Bucket="throttled", Key="k")["Body"].read()
        return body

    assert read() == b"payload"
    assert len(seen) == 3  # two throttled, one served by moto
    assert slept == [2.0, 2.0]  # from the throttled responses' retry-after header


def test_boto3_client_errors_that_are_not_transient_are_not_retried(moto_server: str) -> None:
    s3 = get_aws_client("s3", endpoint_url=moto_server)
    slept, sleep = recorder()
    calls: list[int] = []

    @retry_with_backoff(retry_on="aws", sleep=sleep, budget=None)
    def read_missing() -> None:
        calls.append(1)
        s3.get_object(Bucket="no-such-bucket-here", Key="k")

    with pytest.raises(ClientError) as info:
        read_missing()
    assert info.value.response["Error"]["Code"] == "NoSuchBucket"
    assert calls == [1]
    assert slept == []
