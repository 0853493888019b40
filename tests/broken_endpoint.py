"""A TCP endpoint on 127.0.0.1 that misbehaves the way a failing AWS endpoint does (the
``broken_endpoint`` fixture in conftest.py makes them and stops each one)."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class BrokenEndpoint:
    """A TCP endpoint on 127.0.0.1 that reads a request and then either never answers
    ("hang") or closes the connection without a response ("close")."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._held: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(2.0)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if self.mode == "close":
                conn.close()
            else:
                self._held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._listener.close()
