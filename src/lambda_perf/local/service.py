"""The local Lambda service: Lambda's HTTP API on 127.0.0.1, in front of a pool of real
execution environments.

``boto3.client("lambda", endpoint_url=service.endpoint_url)`` works against it unchanged:
``Invoke`` (``RequestResponse``, ``Event``, ``DryRun``; ``LogType=Tail``),
``GetFunction``, ``GetFunctionConfiguration`` and ``UpdateFunctionConfiguration``.
Synchronous invocations past the reserved concurrency get 429, as on Lambda; an update
retires every idle environment, so the next invocation is a cold start; asynchronous
invocations are queued, retried and sent to a dead-letter queue.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

from lambda_perf._errors import ConfigurationError

from . import report
from ._http import QuietHandler, QuietServer
from .environment import ExecutionEnvironment, Invocation

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .config import FunctionConfig

__all__ = ["InvokeResult", "LocalLambda"]

API_PREFIX = "/2015-03-31/functions/"
# Lambda retries a failed asynchronous invocation after about 1 and 2 minutes; locally
# the same schedule runs 60 times faster.
ASYNC_RETRY_DELAYS_S = (1.0, 2.0)
_ROUTE = re.compile(r"^/2015-03-31/functions/([^/]+)(/invocations|/configuration)?/?$")


class ServiceError(Exception):
    """An error answer of Lambda's API: HTTP status, error type, message."""

    def __init__(self, status: int, error_type: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.extra = extra


@dataclass
class InvokeResult:
    """A synchronous invocation's answer, and what the REPORT line says."""

    status: int
    payload: bytes
    function_error: str | None
    invocation: Invocation | None
    throttled: bool = False

    @property
    def log_tail(self) -> str:
        """The last 4 KB of the invocation's log, as ``LogType=Tail`` returns it."""
        if self.invocation is None:
            return ""
        text = "\n".join(self.invocation.logs) + "\n"
        data = text.encode()[-report.TAIL_BYTES :]
        return data.decode("utf-8", "ignore")

    @property
    def report(self) -> str:
        lines = [] if self.invocation is None else self.invocation.logs
        return next((line for line in reversed(lines) if line.startswith("REPORT ")), "")


class _ApiHandler(QuietHandler):
    server: _ApiServer

    def _error(self, error: ServiceError) -> None:
        body = json.dumps(
            {"Type": "User", "message": error.message, "Message": error.message, **error.extra}
        ).encode()
        self.send(
            error.status,
            body,
            {"Content-Type": "application/json", "x-amzn-ErrorType": error.error_type},
        )

    def _route(self, method: str) -> None:
        try:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            match = _ROUTE.match(url.path)
            if match is None:
                raise ServiceError(
                    404, "UnrecognizedClientException", f"no Lambda operation at {url.path}"
                )
            service = self.server.service
            service._check_name(unquote(match.group(1)))
            operation = (method, match.group(2) or "")
            if operation == ("POST", "/invocations"):
                self._invoke(service, body)
            elif operation == ("GET", ""):
                self.send_json(200, {**service.get_function(), "Code": {"RepositoryType": "S3"}})
            elif operation == ("GET", "/configuration"):
                self.send_json(200, service.get_function()["Configuration"])
            elif operation == ("PUT", "/configuration"):
                self.send_json(200, service._update_from_request(body))
            else:
                raise ServiceError(
                    405, "InvalidRequestContentException", f"{method} is not allowed here"
                )
        except ServiceError as error:
            self._error(error)
        except Exception as exc:  # never a stack trace to the caller
            self._error(ServiceError(500, "ServiceException", f"{type(exc).__name__}: {exc}"))

    def _invoke(self, service: LocalLambda, body: bytes) -> None:
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        client_context = _client_context(self.headers.get("X-Amz-Client-Context"))
        tenant_id = self.headers.get("X-Amz-Tenant-Id")
        qualifier = parse_qs(urlparse(self.path).query).get("Qualifier", ["$LATEST"])[0]
        if qualifier != "$LATEST":
            raise ServiceError(
                404,
                "ResourceNotFoundException",
                f"Function not found: {service.config.arn}:{qualifier} (the local service "
                f"serves $LATEST only)",
            )
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise ServiceError(
                400,
                "InvalidParameterValueException",
                f"X-Amz-Invocation-Type {kind!r}: use RequestResponse, Event or DryRun",
            )
        payload = service._check_payload(body, kind)
        if kind == "DryRun":
            self.send(204, b"", {"X-Amz-Executed-Version": "$LATEST"})
            return
        if kind == "Event":
            request_id = service.invoke_async(payload)
            self.send(202, b"", {"X-Amzn-Requestid": request_id})
            return
        result = service.invoke(payload, client_context=client_context, tenant_id=tenant_id)
        if result.throttled:
            raise ServiceError(
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
            )
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        assert result.invocation is not None
        headers["X-Amzn-Requestid"] = result.invocation.request_id
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail.encode()).decode()
        self.send(result.status, result.payload, headers)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


