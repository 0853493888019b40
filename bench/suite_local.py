"""The local Lambda service's own overhead: a warm invoke of a no-op handler through it,
against a direct in-process call of the same handler."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import Table, compare_runs

INVOKES = 50  # per sample

NOOP = "def handler(event, context):\n    return {'ok': True}\n"


class _Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


_CANNED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST"
    b'\r\nContent-Length: 12\r\n\r\n{"ok": true}'
)


def _canned_server() -> tuple[socket.socket, int]:
    """An HTTP server that answers every request with one canned Invoke response: what
    botocore costs on its own, with next to nothing behind it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        with conn:
            while data := conn.recv(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    if len(rest) < length:
                        break
                    buffer = rest[length:]
                    conn.sendall(_CANNED)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, listener.getsockname()[1]


def run(repeats: int) -> list[Table]:
    import boto3
    from botocore.config import Config

    from lambda_perf.local import FunctionConfig, LocalLambda

    with tempfile.TemporaryDirectory() as code_dir:
        Path(code_dir, "noop.py").write_text(NOOP)
        sys.path.insert(0, code_dir)
        import noop

        config = FunctionConfig.from_handler("noop.handler", code_dir, function_name="noop")
        with LocalLambda(config, log=lambda line: None) as service:
            client = boto3.client(
                "lambda",
                endpoint_url=service.endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(retries={"total_max_attempts": 1}),
            )
            payload = json.dumps({"n": 1}).encode()
            client.invoke(FunctionName="noop", Payload=payload)  # the cold start: not measured
            context = _Context()
            port = int(service.endpoint_url.rsplit(":", 1)[1])
            raw = http.client.HTTPConnection("127.0.0.1", port)
            listener, canned_port = _canned_server()
            canned = boto3.client(
                "lambda",
                endpoint_url=f"http://127.0.0.1:{canned_port}",
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(retries={"total_max_attempts": 1}),
            )

            def raw_invoke() -> bytes:
                raw.request("POST", "/2015-03-31/functions/noop/invocations", payload)
                return raw.getresponse().read()

            def per_invoke(call) -> float:  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                for _ in range(INVOKES):
                    call()
                return (time.perf_counter() - start) / INVOKES

            table = compare_runs(
                "local service: one warm invoke of a no-op handler",
                {
                    "direct in-process call of the handler": lambda: per_invoke(
                        lambda: noop.handler(json.loads(payload), context)
                    ),
                    "LocalLambda.invoke (Runtime API round trip, no Lambda API)": lambda: (
                        per_invoke(lambda: service.invoke(payload))
                    ),
                    "HTTP POST to the local service's Invoke (http.client, keep-alive)": lambda: (
                        per_invoke(raw_invoke)
                    ),
                    "boto3 lambda.invoke against a canned HTTP answer (botocore alone)": lambda: (
                        per_invoke(
                            lambda: canned.invoke(FunctionName="noop", Payload=payload)[
                                "Payload"
                            ].read()
                        )
                    ),
                    "boto3 lambda.invoke through the local service": lambda: per_invoke(
                        lambda: client.invoke(FunctionName="noop", Payload=payload)[
                            "Payload"
                        ].read()
                    ),
                },
                floor="direct in-process call of the handler",
                unit="µs",
                repeats=repeats,
            )
            raw.close()
            listener.close()
        sys.path.remove(code_dir)
    floor = table.medians["direct in-process call of the handler"]
    added = (
        table.medians["HTTP POST to the local service's Invoke (http.client, keep-alive)"] - floor
    ) * 1000.0
    botocore_ms = (
        table.medians["boto3 lambda.invoke against a canned HTTP answer (botocore alone)"] * 1000.0
    )
    through_boto3 = table.medians["boto3 lambda.invoke through the local service"] * 1000.0
    table.notes += [
        f"Wall time per invoke, {INVOKES} warm invokes per sample, on one warm environment "
        "(a real `python -m awslambdaric` process). The boto3 row is the whole path a caller "
        "sees: botocore's request building and signing, the Lambda API, the Runtime API, "
        "the runtime's own JSON handling, and the answer back.",
        f"Target: at most 2 ms of added latency per warm invoke, through the service's "
        f"Lambda API: measured {added:.2f} ms ({'met' if added <= 2.0 else '**not met**'}; "
        f"an absolute figure from this machine). Through boto3 the whole invoke takes "
        f"{through_boto3:.2f} ms, of which botocore's own request building, signing and "
        f"parsing is about {botocore_ms:.2f} ms (the canned-answer row).",
    ]
    return [table]
