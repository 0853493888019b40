"""The local Lambda service: real awslambdaric processes behind Lambda's API on 127.0.0.1,
driven through boto3's own ``lambda`` client.

Every test stops the service it started, and checks by PID that no runtime process is
left behind.
"""

from __future__ import annotations

import base64
import json
import os
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytest.importorskip("awslambdaric")

from lambda_perf.local import FunctionConfig, LocalLambda

HANDLERS = """
import json, os, sys, time

def handler(event, context):
    action = event.get("action")
    if action == "raise":
        raise ValueError("declined: " + event.get("why", ""))
    if action == "sleep":
        started = time.time()
        time.sleep(event["seconds"])
        return {"pid": os.getpid(), "started": started, "ended": time.time()}
    if action == "allocate":
        block = bytearray(event["mb"] * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        return {"allocated": len(block)}
    if action == "big":
        return "x" * (7 * 1024 * 1024)
    if action == "flaky":
        marker = event["marker"]
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("first attempt fails")
        return "second attempt"
    if action == "exit":
        os._exit(3)
    print("handled", json.dumps(event), flush=True)
    return {
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "tenant_id": getattr(context, "tenant_id", None),
        "client_context": context.client_context and context.client_context.custom,
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_INITIALIZATION_TYPE", "LAMBDA_TASK_ROOT", "_HANDLER", "TZ",
            "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_REGION", "GREETING",
            "_X_AMZN_TRACE_ID")},
    }
"""


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("functions")
    (root / "app.py").write_text(textwrap.dedent(HANDLERS))
    (root / "broken.py").write_text(
        "import no_such_module_anywhere\n\ndef handler(e, c):\n    pass\n"
    )
    return root


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def serve(code_dir: Path) -> Iterator[Callable[..., LocalLambda]]:
    """Start a service for a handler of code_dir; stop it after the test and check that
    none of its runtime processes survives."""
    started: list[LocalLambda] = []

    def start(handler: str = "app.handler", **options: Any) -> LocalLambda:
        options.setdefault("function_name", "local-fn")
        service = LocalLambda(
            FunctionConfig.from_handler(handler, code_dir, **options), log=lambda line: None
        )
        started.append(service.start())
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop()
        for service in started:
            assert [pid for pid in service.pids if alive(pid)] == []


def lambda_client(service: LocalLambda) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=service.endpoint_url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


