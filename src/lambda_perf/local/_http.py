"""What the Lambda API and the Runtime API servers share: HTTP/1.1 keep-alive, small
answers sent at once, no request log, and a peer that hangs up treated as expected."""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Small answers go out at once, not after the peer's delayed ACK (Nagle).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are not the function's logs

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_json(self, status: int, document: dict[str, Any]) -> None:
        self.send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as clients reach it."""
        return f"127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that hung up (a killed runtime, a caller gone) is expected, not news."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)
