"""lambda_handler and the cold-start flag: one log line and metrics per invocation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from emf_check import emf_lines, log_lines
from lambda_perf import (
    ConfigurationError,
    get_lambda_context,
    get_logger,
    is_cold_start,
    lambda_handler,
    metrics,
    retry_with_backoff,
)
from lambda_perf import context as context_module
from lambda_perf import logging as logging_module
from lambda_perf.testing import no_sleep

SECRET = "handler-secret-value-3c9d"


class FakeContext:
    function_name = "orders-fn"
    aws_request_id = "req-0001"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-fn"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture(autouse=True)
def fresh_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LAMBDA_PERF_METRICS_NAMESPACE", "Shop")
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    context_module._reset_for_tests()
    saved = (metrics.metrics.namespace, metrics.metrics.explicit_service)
    metrics.metrics.namespace = "Shop"
    yield
    metrics.metrics.namespace, metrics.metrics.explicit_service = saved
    metrics.metrics._metrics.clear()
    context_module._reset_for_tests()
    logging_module.set_default_service(None)  # type: ignore[arg-type]
    logging.getLogger("lambda_perf.handler").handlers.clear()


def make_handler(**options: Any) -> Any:
    log = get_logger("test-handler-app")

    @lambda_handler(service="orders", **options)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        log.append_keys(order_id=event.get("id"))
        metrics.add_metric("OrdersPlaced", 1)
        if event.get("fail"):
            raise ValueError("payment declined")
        return {"ok": True, "cold": is_cold_start(), "context": get_lambda_context()}

    return handler


def test_two_invocations_cold_then_warm(capsys: pytest.CaptureFixture[str]) -> None:
    handler = make_handler()
    first = handler({"id": 1}, FakeContext())
    second = handler({"id": 2}, FakeContext())
    assert first["cold"] is True
    assert second["cold"] is False
    output = capsys.readouterr().out
    logs = [line for line in log_lines(output) if line["logger"] == "lambda_perf.handler"]
    assert [line["cold_start"] for line in logs] == [True, False]
    for line, order_id in zip(logs, (1, 2), strict=True):
        assert line["message"] == "invocation completed"
        assert line["function_request_id"] == "req-0001"
        assert line["service"] == "orders"
        assert line["order_id"] == order_id  # appended by the handler, cleared after
        assert line["duration_ms"] >= 0
        assert line["timestamp"].endswith("Z")
    assert "init_duration_ms" in logs[0]
    assert "init_duration_ms" not in logs[1]
    metric_lines = emf_lines(output)
    cold = [m for m in metric_lines if "ColdStart" in m]
    assert len(cold) == 1
    assert cold[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "function_name"]]
    assert (cold[0]["function_name"], cold[0]["service"]) == ("orders-fn", "orders")
    assert sum(1 for m in metric_lines if "OrdersPlaced" in m) == 2  # flushed each time


@pytest.mark.parametrize(
    "kind", ["provisioned-concurrency", "snap-start", "lambda-managed-instances"]
)
def test_pre_initialised_environments_are_never_cold(
    kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", kind)
    handler = make_handler()
    assert is_cold_start() is False
    assert handler({"id": 1}, FakeContext())["cold"] is False
    assert not [m for m in emf_lines(capsys.readouterr().out) if "ColdStart" in m]


def test_on_demand_is_cold_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    handler = make_handler(capture_cold_start_metric=False)
    assert [handler({}, FakeContext())["cold"] for _ in range(3)] == [True, False, False]


def test_failure_logs_reraises_and_still_flushes(capsys: pytest.CaptureFixture[str]) -> None:
    handler = make_handler()
    with pytest.raises(ValueError, match="payment declined"):
        handler({"id": 9, "fail": True}, FakeContext())
    output = capsys.readouterr().out
    (line,) = [x for x in log_lines(output) if x["logger"] == "lambda_perf.handler"]
    assert line["level"] == "ERROR"
    assert line["exception_name"] == "ValueError"
    assert "payment declined" in line["traceback"]
    metric_lines = emf_lines(output)
    assert any("ColdStart" in m for m in metric_lines)  # emitted although it raised
    assert any("OrdersPlaced" in m for m in metric_lines)


def test_the_context_is_set_for_retry_deadlines_and_cleared_after() -> None:
    seen: list[Any] = []

    @lambda_handler(capture_cold_start_metric=False)
    def handler(event: Any, context: Any) -> None:
        seen.append(get_lambda_context())

        @retry_with_backoff(max_retries=50, base_delay=1.0, jitter="none", budget=None)
        def flaky() -> None:
            raise ConnectionError()

        with no_sleep(), pytest.raises(ConnectionError):
            flaky()

    context = FakeContext()
    handler({}, context)
    assert seen == [context]
    assert get_lambda_context() is None


def test_log_event_redacts_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    handler = make_handler(log_event=True)
    handler({"id": 3, "headers": {"Authorization": SECRET}, "password": SECRET}, FakeContext())
    output = capsys.readouterr().out
    assert SECRET not in output
    (event_line,) = [x for x in log_lines(output) if x["message"] == "event"]
    assert event_line["event"]["headers"]["Authorization"] == "***"


def test_methods_can_be_handlers() -> None:
    class Function:
        @lambda_handler(capture_cold_start_metric=False)
        def handle(self, event: Any, context: Any) -> str:
            return f"{type(self).__name__}:{event['x']}"

    assert Function().handle({"x": 1}, FakeContext()) == "Function:1"
    assert Function.handle.__name__ == "handle"


def test_cold_start_metric_without_namespace_fails_at_decoration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics.metrics.namespace = None
    with pytest.raises(ConfigurationError, match="LAMBDA_PERF_METRICS_NAMESPACE"):
        lambda_handler(lambda event, context: None)
    lambda_handler(capture_cold_start_metric=False)(lambda event, context: None)


def test_loggers_made_before_the_decorator_take_its_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    early = get_logger("test-handler-early")  # module level, before @lambda_handler runs

    @lambda_handler(service="billing", capture_cold_start_metric=False)
    def handler(event: Any, context: Any) -> None:
        early.info("inside")
        metrics.add_metric("Invoices", 1)

    handler({}, FakeContext())
    output = capsys.readouterr().out
    assert {line["service"] for line in log_lines(output)} == {"billing"}
    assert {line["service"] for line in emf_lines(output)} == {"billing"}


# --- issue 9: the outcome wins over a flush; keyword calls; async; nesting; tenants ----


def test_a_failed_flush_never_replaces_the_handlers_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @lambda_handler(capture_cold_start_metric=False)
    def handler(event: Any, context: Any) -> str:
        metrics.add_metric("Orders", 1)
        metrics.metrics.namespace = None  # something unsets it mid-invocation
        return "value"

    assert handler({}, FakeContext()) == "value"
    output = capsys.readouterr().out
    (error,) = [x for x in log_lines(output) if x["level"] == "ERROR"]
    assert "metrics flush failed" in error["message"]
    assert "ConfigurationError" in error["message"]
    assert error["dropped_metrics"] == ["Orders"]
    assert [x["message"] for x in log_lines(output)].count("invocation completed") == 1


def test_a_failed_flush_never_hides_the_handlers_error(capsys: pytest.CaptureFixture[str]) -> None:
    @lambda_handler(capture_cold_start_metric=False)
    def handler(event: Any, context: Any) -> None:
        metrics.add_metric("Orders", 1)
        metrics.metrics.namespace = None
        raise KeyError("the handler's own")

    with pytest.raises(KeyError, match="the handler's own") as info:
        handler({}, FakeContext())
    assert info.value.__context__ is None
    assert any("metrics flush failed" in x["message"] for x in log_lines(capsys.readouterr().out))


def test_a_missing_namespace_fails_where_the_metric_is_added(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.metrics.namespace = None
    ran_after: list[bool] = []

    @lambda_handler(capture_cold_start_metric=False)
    def handler(event: Any, context: Any) -> None:
        metrics.add_metric("Orders", 1)
        ran_after.append(True)

    with pytest.raises(ConfigurationError, match="Orders"):
        handler({}, FakeContext())
    assert ran_after == []  # raised at add_metric, inside the handler


def test_self_referencing_metadata_keeps_the_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    @lambda_handler(capture_cold_start_metric=False)
    def handler(event: Any, context: Any) -> str:
        loop: dict[str, Any] = {}
        loop["loop"] = loop
        metrics.add_metadata("state", loop)
        metrics.add_metric("Orders", 1)
        return "ok"

    assert handler({}, FakeContext()) == "ok"
    (line,) = [m for m in emf_lines(capsys.readouterr().out) if "Orders" in m]
    assert line["state"] == {"loop": "<cycle>"}


def test_the_context_may_be_passed_by_keyword(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[Any] = []

    @lambda_handler(capture_cold_start_metric=False, log_event=True)
    def handler(event: Any, context: Any) -> None:
        seen.append(get_lambda_context())

    context = FakeContext()
    handler({"id": 5}, context=context)
    handler(event={"id": 6}, context=context)
    assert seen == [context, context]
    lines = log_lines(capsys.readouterr().out)
    assert [x["event"]["id"] for x in lines if x["message"] == "event"] == [5, 6]
    done = [x for x in lines if x["message"] == "invocation completed"]
    assert [x["function_request_id"] for x in done] == ["req-0001", "req-0001"]


def test_an_async_handler_is_refused_at_decoration() -> None:
    async def handler(event: Any, context: Any) -> None:
        pass

    with pytest.raises(TypeError, match=r"does not await.*asyncio.run"):
        lambda_handler(capture_cold_start_metric=False)(handler)


def test_nested_handlers_write_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @lambda_handler(capture_cold_start_metric=False)
    def inner(event: Any, context: Any) -> str:
        return "inner"

    @lambda_handler(capture_cold_start_metric=False)
    def outer(event: Any, context: Any) -> str:
        return inner(event, context)

    assert outer({}, FakeContext()) == "inner"
    done = [x for x in log_lines(capsys.readouterr().out) if x["logger"] == "lambda_perf.handler"]
    assert len(done) == 1
    assert done[0]["function_request_id"] == "req-0001"


def test_api_gateway_headers_are_redacted_with_log_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = make_handler(log_event=True)
    handler(
        {
            "id": 1,
            "headers": {"x-api-key": SECRET, "Cookie": SECRET, "accept": "json"},
            "multiValueHeaders": {"x-api-key": [SECRET], "accept": ["json"]},
        },
        FakeContext(),
    )
    output = capsys.readouterr().out
    assert SECRET not in output
    (event_line,) = [x for x in log_lines(output) if x["message"] == "event"]
    assert event_line["event"]["headers"]["accept"] == "json"


def test_the_tenant_id_is_on_the_invocation_line(capsys: pytest.CaptureFixture[str]) -> None:
    class TenantContext(FakeContext):
        tenant_id = "tenant-42"

    handler = make_handler()
    handler({"id": 1}, TenantContext())
    handler({"id": 2}, FakeContext())
    done = [x for x in log_lines(capsys.readouterr().out) if x["logger"] == "lambda_perf.handler"]
    assert [x.get("tenant_id") for x in done] == ["tenant-42", None]