def call(client: Any, event: dict[str, Any], **options: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(
        FunctionName="local-fn", Payload=json.dumps(event).encode(), LogType="Tail", **options
    )
    body = json.loads(response["Payload"].read() or b"null")
    return response, body


def report_of(response: dict[str, Any]) -> str:
    tail = base64.b64decode(response["LogResult"]).decode()
    return tail.strip().splitlines()[-1]


def test_cold_then_warm_then_cold_again_after_an_update(serve: Callable[..., LocalLambda]) -> None:
    service = serve(environment={"GREETING": "hello"})
    client = lambda_client(service)
    first, cold = call(client, {})
    report = report_of(first)
    assert report.startswith(f"REPORT RequestId: {cold['request_id']}\tDuration: ")
    assert "\tInit Duration: " in report
    assert float(report.split("Init Duration: ")[1].split(" ms")[0]) > 0
    assert "\tMemory Size: 128 MB\tMax Memory Used: " in report
    _, warm = call(client, {})
    second, _ = call(client, {})
    assert warm["pid"] == cold["pid"]  # warm reuse
    assert "Init Duration" not in report_of(second)
    assert cold["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "local-fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(service.config.code_dir),
        "_HANDLER": "app.handler",
        "TZ": ":UTC",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{service.config.runtime}",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/local-fn",
        "AWS_REGION": "us-east-1",
        "GREETING": "hello",
        "_X_AMZN_TRACE_ID": cold["env"]["_X_AMZN_TRACE_ID"],
    }
    assert cold["env"]["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert 0 < cold["remaining_ms"] <= 3000
    client.update_function_configuration(
        FunctionName="local-fn", MemorySize=256, Environment={"Variables": {"GREETING": "hi"}}
    )
    client.get_waiter("function_updated_v2").wait(FunctionName="local-fn")
    third, after = call(client, {})
    assert after["pid"] != cold["pid"]
    assert after["memory"] == "256"  # awslambdaric reads it from the environment
    assert after["env"]["GREETING"] == "hi"
    assert "Init Duration" in report_of(third)
    assert not alive(cold["pid"])  # the retired environment is gone


def test_a_handler_error_is_lambdas_error_json(serve: Callable[..., LocalLambda]) -> None:
    client = lambda_client(serve())
    response, body = call(client, {"action": "raise", "why": "card"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "declined: card"
    assert body["requestId"]
    assert any("raise ValueError" in line for line in body["stackTrace"])
    _, ok = call(client, {})
    assert "pid" in ok  # the environment survives a handler error


def test_a_timeout_kills_the_environment_and_the_next_start_is_cold(
    serve: Callable[..., LocalLambda],
) -> None:
    client = lambda_client(serve(timeout=1))
    _, before = call(client, {})
    response, body = call(client, {"action": "sleep", "seconds": 5})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Status: timeout" in report_of(response)
    assert not alive(before["pid"])
    after_response, after = call(client, {})
    assert after["pid"] != before["pid"]
    assert "Init Duration" in report_of(after_response)


def test_running_out_of_memory_is_reported_as_lambda_does(
    serve: Callable[..., LocalLambda],
) -> None:
    client = lambda_client(serve(memory=128))
    response, body = call(client, {"action": "allocate", "mb": 300})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    report = report_of(response)
    assert "Error Type: Runtime.OutOfMemory" in report
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert used > 128


def test_an_import_error_is_the_init_error_and_the_next_start_is_new(
    serve: Callable[..., LocalLambda],
) -> None:
    service = serve("broken.handler")
    client = lambda_client(service)
    response, body = call(client, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_anywhere" in body["errorMessage"]
    call(client, {})
    assert len(set(service.pids)) == 2  # each invocation tried a new environment


def test_a_process_that_exits_is_an_exit_error(serve: Callable[..., LocalLambda]) -> None:
    client = lambda_client(serve())
    _, body = call(client, {"action": "exit"})
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: exit status 3")
    _, after = call(client, {})
    assert "pid" in after


def test_a_response_over_6_mb_is_lambdas_payload_error(serve: Callable[..., LocalLambda]) -> None:
    client = lambda_client(serve())
    response, body = call(client, {"action": "big"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_event_and_dry_run_invocations(serve: Callable[..., LocalLambda]) -> None:
    client = lambda_client(serve())
    dry = client.invoke(FunctionName="local-fn", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    event = client.invoke(FunctionName="local-fn", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202


def test_configuration_and_function_descriptions(serve: Callable[..., LocalLambda]) -> None:
    client = lambda_client(serve(memory=512, timeout=30))
    configuration = client.get_function_configuration(FunctionName="local-fn")
    assert configuration["MemorySize"] == 512
    assert configuration["Timeout"] == 30
    assert configuration["State"] == "Active"
    assert configuration["LastUpdateStatus"] == "Successful"
    assert configuration["Handler"] == "app.handler"
    described = client.get_function(FunctionName=configuration["FunctionArn"])
    assert described["Configuration"]["FunctionName"] == "local-fn"
    unchecked = boto3.client(  # let the bad value reach the service
        "lambda",
        endpoint_url=client.meta.endpoint_url,
        region_name="us-east-1",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        unchecked.update_function_configuration(FunctionName="local-fn", MemorySize=64)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "MemorySize" in info.value.response["Error"]["Message"]
    assert client.get_function_configuration(FunctionName="local-fn")["MemorySize"] == 512


def test_unknown_functions_and_malformed_requests_get_lambdas_errors(
    serve: Callable[..., LocalLambda],
) -> None:
    service = serve()
    client = lambda_client(service)
    with pytest.raises(ClientError) as info:
        client.invoke(FunctionName="other-fn", Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        client.invoke(FunctionName="local-fn", Payload=b"{not json")
    assert info.value.response["Error"]["Code"] == "InvalidRequestContentException"
    request = urllib.request.Request(f"{service.endpoint_url}/nowhere", method="GET")
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=10)
    body = http_error.value.read().decode()
    http_error.value.close()
    assert "Traceback" not in body


def test_throttling_past_the_reserved_concurrency(serve: Callable[..., LocalLambda]) -> None:
    client = lambda_client(serve(reserved_concurrency=1, timeout=10))
    call(client, {})  # a warm environment
    results: list[Any] = []

    def slow() -> None:
        results.append(call(client, {"action": "sleep", "seconds": 1.5})[1])

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)  # against a real server: let the slow call take the environment
    with pytest.raises(ClientError) as info:
        client.invoke(FunctionName="local-fn", Payload=b"{}")
    thread.join(30)
    assert info.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "pid" in results[0]


def test_max_concurrency_runs_invocations_in_parallel_in_one_environment(
    serve: Callable[..., LocalLambda],
) -> None:
    service = serve(max_concurrency=2, timeout=10)
    client = lambda_client(service)
    bodies: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        bodies.append(call(client, {"action": "sleep", "seconds": 1.0})[1])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(bodies) == 2
    first, second = sorted(bodies, key=lambda b: b["started"])
    assert second["started"] < first["ended"]  # the two ran at the same time
    assert first["pid"] != second["pid"]  # in two worker processes ...
    assert len(service.pids) == 1  # ... of one environment


def test_the_tenant_id_and_client_context_reach_the_context(
    serve: Callable[..., LocalLambda],
) -> None:
    client = lambda_client(serve())
    context = base64.b64encode(json.dumps({"custom": {"app": "mobile"}}).encode()).decode()
    _, body = call(client, {}, TenantId="tenant-7", ClientContext=context)
    assert body["tenant_id"] == "tenant-7"
    assert body["client_context"] == {"app": "mobile"}
    with pytest.raises(ClientError) as info:
        call(client, {}, ClientContext="not base64!")
    assert info.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_a_stale_post_for_an_earlier_invocation_gets_410(serve: Callable[..., LocalLambda]) -> None:
    service = serve()
    result = service.invoke(b"{}")
    assert result.invocation is not None
    environment = service._idle[0]
    url = (
        f"http://{environment.runtime_api}/2018-06-01/runtime/invocation/"
        f"{result.invocation.request_id}/response"
    )
    request = urllib.request.Request(url, data=b'"late"', method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    info.value.close()
    assert info.value.code == 410


def test_logs_have_start_end_report_and_the_handlers_output(code_dir: Path) -> None:
    lines: list[str] = []
    with LocalLambda(
        FunctionConfig.from_handler("app.handler", code_dir, function_name="logged"),
        log=lines.append,
    ) as service:
        result = service.invoke(b'{"n": 1}')
    text = "\n".join(lines)
    request_id = result.invocation.request_id  # type: ignore[union-attr]
    assert f"START RequestId: {request_id} Version: $LATEST" in text
    assert 'handled {"n": 1}' in text
    assert f"END RequestId: {request_id}" in text
    assert result.log_tail.rstrip().splitlines()[-1].startswith("REPORT RequestId:")
    assert 'handled {"n": 1}' in result.log_tail
    assert not [pid for pid in service.pids if alive(pid)]


def test_async_failures_are_retried_then_dead_lettered(
    serve: Callable[..., LocalLambda], moto_server: str, tmp_path: Path
) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=f"dlq-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    service = serve(dlq_url=queue_url, max_retry_attempts=1)
    client = lambda_client(service)
    failing = {"action": "raise", "why": "always"}
    flaky = {"action": "flaky", "marker": str(tmp_path / "flaky-marker")}
    for event in (failing, flaky):
        client.invoke(
            FunctionName="local-fn", InvocationType="Event", Payload=json.dumps(event).encode()
        )
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
    time.sleep(1.5)  # the flaky event's retry (1 s) has run by now
    messages += sqs.receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages", [])
    assert len(messages) == 1  # the flaky one succeeded on its retry
    message = messages[0]
    assert json.loads(message["Body"]) == failing
    attributes = message["MessageAttributes"]
    assert attributes["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    assert attributes["ErrorMessage"]["StringValue"] == "declined: always"
    assert attributes["RequestID"]["StringValue"]
    assert (tmp_path / "flaky-marker").exists()
