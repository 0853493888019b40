"""get_secret, get_parameter and invalidate against a real moto server (and a local
http.server playing the Parameters and Secrets Lambda Extension)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from moto.server import ThreadedMotoServer

from lambda_perf import (
    LambdaPerfError,
    SecretFetchError,
    get_aws_client,
    get_parameter,
    get_secret,
    invalidate,
)
from lambda_perf import secrets as secrets_module
from lambda_perf.testing import FakeClock

SECRET_VALUE = "s3cr3t-Value-that-must-never-leak-7f1c"


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    invalidate()
    yield
    invalidate()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """One fake monotonic clock for the hit path and the caches."""
    clock = FakeClock(start=1000.0)
    monkeypatch.setattr(secrets_module, "_monotonic", clock)
    monkeypatch.setattr(secrets_module._secrets, "clock", clock)
    monkeypatch.setattr(secrets_module._parameters, "clock", clock)
    return clock


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Route every client get_aws_client makes to the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


def count_calls(service: str, operation: str) -> list[int]:
    """Counts the API calls of the client get_secret/get_parameter fetch with."""
    calls: list[int] = []
    client = secrets_module._client(service, secrets_module._fetch_limits())
    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, lambda **kwargs: calls.append(1))
    return calls


def unique(prefix: str) -> str:
    return f"{prefix}-{time.perf_counter_ns()}"


def test_create_read_and_hit_from_cache(aws: str, fake: FakeClock) -> None:
    name = unique("db-password")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString=SECRET_VALUE)
    calls = count_calls("secretsmanager", "GetSecretValue")
    assert get_secret(name) == SECRET_VALUE
    for _ in range(100):
        assert get_secret(name) == SECRET_VALUE
    assert calls == [1]


def test_rotation_seen_after_max_age_or_at_once_after_invalidate(aws: str, fake: FakeClock) -> None:
    name = unique("api-key")
    sm = get_aws_client("secretsmanager")
    sm.create_secret(Name=name, SecretString="v1")
    assert get_secret(name, max_age=60) == "v1"
    sm.put_secret_value(SecretId=name, SecretString="v2")
    fake.advance(59.9)
    assert get_secret(name, max_age=60) == "v1"
    fake.advance(0.1)
    assert get_secret(name, max_age=60) == "v2"
    sm.put_secret_value(SecretId=name, SecretString="v3")
    assert get_secret(name, max_age=60) == "v2"
    assert invalidate(name) == 1
    assert get_secret(name, max_age=60) == "v3"


def test_json_and_binary_transforms(aws: str, fake: FakeClock) -> None:
    sm = get_aws_client("secretsmanager")
    json_name, binary_name = unique("creds"), unique("cert")
    sm.create_secret(Name=json_name, SecretString=json.dumps({"user": "app", "pw": "x"}))
    sm.create_secret(Name=binary_name, SecretBinary=b"\x00\x01binary")
    assert get_secret(json_name, transform="json") == {"user": "app", "pw": "x"}
    assert get_secret(json_name) == json.dumps({"user": "app", "pw": "x"})
    assert get_secret(binary_name, transform="binary") == b"\x00\x01binary"
    with pytest.raises(SecretFetchError, match="no SecretBinary"):
        get_secret(json_name, transform="binary")


def test_the_cache_keeps_the_transformed_value(aws: str, fake: FakeClock) -> None:
    name = unique("settings")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString='{"a": [1, 2]}')
    first = get_secret(name, transform="json")
    assert get_secret(name, transform="json") is first  # no copy, no parse on a hit


def test_ssm_parameters_including_secure_strings(aws: str, fake: FakeClock) -> None:
    ssm = get_aws_client("ssm")
    plain, secure = unique("/app/plain"), unique("/app/secure")
    ssm.put_parameter(Name=plain, Value='{"feature": true}', Type="String")
    ssm.put_parameter(Name=secure, Value=SECRET_VALUE, Type="SecureString")
    calls = count_calls("ssm", "GetParameter")
    assert get_parameter(plain, transform="json") == {"feature": True}
    assert get_parameter(secure) == SECRET_VALUE
    assert get_parameter(secure, decrypt=False) != SECRET_VALUE  # the ciphertext
    assert get_parameter(secure) == SECRET_VALUE
    assert len(calls) == 3
    ssm.put_parameter(Name=plain, Value='{"feature": false}', Type="String", Overwrite=True)
    invalidate(plain)
    assert get_parameter(plain, transform="json") == {"feature": False}


def test_missing_secret_and_parameter_name_themselves(aws: str, fake: FakeClock) -> None:
    with pytest.raises(SecretFetchError, match=r"secret 'no-such-secret'.*does not exist") as info:
        get_secret("no-such-secret")
    assert isinstance(info.value, LambdaPerfError)
    assert info.value.transient is False
    with pytest.raises(SecretFetchError, match=r"parameter '/no/such'.*does not exist"):
        get_parameter("/no/such")


def test_bad_json_names_secret_and_transform_but_not_the_value(aws: str, fake: FakeClock) -> None:
    name = unique("broken-json")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString=SECRET_VALUE)
    with pytest.raises(SecretFetchError) as info:
        get_secret(name, transform="json")
    text = str(info.value)
    assert name in text
    assert "transform='json'" in text
    assert SECRET_VALUE not in text
    assert info.value.__cause__ is None  # the JSON decoder's error holds the document


def test_unknown_transform_and_bad_arguments(aws: str) -> None:
    with pytest.raises(ValueError, match="unknown transform 'yaml'"):
        get_secret("x", transform="yaml")
    with pytest.raises(ValueError, match="max_age"):
        get_secret("x", max_age=-1)
    with pytest.raises(ValueError, match="name"):
        get_parameter("")


def test_eight_threads_on_a_cold_secret_make_one_call(aws: str) -> None:
    name = unique("shared")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString="value")
    calls: list[int] = []
    client = secrets_module._client("secretsmanager", secrets_module._fetch_limits())

    def slow_count(**kwargs: Any) -> None:
        calls.append(1)
        time.sleep(0.2)  # against a real server: give the other threads time to queue

    client.meta.events.register("before-call.secrets-manager.GetSecretValue", slow_count)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def read() -> None:
        barrier.wait()
        results.append(get_secret(name))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["value"] * 8
    assert calls == [1]


def test_force_fetch_fetches_now_and_never_sleeps(
    aws: str, fake: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("forced")
    sm = get_aws_client("secretsmanager")
    sm.create_secret(Name=name, SecretString="old")
    assert get_secret(name) == "old"
    sm.put_secret_value(SecretId=name, SecretString="new")

    def no_sleeping(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}")

    monkeypatch.setattr(time, "sleep", no_sleeping)
    assert get_secret(name, force_fetch=True) == "new"
    assert get_secret(name) == "new"


def test_outage_serves_stale_then_raises(
    fake: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no botocore retries with real sleeps
    name = unique("outage")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString=SECRET_VALUE)
    assert get_secret(name, max_age=60) == SECRET_VALUE
    server.stop()  # the outage

    caplog.set_level(logging.DEBUG)
    fake.advance(60.0)
    assert get_secret(name, max_age=60) == SECRET_VALUE  # stale, within max_stale
    fake.advance(800.0)
    assert get_secret(name, max_age=60) == SECRET_VALUE
    warnings = [r for r in caplog.records if "refresh failed" in r.getMessage()]
    assert len(warnings) == 1
    assert name in warnings[0].getMessage()
    fake.advance(101.0)  # 961 s after the fetch: past max_age (60) + max_stale (900)
    with pytest.raises(SecretFetchError) as info:
        get_secret(name, max_age=60)
    assert name in str(info.value)
    assert info.value.transient is True
    assert info.value.__cause__ is not None  # the connection error, chained
    # Nothing we logged or raised contains the value.
    texts = [r.getMessage() for r in caplog.records] + [str(info.value), repr(info.value)]
    texts += [repr(entry) for entry in secrets_module._secrets.entries.values()]
    assert not any(SECRET_VALUE in text for text in texts)


class FakeExtension(BaseHTTPRequestHandler):
    """Plays the AWS Parameters and Secrets Lambda Extension on 127.0.0.1."""

    secrets = {"ext-secret": "from-extension"}  # noqa: RUF012
    parameters = {"/ext/param": "param-value"}  # noqa: RUF012
    seen_tokens: list[str] = []  # noqa: RUF012
    fail_with: int | None = None

    def do_GET(self) -> None:
        type(self).seen_tokens.append(self.headers.get("X-Aws-Parameters-Secrets-Token", ""))
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        status, body = 404, {"message": "not found"}
        if type(self).fail_with is not None:
            status, body = type(self).fail_with, {"message": "boom"}
        elif url.path == "/secretsmanager/get" and query["secretId"] in self.secrets:
            status = 200
            body = {"Name": query["secretId"], "SecretString": self.secrets[query["secretId"]]}
        elif url.path == "/systemsmanager/parameters/get" and query["name"] in self.parameters:
            status = 200
            body = {"Parameter": {"Name": query["name"], "Value": self.parameters[query["name"]]}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def extension(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeExtension.seen_tokens = []
    FakeExtension.fail_with = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeExtension)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LAMBDA_PERF_SECRETS_SOURCE", "extension")
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.server_address[1]))
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-123")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_values_from_the_lambda_extension(extension: None, fake: FakeClock) -> None:
    assert get_secret("ext-secret") == "from-extension"
    assert get_secret("ext-secret") == "from-extension"  # cached in process too
    assert get_parameter("/ext/param") == "param-value"
    assert FakeExtension.seen_tokens == ["session-token-123", "session-token-123"]
    with pytest.raises(SecretFetchError, match=r"secret 'missing'.*HTTP 404"):
        get_secret("missing")


def test_extension_failures_are_transient_and_serve_stale(extension: None, fake: FakeClock) -> None:
    assert get_secret("ext-secret", max_age=10) == "from-extension"
    FakeExtension.fail_with = 500
    fake.advance(10.0)
    assert get_secret("ext-secret", max_age=10) == "from-extension"
    invalidate()
    with pytest.raises(SecretFetchError, match="HTTP 500") as info:
        get_secret("ext-secret")
    assert info.value.transient is True


def test_unreachable_extension_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, fake: FakeClock
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LAMBDA_PERF_SECRETS_SOURCE", "extension")
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(port))
    with pytest.raises(SecretFetchError, match="extension layer attached"):
        get_parameter("/any")


# --- issue 9: timeouts, closed connections, fresh errors, per-call max_age, leaks -------


@pytest.fixture(autouse=True)
def default_fetch_limits() -> Iterator[None]:
    """Fetch limits are read from the environment on first use: start each test afresh."""
    secrets_module._limits = None
    yield
    secrets_module._limits = None


class FakeContext:
    def __init__(self, remaining_ms: float) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_ms)


def break_endpoint(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """From now on, clients reach ``url`` instead of the moto server."""
    from lambda_perf import clear_client_cache

    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    clear_client_cache()


@pytest.mark.parametrize("mode", ["hang", "close"])
@pytest.mark.parametrize("kind", ["secret", "parameter"])
def test_read_timeouts_and_closed_connections_serve_the_stale_value(
    aws: str,
    fake: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    broken_endpoint: Any,
    mode: str,
    kind: str,
) -> None:
    configure = secrets_module.configure_secrets
    configure(connect_timeout=0.5, read_timeout=0.2, max_attempts=1)
    name = unique(f"stale-{mode}")
    if kind == "secret":
        get_aws_client("secretsmanager").create_secret(Name=name, SecretString=SECRET_VALUE)
        read = lambda: get_secret(name, max_age=10)  # noqa: E731
    else:
        name = f"/{name}"
        get_aws_client("ssm").put_parameter(Name=name, Value=SECRET_VALUE, Type="SecureString")
        read = lambda: get_parameter(name, max_age=10)  # noqa: E731
    assert read() == SECRET_VALUE
    endpoint = broken_endpoint(mode)
    break_endpoint(monkeypatch, endpoint.url)
    fake.advance(11.0)
    assert read() == SECRET_VALUE  # stale, served through the failure
    assert endpoint.connections == 1
    invalidate()
    with pytest.raises(SecretFetchError) as info:
        read()
    assert info.value.transient is True
    expected = "ReadTimeoutError" if mode == "hang" else "ConnectionClosedError"
    assert expected in str(info.value)


def test_a_hung_endpoint_costs_the_configured_attempts_not_three_minutes(
    fake: FakeClock, monkeypatch: pytest.MonkeyPatch, broken_endpoint: Any
) -> None:
    endpoint = broken_endpoint("hang")
    break_endpoint(monkeypatch, endpoint.url)
    monkeypatch.setenv(secrets_module.READ_TIMEOUT_ENV, "0.3")
    started = time.monotonic()
    with pytest.raises(SecretFetchError, match="ReadTimeoutError"):
        get_secret(unique("hung"))
    elapsed = time.monotonic() - started
    assert endpoint.connections == secrets_module.DEFAULT_MAX_ATTEMPTS
    assert elapsed < 30.0  # botocore's defaults: 3 attempts x 60 s


def test_a_fetch_is_cut_to_the_invocations_remaining_time(
    fake: FakeClock, monkeypatch: pytest.MonkeyPatch, broken_endpoint: Any
) -> None:
    from lambda_perf import set_lambda_context

    endpoint = broken_endpoint("hang")
    break_endpoint(monkeypatch, endpoint.url)
    try:
        set_lambda_context(FakeContext(remaining_ms=700))  # defaults: 2 x (1 s + 2 s)
        started = time.monotonic()
        with pytest.raises(SecretFetchError, match="ReadTimeoutError"):
            get_secret(unique("deadline"))
        assert time.monotonic() - started < 5.0
        assert endpoint.connections == 1  # one attempt, within the 0.6 s left
        limits = secrets_module._limits_now("x")
        assert limits.max_attempts == 1
        assert limits.connect_timeout + limits.read_timeout <= 0.6

        set_lambda_context(FakeContext(remaining_ms=200))  # too little to start a fetch
        with pytest.raises(SecretFetchError, match="left in the invocation") as info:
            get_secret(unique("too-late"))
        assert info.value.transient is True
        assert endpoint.connections == 1
    finally:
        set_lambda_context(None)


def test_fetch_limits_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_perf import ConfigurationError

    with pytest.raises(ConfigurationError, match="read_timeout"):
        secrets_module.configure_secrets(read_timeout=0)
    with pytest.raises(ConfigurationError, match="max_attempts"):
        secrets_module.configure_secrets(max_attempts=0)
    secrets_module._limits = None
    monkeypatch.setenv(secrets_module.CONNECT_TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigurationError, match="LAMBDA_PERF_SECRETS_CONNECT_TIMEOUT='soon'"):
        get_secret("anything")


def test_each_call_during_backoff_raises_a_fresh_error_that_does_not_grow(
    fake: FakeClock, monkeypatch: pytest.MonkeyPatch, broken_endpoint: Any
) -> None:
    import gc
    import traceback
    import weakref

    endpoint = broken_endpoint("close")
    break_endpoint(monkeypatch, endpoint.url)
    secrets_module.configure_secrets(max_attempts=1)
    name = unique("backoff")

    class Marker:
        pass

    markers: list[weakref.ref[Marker]] = []
    errors: list[SecretFetchError] = []

    def caller() -> None:
        local = Marker()  # lives in this frame only
        markers.append(weakref.ref(local))
        try:
            get_secret(name)
        except SecretFetchError as exc:
            errors.append(exc)

    for _ in range(50):
        caller()
    assert endpoint.connections == 1  # the rest were answered from the backoff
    assert len({id(e) for e in errors}) == 50
    sizes = {len(traceback.format_exception(e)) for e in errors[1:]}
    assert len(sizes) == 1
    assert {len(getattr(e, "__notes__", [])) for e in errors[1:]} == {1}
    assert "backing off" in errors[-1].__notes__[0]
    errors.clear()
    gc.collect()
    assert all(ref() is None for ref in markers), "a caller's frame is kept alive"


def test_max_age_is_honoured_per_call(aws: str, fake: FakeClock) -> None:
    name = unique("per-call")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString="v1")
    calls = count_calls("secretsmanager", "GetSecretValue")
    assert get_secret(name) == "v1"  # max_age 300
    fake.advance(100.0)
    assert get_secret(name) == "v1"
    assert calls == [1]
    assert get_secret(name, max_age=10) == "v1"
    assert calls == [1, 1]  # 100 s old is not fresh for max_age=10
    assert get_secret(name, max_age=0) == "v1"
    assert get_secret(name, max_age=0) == "v1"
    assert calls == [1, 1, 1, 1]  # max_age=0 is never fresh
    parameter = f"/{unique('per-call')}"
    get_aws_client("ssm").put_parameter(Name=parameter, Value="p", Type="String")
    parameter_calls = count_calls("ssm", "GetParameter")
    assert get_parameter(parameter) == "p"
    fake.advance(50.0)
    assert get_parameter(parameter, max_age=20) == "p"
    assert parameter_calls == [1, 1]


@pytest.mark.parametrize("bad", ["300", float("nan"), -1, None])
def test_a_bad_max_age_gets_the_same_error_on_every_path(
    aws: str, fake: FakeClock, bad: object
) -> None:
    name = unique("bad-age")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString="v")
    expected = ValueError if isinstance(bad, (int, float)) else TypeError
    with pytest.raises(expected, match="max_age"):
        get_secret(name, max_age=bad)  # type: ignore[arg-type]
    assert get_secret(name) == "v"  # now cached: the hit path
    with pytest.raises(expected, match="max_age"):
        get_secret(name, max_age=bad)  # type: ignore[arg-type]
    with pytest.raises(expected, match="max_age"):
        get_parameter("/p", max_age=bad)  # type: ignore[arg-type]


def reachable_texts(error: BaseException) -> list[str]:
    """Every text reachable from an exception: messages, attributes, notes, chained
    exceptions, and the locals of every traceback frame (but the test's own)."""
    texts: list[str] = []
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        exc = stack.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        texts += [str(exc), repr(exc), repr(exc.args), repr(getattr(exc, "__dict__", {}))]
        texts += [str(note) for note in getattr(exc, "__notes__", [])]
        stack.extend(c for c in (exc.__cause__, exc.__context__) if c is not None)
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_globals.get("__name__") == __name__:  # this test's own frame
                tb = tb.tb_next
                continue
            for value in tb.tb_frame.f_locals.values():
                texts.append(repr(value))
                if isinstance(value, BaseException):
                    stack.append(value)
            tb = tb.tb_next
    return texts


def test_a_failed_json_transform_leaves_the_value_reachable_from_nothing(
    aws: str, fake: FakeClock
) -> None:
    import traceback

    name = unique("not-json")
    document = f"{{'password': '{SECRET_VALUE}'"  # not JSON
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString=document)
    with pytest.raises(SecretFetchError, match="not valid JSON") as info:
        get_secret(name, transform="json")
    assert info.value.__context__ is None
    assert not [t for t in reachable_texts(info.value) if SECRET_VALUE in t]
    error = info.value
    assert error.__traceback__ is not None
    library_frames = error.__traceback__.tb_next  # without this test's own frame
    report = "".join(
        traceback.TracebackException(
            type(error), error, library_frames, capture_locals=True
        ).format()
    )
    assert SECRET_VALUE not in report
    parameter = f"/{unique('not-json')}"
    get_aws_client("ssm").put_parameter(Name=parameter, Value=document, Type="SecureString")
    with pytest.raises(SecretFetchError, match="not valid JSON") as info:
        get_parameter(parameter, transform="json")
    assert not [t for t in reachable_texts(info.value) if SECRET_VALUE in t]


def test_an_error_past_max_stale_does_not_reach_the_expired_value(
    aws: str, fake: FakeClock, monkeypatch: pytest.MonkeyPatch, broken_endpoint: Any
) -> None:
    name = unique("expired")
    get_aws_client("secretsmanager").create_secret(Name=name, SecretString=SECRET_VALUE)
    assert get_secret(name, max_age=10) == SECRET_VALUE
    break_endpoint(monkeypatch, broken_endpoint("close").url)
    secrets_module.configure_secrets(max_attempts=1)
    fake.advance(10.0 + 900.0 + 1.0)  # past max_age and max_stale
    with pytest.raises(SecretFetchError) as info:
        get_secret(name, max_age=10)
    assert not [t for t in reachable_texts(info.value) if SECRET_VALUE in t]
    with pytest.raises(SecretFetchError) as info:  # again, while backing off
        get_secret(name, max_age=10)
    assert not [t for t in reachable_texts(info.value) if SECRET_VALUE in t]