class _ApiServer(QuietServer):
    service: LocalLambda


def _client_context(header: str | None) -> str | None:
    """X-Amz-Client-Context is base64 of a JSON object; the runtime gets the JSON."""
    if not header:
        return None
    try:
        text = base64.b64decode(header, validate=True).decode()
        if not isinstance(json.loads(text), dict):
            raise ValueError
    except ValueError:
        raise ServiceError(
            400,
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        ) from None
    return text


def _print_line(line: str) -> None:
    sys.stderr.write(line + "\n")


class LocalLambda:
    """One function served locally. Use it as a context manager, or ``start``/``stop``.

    ``log`` receives every log line (the runtime's output and Lambda's START, END and
    REPORT lines), prefixed as CloudWatch shows them; by default, standard error.
    """

    def __init__(
        self,
        config: FunctionConfig,
        *,
        port: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self._sink = log or _print_line
        self._server = _ApiServer(("127.0.0.1", port), _ApiHandler)
        self._server.service = self
        self._lock = threading.Condition()
        self._idle: list[ExecutionEnvironment] = []
        self._busy: dict[ExecutionEnvironment, int] = {}  # environment -> invocations
        self._everything: list[ExecutionEnvironment] = []  # every one started, to stop
        self._count = 0
        self._stopped = False
        self._timers: list[threading.Timer] = []

    # --- life ---------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://{self._server.address}"

    def start(self) -> LocalLambda:
        thread = threading.Thread(target=self._server.serve_forever, name="lambda-api", daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        """Stop every environment process this service started (by PID, whole process
        groups), the pending retries and the HTTP server."""
        with self._lock:
            self._stopped = True
            environments = list(self._everything)
            timers = list(self._timers)
            self._lock.notify_all()
        for timer in timers:
            timer.cancel()
        for environment in environments:
            environment.stop()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalLambda:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        """PIDs of every runtime process started (alive or not)."""
        return [e.pid for e in self._everything if e.pid is not None]

    def _log(self, environment: ExecutionEnvironment | None, line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        where = self.config.function_name if environment is None else environment.log_stream
        self._sink(f"{stamp}Z {where} {line}")

    # --- the API's checks -----------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        config = self.config
        accepted = {
            config.function_name,
            config.arn,
            f"{config.arn}:$LATEST",
            f"{config.function_name}:$LATEST",
        }
        if name not in accepted and not name.endswith(f":function:{config.function_name}"):
            raise ServiceError(
                404,
                "ResourceNotFoundException",
                f"Function not found: arn:aws:lambda:{config.region}:123456789012:function:"
                f"{name} (this local service runs {config.function_name!r})",
            )

    def _check_payload(self, body: bytes, kind: str) -> bytes:
        limit = report.MAX_EVENT_REQUEST_BYTES if kind == "Event" else report.MAX_SYNC_REQUEST_BYTES
        if len(body) > limit:
            raise ServiceError(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the {kind} invocation type",
            )
        if not body:
            return b"{}"
        try:
            json.loads(body)
        except ValueError:
            raise ServiceError(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            ) from None
        return body

    def get_function(self) -> dict[str, Any]:
        return {"Configuration": self.config.description(), "Tags": {}}

    def _update_from_request(self, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            raise ServiceError(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            ) from None
        environment = request.get("Environment")
        variables = environment.get("Variables", {}) if isinstance(environment, dict) else None
        try:
            self.update_configuration(
                memory=request.get("MemorySize"),
                timeout=request.get("Timeout"),
                environment=variables,
            )
        except ConfigurationError as exc:
            raise ServiceError(400, "InvalidParameterValueException", str(exc)) from None
        return {**self.config.description(), "LastUpdateStatus": "InProgress"}

    def update_configuration(
        self, *, memory: object = None, timeout: object = None, environment: object = None
    ) -> None:
        """UpdateFunctionConfiguration: idle environments are retired at once, busy ones
        when they finish, so the next invocation is a cold start."""
        self.config.update(memory=memory, timeout=timeout, environment=environment)
        with self._lock:
            retired, self._idle = self._idle, []
        for environment_ in retired:
            environment_.stop()

    # --- environments ---------------------------------------------------------------------

    def _limit(self) -> int:
        if self.config.max_concurrency > 1:
            return 1  # Managed Instances: one environment, many workers
        return self.config.reserved_concurrency or 1_000_000

    @contextlib.contextmanager
    def _environment(self, *, wait: bool) -> Iterator[ExecutionEnvironment | None]:
        """An environment with room for one more invocation (None: throttled)."""
        environment = self._acquire(wait=wait)
        try:
            yield environment
        finally:
            if environment is not None:
                self._release(environment)

    def _acquire(self, *, wait: bool) -> ExecutionEnvironment | None:
        with self._lock:
            while not self._stopped:
                for candidate in list(self._busy):  # Managed Instances: a worker free?
                    if (
                        self._busy[candidate] < candidate.capacity
                        and candidate.usable
                        and candidate.revision == self.config.revision
                    ):
                        self._busy[candidate] += 1
                        return candidate
                while self._idle:
                    candidate = self._idle.pop()
                    if candidate.alive and candidate.revision == self.config.revision:
                        self._busy[candidate] = 1
                        return candidate
                    threading.Thread(target=candidate.stop, daemon=True).start()
                if len(self._busy) < self._limit():
                    break
                if not wait:
                    return None
                self._lock.wait(0.1)
            else:
                return None
            # A new environment, busy from the start: in Managed Instances mode other
            # callers join it (and wait for its init) instead of being throttled.
            self._count += 1
            environment = ExecutionEnvironment(
                self.config, log=lambda line: self._log(environment, line), index=self._count
            )
            self._everything.append(environment)
            self._busy[environment] = 1
        try:
            environment.start()
        except OSError as exc:
            environment.init_error = json.dumps(
                {"errorType": "Runtime.StartError", "errorMessage": f"cannot start: {exc}"}
            ).encode()
        return environment

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            count = self._busy.get(environment, 1) - 1
            if count > 0:
                self._busy[environment] = count
                self._lock.notify_all()
                return
            self._busy.pop(environment, None)
            keep = (
                environment.alive
                and environment.revision == self.config.revision
                and not self._stopped
            )
            if keep:
                self._idle.append(environment)
            self._lock.notify_all()
        if not keep:
            environment.stop()

    # --- invocations ----------------------------------------------------------------------

    def _new_invocation(
        self,
        payload: bytes,
        client_context: str | None = None,
        tenant_id: str | None = None,
        request_id: str | None = None,
    ) -> Invocation:
        invocation = Invocation(
            payload=payload,
            deadline_s=float(self.config.timeout),
            function_arn=self.config.arn,
            client_context=client_context,
            tenant_id=tenant_id,
        )
        if request_id is not None:
            invocation.request_id = request_id
        return invocation

    def _run(self, environment: ExecutionEnvironment, invocation: Invocation) -> Invocation:
        if not environment.wait_ready():  # at once when init is over
            return self._init_failure(environment, invocation)
        invocation.deadline_s = environment.timeout_s
        return environment.invoke(invocation)

    def _init_failure(
        self, environment: ExecutionEnvironment, invocation: Invocation
    ) -> Invocation:
        """Lambda answers an init failure with the runtime's init error (or an exit)."""
        environment.kill("exit")
        body = environment.init_error
        if body is None:
            returncode = None if environment.process is None else environment.process.poll()
            body = json.dumps(report.exit_error(invocation.request_id, returncode)).encode()
        try:
            error_type = json.loads(body).get("errorType")
        except (ValueError, AttributeError):
            error_type = "Runtime.Unknown"
        invocation.started = invocation.ended = time.perf_counter()
        invocation.finish("init", body, error_type)
        invocation.cold = True
        invocation.init_ms = environment.init_ms
        for line in (
            report.start_line(invocation.request_id),
            report.end_line(invocation.request_id),
            report.report_line(
                invocation.request_id,
                duration_ms=0.0,
                memory_mb=environment.memory_mb,
                max_memory_used_mb=max(1, -(-environment.peak_kib // 1024)),
                init_ms=environment.init_ms,
                status="error",
                error_type=error_type,
            ),
        ):
            invocation.logs.append(line)
            self._log(environment, line)
        return invocation

    def invoke(
        self,
        payload: bytes = b"{}",
        *,
        client_context: str | None = None,
        tenant_id: str | None = None,
    ) -> InvokeResult:
        """A RequestResponse invocation; ``throttled`` past the reserved concurrency."""
        with self._environment(wait=False) as environment:
            if environment is None:
                return InvokeResult(429, b"", None, None, throttled=True)
            invocation = self._run(
                environment, self._new_invocation(payload, client_context, tenant_id)
            )
        error = "Unhandled" if invocation.failed else None
        return InvokeResult(200, invocation.body, error, invocation)

    def invoke_async(self, payload: bytes = b"{}") -> str:
        """An Event invocation: queued, retried after a failure, then dead-lettered."""
        invocation = self._new_invocation(payload)
        self._schedule(payload, invocation.request_id, attempt=0, delay=0.0)
        return invocation.request_id

    def _schedule(self, payload: bytes, request_id: str, *, attempt: int, delay: float) -> None:
        timer = threading.Timer(delay, self._run_async, (payload, request_id, attempt))
        timer.daemon = True
        with self._lock:
            if self._stopped:
                return
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _run_async(self, payload: bytes, request_id: str, attempt: int) -> None:
        with self._environment(wait=True) as environment:
            if environment is None:
                return  # stopped
            invocation = self._run(
                environment, self._new_invocation(payload, request_id=request_id)
            )
        if not invocation.failed:
            return
        retries = self.config.max_retry_attempts
        if attempt < retries:
            delay = ASYNC_RETRY_DELAYS_S[min(attempt, len(ASYNC_RETRY_DELAYS_S) - 1)]
            self._log(
                None,
                f"async invocation {request_id} failed ({invocation.error_type}); retry "
                f"{attempt + 1} of {retries} in {delay:.0f}s (Lambda: {delay:.0f} min)",
            )
            self._schedule(payload, request_id, attempt=attempt + 1, delay=delay)
            return
        if self.config.dlq_url is None:
            self._log(None, f"async invocation {request_id} failed; no DLQ: the event is dropped")
            return
        self._dead_letter(payload, request_id, invocation)

    def _dead_letter(self, payload: bytes, request_id: str, invocation: Invocation) -> None:
        """Send the event to the DLQ as Lambda does: the event as the body, and the
        RequestID, ErrorCode and ErrorMessage attributes."""
        url = self.config.dlq_url
        assert url is not None
        try:
            message = json.loads(invocation.body).get("errorMessage", "")
        except (ValueError, AttributeError):
            message = invocation.body.decode("utf-8", "replace")
        try:
            sqs_client_for(url, self.config.region).send_message(
                QueueUrl=url,
                MessageBody=payload.decode("utf-8", "replace"),
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {
                        "DataType": "String",
                        "StringValue": (str(message) or "Unhandled")[:1024],
                    },
                },
            )
        except Exception as exc:
            self._log(
                None, f"async invocation {request_id}: could not send to the DLQ {url}: {exc}"
            )
            return
        self._log(None, f"async invocation {request_id} sent to the DLQ {url}")


def sqs_client_for(queue_url: str, region: str) -> Any:
    """An SQS client for the queue: its own host when it is not AWS (a local server)."""
    from lambda_perf.clients import get_aws_client

    parsed = urlparse(queue_url)
    if parsed.hostname and not parsed.hostname.endswith("amazonaws.com"):
        return get_aws_client(
            "sqs", region_name=region, endpoint_url=f"{parsed.scheme}://{parsed.netloc}"
        )
    return get_aws_client("sqs", region_name=region)
