"""One execution environment: a real ``python -m awslambdaric`` process and the Runtime
API (2018-06-01) it polls, on its own port on 127.0.0.1.

The environment hands invocations to the runtime through ``/runtime/invocation/next``,
takes back ``/response`` and ``/error`` posts, and watches the process: its peak RSS
(``Max Memory Used``, and the out-of-memory kill), its exit, and the deadline. Its
stdout and stderr go to a log sink line by line, and to the invocation they belong to.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import re
import select
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import report
from ._http import QuietHandler, QuietServer

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import FunctionConfig

RUNTIME_PREFIX = "/2018-06-01/runtime"
INIT_LIMIT_S = 10.0  # Lambda's on-demand init phase limit
MONITOR_INTERVAL_S = 0.02
_POST_PATH = re.compile(rf"^{RUNTIME_PREFIX}/invocation/([^/]+)/(response|error)$")


class _Ids(random.Random):
    """Request, invocation and trace ids: unique, not secret (no syscall per id)."""

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.getrandbits(128), version=4)


_ids = _Ids()


@dataclass
class Invocation:
    """One invocation, as handed to a runtime and as it ended."""

    payload: bytes
    deadline_s: float  # seconds the handler may run
    function_arn: str
    client_context: str | None = None
    cognito_identity: str | None = None
    tenant_id: str | None = None
    request_id: str = field(default_factory=lambda: str(_ids.uuid4()))
    invocation_id: str = field(default_factory=lambda: f"{_ids.getrandbits(128):032x}")
    trace_id: str = field(
        default_factory=lambda: (
            f"Root=1-{int(time.time()):08x}-{_ids.getrandbits(96):024x};Parent="
            f"{_ids.getrandbits(64):016x};Sampled=0"
        )
    )
    # How it ended: "ok", "error" (the function's), or the environment's failure:
    # "timeout", "oom", "exit", "init", "too_large".
    outcome: str | None = None
    body: bytes = b""
    error_type: str | None = None
    started: float = 0.0  # perf_counter when handed to the runtime
    ended: float = 0.0
    logs: list[str] = field(default_factory=list)
    cold: bool = False
    init_ms: float | None = None
    pid: int | None = None  # the runtime process that ran it
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def duration_ms(self) -> float:
        return max(0.0, (self.ended - self.started) * 1000.0)

    def finish(self, outcome: str, body: bytes, error_type: str | None = None) -> bool:
        """Record the end once; False if it had ended already (a late post)."""
        if self.done.is_set():
            return False
        self.ended = time.perf_counter()
        self.outcome, self.body, self.error_type = outcome, body, error_type
        self.done.set()
        return True

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"


class _RuntimeHandler(QuietHandler):
    server: _RuntimeServer

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        environment = self.server.environment
        if self.path == f"{RUNTIME_PREFIX}/invocation/next":
            invocation = environment._next_for_runtime()
            if invocation is None:  # shutting down: the runtime is about to be killed
                self.send_json(500, {"errorType": "ShuttingDown", "errorMessage": "stopping"})
                return
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(
                    int((time.time() + invocation.deadline_s) * 1000)
                ),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
                "Lambda-Runtime-Invocation-Id": invocation.invocation_id,
            }
            if invocation.client_context:
                headers["Lambda-Runtime-Client-Context"] = invocation.client_context
            if invocation.cognito_identity:
                headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
            if invocation.tenant_id:
                headers["Lambda-Runtime-Aws-Tenant-Id"] = invocation.tenant_id
            self.send(200, invocation.payload, headers)
            return
        self.send_json(404, {"errorType": "NotFound", "errorMessage": f"no route {self.path}"})

    def do_POST(self) -> None:
        environment = self.server.environment
        body = self._body()
        if self.path == f"{RUNTIME_PREFIX}/init/error":
            environment._init_failed(body)
            self.send_json(202, {"status": "OK"})
            return
        match = _POST_PATH.match(self.path)
        if match is None:
            self.send_json(404, {"errorType": "NotFound", "errorMessage": f"no route {self.path}"})
            return
        request_id, kind = match.groups()
        invocation = environment._in_flight.get(request_id)
        stated = self.headers.get("Lambda-Runtime-Invocation-Id")
        if invocation is None or (stated and stated != invocation.invocation_id):
            self.send_json(
                410,
                {
                    "errorType": "InvalidRequestID",
                    "errorMessage": f"invocation {request_id} is not in progress",
                },
            )
            return
        if kind == "response":
            if len(body) > report.MAX_RESPONSE_BYTES:
                error = report.response_too_large_error(len(body))
                environment._complete(
                    invocation, "too_large", json.dumps(error).encode(), error["errorType"]
                )
                self.send_json(413, error)
                return
            environment._complete(invocation, "ok", body)
        else:
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            with contextlib.suppress(ValueError, AttributeError):
                error_type = json.loads(body).get("errorType") or error_type
            environment._complete(invocation, "error", body, error_type)
        self.send_json(202, {"status": "OK"})


class _RuntimeServer(QuietServer):
    environment: ExecutionEnvironment


def _proc_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Managed Instances workers are forked children)."""
    tree, index = [pid], 0
    while index < len(tree):
        parent = tree[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    tree.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return tree


class ExecutionEnvironment:
    """A runtime process and its Runtime API. ``capacity`` invocations at once (more than
    one only in Managed Instances mode, where awslambdaric forks that many workers)."""

    def __init__(
        self,
        config: FunctionConfig,
        *,
        log: Callable[[str], None],
        index: int = 0,
    ) -> None:
        self.config = config
        self.revision = config.revision
        self.memory_mb = config.memory
        self.timeout_s = float(config.timeout)
        self.capacity = config.max_concurrency
        self.index = index
        self.log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        self._log = log
        self._queue: queue.Queue[Invocation | None] = queue.Queue()
        self._in_flight: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = False
        self.init_error: bytes | None = None
        self.init_ms: float | None = None  # from process start to the first /next
        self.cold_pending = True  # the next invocation handed out is this one's cold start
        self.peak_kib = 0
        self.failure: str | None = None  # "timeout", "oom", "exit": why it died
        self.process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._server = _RuntimeServer(("127.0.0.1", 0), _RuntimeHandler)
        self._server.environment = self

    # --- life ---------------------------------------------------------------------------

    @property
    def runtime_api(self) -> str:
        return self._server.address

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.failure is None

    @property
    def usable(self) -> bool:
        """Starting or running, and not failed: it may take invocations."""
        process = self.process
        return self.failure is None and (process is None or process.poll() is None)

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    def _environment_variables(self) -> dict[str, str]:
        config = self.config
        python = config.runtime
        variables = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_LAMBDA_", "_LAMBDA", "LAMBDA_TASK_ROOT", "_HANDLER"))
        }
        variables.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{python}",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(config.code_dir),
                "_HANDLER": config.handler,
                "TZ": ":UTC",
                "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(
                    [str(config.code_dir), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
            }
        )
        if self.capacity > 1:
            variables["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.capacity)
        variables.update(config.environment)
        return variables

    def start(self) -> None:
        """Start the Runtime API and the runtime process (init begins)."""
        serve = threading.Thread(
            target=self._server.serve_forever, name=f"runtime-api-{self.index}", daemon=True
        )
        serve.start()
        self._started_at = time.perf_counter()
        self.process = subprocess.Popen(
            [self.config.python, "-m", "awslambdaric", self.config.handler],
            cwd=self.config.code_dir,
            env=self._environment_variables(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole, workers too
        )
        for target, name in ((self._read_logs, "logs"), (self._monitor, "monitor")):
            thread = threading.Thread(target=target, name=f"{name}-{self.index}", daemon=True)
            thread.start()

    def wait_ready(self) -> bool:
        """Wait for init to end: True once the runtime asked for work; False if init
        failed, the process died, or init passed Lambda's 10 s limit (then it is killed)."""
        if self._ready.is_set():
            return self.init_error is None
        limit = max(INIT_LIMIT_S, self.timeout_s)
        deadline = time.perf_counter() + limit
        while not self._ready.wait(0.005):
            # Not started yet is fine (another caller is starting it); dead is not.
            if self.init_error is not None or not self.usable:
                return False
            if time.perf_counter() > deadline:
                self.init_error = json.dumps(
                    {
                        "errorType": "Runtime.InitTimeout",
                        "errorMessage": f"INIT phase did not finish within {limit:.0f} seconds",
                    }
                ).encode()
                self.kill("exit")
                return False
        return True

    def kill(self, reason: str) -> None:
        """Kill the process group now; in-flight invocations fail for ``reason``."""
        if self.failure is None:
            self.failure = reason
        self._kill_group()
        self._fail_in_flight()

    def _kill_group(self) -> None:
        """SIGKILL the runtime's process group (its workers too) and reap it."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)

    def stop(self) -> None:
        """Stop the runtime (by PID, its whole group) and the Runtime API."""
        self._stopping = True
        for _ in range(self.capacity + 1):
            self._queue.put(None)  # release pollers
        if self.failure is None:
            self.failure = "stopped"
        self._kill_group()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self._fail_in_flight()
        self._server.shutdown()
        self._server.server_close()

    # --- invocations ----------------------------------------------------------------------

    def invoke(self, invocation: Invocation) -> Invocation:
        """Run one invocation to its end (the function's answer, or the environment's
        failure: timeout, out of memory, exit). The caller checks ``alive`` afterwards."""
        with self._lock:
            cold = self.cold_pending
            self.cold_pending = False
        invocation.logs.append(report.start_line(invocation.request_id))
        self._log(report.start_line(invocation.request_id))
        self._in_flight[invocation.request_id] = invocation
        invocation.started = time.perf_counter()
        self._queue.put(invocation)
        if not invocation.done.wait(invocation.deadline_s):
            self.kill("timeout")  # Lambda: past the deadline, the environment is killed
            error = report.timeout_error(invocation.request_id, invocation.deadline_s)
            invocation.finish("timeout", json.dumps(error).encode(), error["errorType"])
            invocation.ended = invocation.started + invocation.deadline_s
            line = (
                f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z "
                f"{invocation.request_id} Task timed out after {invocation.deadline_s:.2f} seconds"
            )
            invocation.logs.append(line)
            self._log(line)
        self._drain_logs()
        self._in_flight.pop(invocation.request_id, None)
        invocation.pid = self.pid
        self._record_end(invocation, cold)
        return invocation

    def _record_end(self, invocation: Invocation, cold: bool) -> None:
        status = error_type = None
        if invocation.outcome in ("timeout", "oom", "exit"):
            status = "timeout" if invocation.outcome == "timeout" else "error"
            error_type = None if invocation.outcome == "timeout" else invocation.error_type
        for line in (
            report.end_line(invocation.request_id),
            report.report_line(
                invocation.request_id,
                duration_ms=invocation.duration_ms,
                memory_mb=self.memory_mb,
                max_memory_used_mb=max(1, -(-self.peak_kib // 1024)),
                init_ms=self.init_ms if cold else None,
                status=status,
                error_type=error_type,
            ),
        ):
            invocation.logs.append(line)
            self._log(line)
        invocation.cold = cold
        invocation.init_ms = self.init_ms if cold else None

    def _next_for_runtime(self) -> Invocation | None:
        """What ``/next`` answers: blocks until an invocation is handed over."""
        if not self._ready.is_set():
            self.init_ms = (time.perf_counter() - self._started_at) * 1000.0
            self._ready.set()
        invocation = self._queue.get()
        if invocation is None or self._stopping:
            return None
        return invocation

    def _complete(
        self, invocation: Invocation, outcome: str, body: bytes, error_type: str | None = None
    ) -> None:
        invocation.finish(outcome, body, error_type)

    def _init_failed(self, body: bytes) -> None:
        self.init_error = body

    def _fail_in_flight(self) -> None:
        for invocation in list(self._in_flight.values()):
            if self.failure == "oom":
                error = report.out_of_memory_error(invocation.request_id)
                outcome = "oom"
            elif self.failure == "timeout":
                continue  # the invoking thread records the timeout itself
            else:
                returncode = None if self.process is None else self.process.poll()
                error = report.exit_error(invocation.request_id, returncode)
                outcome = "exit"
            invocation.finish(outcome, json.dumps(error).encode(), error["errorType"])

    # --- watching the process -------------------------------------------------------------

    def _monitor(self) -> None:
        process = self.process
        assert process is not None
        limit_kib = self.memory_mb * 1024
        while process.poll() is None:
            tree = _process_tree(process.pid)
            rss = sum(_proc_kib(pid, "VmRSS:") for pid in tree)
            peak = max(rss, _proc_kib(process.pid, "VmHWM:"))
            if peak > self.peak_kib:
                self.peak_kib = peak
            if rss > limit_kib and self.failure is None:
                self.kill("oom")  # Lambda: past the memory size, the runtime is killed
                break
            time.sleep(MONITOR_INTERVAL_S)
        if self.failure is None and not self._stopping:
            self.failure = "exit"
        self._fail_in_flight()

    def _read_logs(self) -> None:
        process = self.process
        assert process is not None
        assert process.stdout is not None
        fd = process.stdout.fileno()
        pending = b""
        while True:
            try:
                readable, _, _ = select.select([fd], [], [], 0.5)
            except (OSError, ValueError):
                break
            if not readable:
                if process.poll() is not None:
                    break
                continue
            with self._log_lock:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    self._emit(raw.decode("utf-8", "replace").rstrip("\r"))
        if pending:
            self._emit(pending.decode("utf-8", "replace"))

    def _emit(self, line: str) -> None:
        self._log(line)
        for invocation in list(self._in_flight.values()):
            invocation.logs.append(line)

    def _drain_logs(self) -> None:
        """Let the reader take what the runtime wrote before it answered (bounded)."""
        process = self.process
        if process is None or process.stdout is None or process.stdout.closed:
            return
        deadline = time.perf_counter() + 0.05
        try:
            while select.select([process.stdout.fileno()], [], [], 0)[0]:
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.0002)
        except (OSError, ValueError):
            return
        with self._log_lock:
            pass  # a chunk being read has been handed out
