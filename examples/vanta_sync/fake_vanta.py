"""A local stand-in for the Vanta API, on 127.0.0.1, for the example's runs and tests.

It follows the rules Vanta documents: OAuth client credentials with the scope
``vanta-api.all:read``, one live token per application (minting revokes the previous
one), tokens that expire after an hour, 5 token requests a minute, ``pageSize`` at most
100, opaque cursors, and vulnerabilities without an SLA hidden unless
``includeVulnerabilitiesWithoutSlas=true``. Records are synthetic but shaped like Vanta's,
generated from a fixed seed one at a time (nothing is held in memory).

Faults can be set at start or at run time (``FakeVanta.set_faults`` or
``POST /_control``): 429s with or without Retry-After, bursts of 5xx, slow responses, a
token revoked mid-run, and malformed pages. Every request is logged (``requests``).

As a script: ``python fake_vanta.py --port 8765 --vulnerabilities 5000``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

CLIENT_ID = "vanta-example-client"
CLIENT_SECRET = "vanta-example-secret-not-real"
SCOPE = "vanta-api.all:read"
TOKEN_LIFETIME_S = 3600
TOKEN_REQUESTS_PER_MINUTE = 5
MAX_PAGE_SIZE = 100
NO_SLA_EVERY = 7  # every 7th vulnerability has no SLA (no remediateByDate)
DATASETS = {
    "/v1/vulnerabilities": "vulnerabilities",
    "/v1/vulnerability-remediations": "remediations",
}
MALFORMED = ("not_json", "no_results", "repeat_cursor", "missing_id", "forbidden", "duplicate_id")

_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
_PACKAGES = ("openssl", "glibc", "log4j-core", "urllib3", "lodash", "zlib", "curl", "nginx")


def vulnerability(seed: int, index: int) -> dict[str, Any]:
    """The index-th vulnerability: always the same for one seed."""
    rng = random.Random(f"{seed}-v-{index}")
    package = rng.choice(_PACKAGES)
    detected = 1_700_000_000 + rng.randrange(0, 30_000_000)
    has_sla = index % NO_SLA_EVERY != 3
    return {
        "id": f"vuln-{index:07d}-{rng.getrandbits(32):08x}",
        "name": f"CVE-{2020 + index % 6}-{10000 + index}",
        "description": f"{package}: a flaw that lets an attacker do something unwanted",
        "integrationId": rng.choice(("aws_inspector", "snyk", "github_dependabot")),
        "packageIdentifier": f"{package}@{rng.randrange(1, 9)}.{rng.randrange(0, 20)}",
        "vulnerabilityType": "COMMON",
        "targetId": f"asset-{rng.randrange(1, 500):04d}",
        "firstDetectedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(detected)),
        "sourceDetectedDate": None,
        "lastDetectedDate": None,
        "severity": rng.choice(_SEVERITIES),
        "cvssSeverityScore": round(rng.uniform(1.0, 10.0), 1),
        "scannerScore": None,
        "isFixable": rng.random() < 0.8,
        "remediateByDate": (
            time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(detected + 30 * 86400))
            if has_sla
            else None
        ),
        "relatedVulns": [],
        "relatedUrls": [f"https://nvd.nist.gov/vuln/detail/CVE-{2020 + index % 6}-{10000 + index}"],
        "externalURL": f"https://scanner.example/findings/{index}",
        "scanSource": None,
        "deactivateMetadata": None,
    }


def remediation(seed: int, index: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}-r-{index}")
    detected = 1_700_000_000 + rng.randrange(0, 30_000_000)
    return {
        "id": f"rem-{index:07d}-{rng.getrandbits(32):08x}",
        "vulnerabilityId": f"vuln-{rng.randrange(0, 1_000_000):07d}",
        "vulnerableAssetId": f"asset-{rng.randrange(1, 500):04d}",
        "severity": rng.choice(_SEVERITIES),
        "detectedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(detected)),
        "slaDeadlineDate": time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(detected + 30 * 86400)
        ),
        "remediationDate": time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(detected + rng.randrange(1, 40) * 86400)
        ),
    }


@dataclass
class Faults:
    """What to break. Page requests are counted from 1 across both datasets."""

    rate_limit_at: set[int] = field(default_factory=set)  # answer these page requests 429
    retry_after: str | None = None  # the Retry-After header on those 429s (None: no header)
    error_burst_at: int | None = None  # from this page request on ...
    error_burst: int = 0  # ... this many 500/502/503 answers
    unavailable: bool = False  # every page request gets 503 (an outage)
    slow_ms: int = 0  # added to every page request
    revoke_at: int | None = None  # revoke the live token just before this page request
    malformed: str | None = None  # one of MALFORMED ...
    malformed_at: int = 1  # ... on this page request

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Faults:
        faults = cls()
        for key, value in values.items():
            if not hasattr(faults, key):
                raise ValueError(f"unknown fault {key!r}")
            setattr(faults, key, set(value) if key == "rate_limit_at" else value)
        if faults.malformed is not None and faults.malformed not in MALFORMED:
            raise ValueError(f"malformed must be one of {MALFORMED}")
        return faults


class FakeVanta:
    """The running fake: ``url``, ``requests`` (the log), ``set_faults``, ``stop``."""

    def __init__(
        self,
        *,
        vulnerabilities: int = 5000,
        remediations: int = 2000,
        seed: int = 7,
        faults: dict[str, Any] | None = None,
        port: int = 0,
    ) -> None:
        self.counts = {"vulnerabilities": vulnerabilities, "remediations": remediations}
        self.seed = seed
        self.faults = Faults.from_dict(faults or {})
        self.requests: list[dict[str, Any]] = []
        self.page_requests = 0
        self.live_token: str | None = None
        self.token_expires = 0.0
        self.token_requests: list[float] = []
        self.lock = threading.Lock()
        self._salt = secrets.token_hex(4)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set_faults(self, **values: Any) -> None:
        with self.lock:
            self.faults = Faults.from_dict(values)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def records(self, dataset: str, *, include_without_sla: bool = True) -> list[dict[str, Any]]:
        """What a complete, correct sync of ``dataset`` must store, in order."""
        make = vulnerability if dataset == "vulnerabilities" else remediation
        out = [make(self.seed, i) for i in range(self.counts[dataset])]
        if dataset == "vulnerabilities" and not include_without_sla:
            out = [r for r in out if r["remediateByDate"] is not None]
        return out

    def revoke(self) -> None:
        with self.lock:
            self.live_token = None

    # cursors are opaque to clients, and bound to this server
    def cursor(self, dataset: str, offset: int) -> str:
        text = f"{dataset}:{offset}:{self._salt}"
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return base64.urlsafe_b64encode(f"{text}:{digest}".encode()).decode()

    def offset(self, dataset: str, cursor: str | None) -> int | None:
        if not cursor:
            return 0
        try:
            name, offset, salt, digest = base64.urlsafe_b64decode(cursor).decode().split(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if name != dataset or salt != self._salt:
            return None
        if hashlib.sha256(f"{name}:{offset}:{salt}".encode()).hexdigest()[:8] != digest:
            return None
        return int(offset)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeVanta:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path == "/_control":
            try:
                self.fake.set_faults(**json.loads(self._body() or b"{}"))
            except (ValueError, TypeError) as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"ok": True})
            return
        if url.path != "/oauth/token":
            self._send(404, {"error": "not found"})
            return
        fake = self.fake
        now = time.time()
        try:
            request = json.loads(self._body())
        except ValueError:
            self._send(400, {"error": "invalid_request"})
            return
        with fake.lock:
            fake.requests.append({"kind": "token", "at": now})
            fake.token_requests = [t for t in fake.token_requests if now - t < 60]
            if len(fake.token_requests) >= TOKEN_REQUESTS_PER_MINUTE:
                self._send(429, {"error": "rate_limited"}, {"Retry-After": "60"})
                return
            fake.token_requests.append(now)
            if (request.get("client_id"), request.get("client_secret")) != (
                CLIENT_ID,
                CLIENT_SECRET,
            ) or request.get("grant_type") != "client_credentials":
                self._send(401, {"error": "invalid_client"})
                return
            if request.get("scope") != SCOPE:
                self._send(400, {"error": "invalid_scope"})
                return
            fake.live_token = secrets.token_urlsafe(24)  # the previous one is revoked
            fake.token_expires = now + TOKEN_LIFETIME_S
            token = fake.live_token
        self._send(
            200, {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        )

    def do_GET(self) -> None:
        fake = self.fake
        url = urlparse(self.path)
        if url.path == "/_log":
            with fake.lock:
                self._send(200, list(fake.requests))
            return
        dataset = DATASETS.get(url.path)
        if dataset is None:
            self._send(404, {"error": "not found"})
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with fake.lock:
            fake.page_requests += 1
            number = fake.page_requests
            faults = fake.faults
            if faults.revoke_at == number:
                fake.live_token = None
            token_ok = (
                fake.live_token is not None
                and self.headers.get("Authorization") == f"Bearer {fake.live_token}"
                and time.time() < fake.token_expires
            )
            fake.requests.append(
                {
                    "kind": "page",
                    "number": number,
                    "dataset": dataset,
                    "cursor": query.get("pageCursor"),
                    "page_size": query.get("pageSize"),
                    "include_no_sla": query.get("includeVulnerabilitiesWithoutSlas"),
                }
            )
        if faults.slow_ms:
            time.sleep(faults.slow_ms / 1000.0)
        if not token_ok:
            self._send(401, {"error": "invalid_token"})
            return
        if faults.unavailable:
            self._send(503, {"error": "unavailable"})
            return
        if number in faults.rate_limit_at:
            headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
            self._send(429, {"error": "rate_limited"}, headers)
            return
        burst = faults.error_burst_at
        if burst is not None and burst <= number < burst + faults.error_burst:
            self._send((500, 502, 503)[(number - burst) % 3], {"error": "server error"})
            return
        try:
            size = int(query.get("pageSize", "10"))
        except ValueError:
            size = -1
        if not 1 <= size <= MAX_PAGE_SIZE:
            self._send(400, {"error": f"pageSize must be 1 to {MAX_PAGE_SIZE}"})
            return
        offset = fake.offset(dataset, query.get("pageCursor"))
        if offset is None:
            self._send(400, {"error": "invalid pageCursor"})
            return
        include = query.get("includeVulnerabilitiesWithoutSlas") == "true"
        self._page(dataset, offset, size, include, number, faults)

    def _page(
        self, dataset: str, offset: int, size: int, include: bool, number: int, faults: Faults
    ) -> None:
        fake = self.fake
        total = fake.counts[dataset]
        make = vulnerability if dataset == "vulnerabilities" else remediation
        data, position = [], offset
        while len(data) < size and position < total:
            record = make(fake.seed, position)
            position += 1
            if dataset == "vulnerabilities" and not include and record["remediateByDate"] is None:
                continue  # Vanta hides vulnerabilities without an SLA unless asked
            data.append(record)
        has_next = position < total
        end_cursor = fake.cursor(dataset, position) if has_next else None
        bad = faults.malformed if faults.malformed_at == number else None
        if bad == "not_json":
            self._send(200, b"<html>upstream error</html>")
            return
        if bad == "no_results":
            self._send(200, {"data": data})
            return
        if bad == "forbidden":
            self._send(403, {"error": "forbidden"})
            return
        if bad == "repeat_cursor":
            end_cursor, has_next = fake.cursor(dataset, offset), True
        if bad == "missing_id" and data:
            data[0] = {k: v for k, v in data[0].items() if k != "id"}
        if bad == "duplicate_id" and len(data) > 1:
            data[1] = dict(data[1], id=data[0]["id"])
        self._send(
            200,
            {
                "results": {
                    "data": data,
                    "pageInfo": {
                        "endCursor": end_cursor,
                        "hasNextPage": has_next,
                        "startCursor": fake.cursor(dataset, offset),
                        "hasPreviousPage": offset > 0,
                    },
                }
            },
        )


def start(**options: Any) -> FakeVanta:
    """Start the fake (see FakeVanta's arguments); ``.url``, ``.requests``, ``.stop()``."""
    return FakeVanta(**options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--vulnerabilities", type=int, default=5000)
    parser.add_argument("--remediations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    fake = start(
        port=args.port,
        vulnerabilities=args.vulnerabilities,
        remediations=args.remediations,
        seed=args.seed,
    )
    print(f"fake Vanta API on {fake.url} (client_id={CLIENT_ID!r}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
