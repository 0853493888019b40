"""The Vanta sync end to end: the function on the local Lambda service (real awslambdaric
processes), the fake Vanta API on http.server, S3, Secrets Manager and SQS on moto."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from conftest import Deployment

DATE = "2026-11-30"


def test_a_full_sync_stores_every_record_then_a_rerun_is_skipped(
    deploy: Callable[..., Deployment],
) -> None:
    d = deploy()
    result, error = d.invoke({"date": DATE})
    assert error is None, result
    assert result == {
        "status": "complete",
        "date": DATE,
        "vulnerabilities": 250,
        "remediations": 120,
        "parts": 5,  # 100 records a part: 3 + 2
        "manifest": f"vanta/_runs/dt={DATE}/manifest.json",
    }
    assert d.verify(DATE) == []
    assert not [
        k for k in d.object_keys() if "/run=" in k or k.endswith(("lease.json", "checkpoint.json"))
    ]
    pages = d.page_requests()
    assert {p["page_size"] for p in pages} == {"100"}
    assert all(p["include_no_sla"] == "true" for p in pages if p["dataset"] == "vulnerabilities")
    assert d.token_requests() == 1
    lines = [
        json.loads(x.split(" ", 2)[-1]) for x in d.lines if x.split(" ", 2)[-1].startswith("{")
    ]
    (final,) = [x for x in lines if x.get("message") == "Sync completed successfully"]
    assert final["vulnerabilities_count"] == 250
    assert final["remediations_count"] == 120
    assert final["cold_start"] is True
    assert final["status"] == "complete"
    assert final["parts"] == 5
    assert final["duration_ms"] > 0
    emf = [x for x in lines if "_aws" in x and "VulnerabilitiesFetched" in x]
    assert emf[0]["PagesFetched"] == 5
    assert emf[0]["TokenMints"] == 1
    assert emf[0]["ObjectsStored"] == 5
    assert emf[0]["BytesStored"] > 0

    again, _ = d.invoke({"date": DATE})
    assert again["status"] == "skipped"
    assert d.token_requests() == 1  # cached token, no new mint


def test_a_forced_rerun_replaces_the_date_and_a_failed_one_leaves_it_intact(
    deploy: Callable[..., Deployment],
) -> None:
    d = deploy()
    d.invoke({"date": DATE})
    first = d.manifest(DATE)
    assert first is not None
    forced, error = d.invoke({"date": DATE, "force": True})
    assert error is None
    assert forced["status"] == "complete"
    second = d.manifest(DATE)
    assert second is not None
    assert second["run_id"] != first["run_id"]
    assert d.verify(DATE) == []
    # A forced re-run that fails midway: the published date is untouched.
    d.fake.set_faults(malformed="not_json", malformed_at=len(d.page_requests()) + 3)
    failed, error = d.invoke({"date": DATE, "force": True})
    assert error == "Unhandled"
    assert failed["errorType"] == "VantaApiError"
    assert d.manifest(DATE) == second
    assert d.verify(DATE) == []
    d.fake.set_faults()
    retried, _ = d.invoke({"date": DATE, "force": True})
    assert retried["status"] == "complete"
    assert not [k for k in d.object_keys() if "/run=" in k]  # the failed run's parts are gone
    assert d.verify(DATE) == []


@pytest.mark.parametrize("retry_after", ["1", None])
def test_429s_are_retried_honouring_retry_after(
    deploy: Callable[..., Deployment], retry_after: str | None
) -> None:
    d = deploy(faults={"rate_limit_at": [2], "retry_after": retry_after})
    started = time.monotonic()
    result, error = d.invoke({"date": DATE})
    assert error is None
    assert result["status"] == "complete"
    assert d.verify(DATE) == []
    pages = d.page_requests()
    assert pages[1]["cursor"] == pages[2]["cursor"]  # the throttled page, asked again
    if retry_after is not None:
        assert time.monotonic() - started >= 1.0  # the server's delay was honoured


def test_a_burst_of_5xx_is_retried(deploy: Callable[..., Deployment]) -> None:
    d = deploy(faults={"error_burst_at": 2, "error_burst": 3})
    result, error = d.invoke({"date": DATE})
    assert error is None
    assert result["status"] == "complete"
    assert d.verify(DATE) == []


def test_an_outage_opens_the_breaker_which_then_fails_fast(
    deploy: Callable[..., Deployment],
) -> None:
    d = deploy(faults={"unavailable": True})
    result, error = d.invoke({"date": DATE})
    assert error == "Unhandled"
    assert result["errorType"] == "CircuitOpenError"
    asked = len(d.page_requests())
    assert asked == 5  # the breaker's threshold, then no more calls
    again, _ = d.invoke({"date": DATE})
    assert again["errorType"] == "CircuitOpenError"
    assert len(d.page_requests()) == asked  # failed fast: the API was not called
    assert d.manifest(DATE) is None


def test_a_token_revoked_mid_sync_is_minted_once_and_nothing_is_lost(
    deploy: Callable[..., Deployment],
) -> None:
    d = deploy(faults={"revoke_at": 3})
    result, error = d.invoke({"date": DATE})
    assert error is None
    assert result["status"] == "complete"
    assert d.token_requests() == 2  # the first, and exactly one more
    assert d.verify(DATE) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_json", "not JSON"),
        ("no_results", "no results.data"),
        ("repeat_cursor", "seen before"),
        ("missing_id", "no id"),
        ("forbidden", "HTTP 403"),
        ("duplicate_id", "appears twice"),
    ],
)
def test_malformed_pages_end_the_run_naming_the_page(
    deploy: Callable[..., Deployment], case: str, message: str
) -> None:
    d = deploy(faults={"malformed": case, "malformed_at": 2})
    result, error = d.invoke({"date": DATE})
    assert error == "Unhandled"
    assert result["errorType"] == "VantaApiError"
    assert message in result["errorMessage"]
    assert "page 2" in result["errorMessage"]
    assert d.manifest(DATE) is None


def test_a_run_short_of_time_checkpoints_continues_itself_and_completes(
    deploy: Callable[..., Deployment],
) -> None:
    # A 4 s timeout, stop with 3 s left, 150 ms a page: each invocation gets ~6 pages.
    d = deploy(
        vulnerabilities=1200,
        remediations=300,
        timeout=4,
        faults={"slow_ms": 150},
        env={"VANTA_SYNC_CHECKPOINT_SECONDS": "3", "MAX_CONTINUATIONS": "8"},
    )
    first, error = d.invoke({"date": DATE})
    assert error is None, first
    assert first["status"] == "incomplete"
    manifest = d.wait_for(lambda: d.manifest(DATE), seconds=90)
    assert manifest["continuations"] >= 1
    assert d.verify(DATE) == []  # nothing lost, nothing duplicated across resumes
    # Each continuation mints at most one token (a new environment's first request, or a
    # 401 after another environment's mint revoked the cached one): never in a loop.
    assert d.token_requests() <= manifest["continuations"] + 1
    assert not [k for k in d.object_keys() if "/run=" in k or k.endswith("checkpoint.json")]


def test_two_overlapping_runs_one_syncs_the_other_is_skipped(
    deploy: Callable[..., Deployment],
) -> None:
    d = deploy(faults={"slow_ms": 100})
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(d.invoke({"date": DATE})[0]))
    first.start()
    d.wait_for(lambda: any(k.endswith("lease.json") for k in d.object_keys("vanta/_runs/")), 30)
    second, _ = d.invoke({"date": DATE})
    first.join(60)
    assert second["status"] == "skipped"
    assert results[0]["status"] == "complete"
    skipped = [x for x in d.lines if "Sync skipped" in x]
    assert skipped
    assert "holds the lease" in skipped[0]
    assert d.verify(DATE) == []


def test_an_s3_failure_mid_run_ends_in_the_dlq_and_a_later_run_completes(
    deploy: Callable[..., Deployment],
) -> None:
    from moto.server import ThreadedMotoServer

    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3_server.start()
    host, port = s3_server.get_host_and_port()
    try:
        d = deploy(
            s3_url=f"http://{host}:{port}",
            faults={"slow_ms": 40},
            max_retry_attempts=2,
            # A short lease: the run that S3 failed could not release it, so the later
            # run waits for it to expire, as a run after a crash does.
            env={"AWS_MAX_ATTEMPTS": "2", "VANTA_SYNC_LEASE_SECONDS": "3"},
        )
        client = __import__("boto3").client(
            "lambda", endpoint_url=d.service.endpoint_url, region_name="us-east-1"
        )
        client.invoke(
            FunctionName="vanta-vuln-sync",
            InvocationType="Event",
            Payload=json.dumps({"date": DATE}).encode(),
        )
        d.wait_for(lambda: [k for k in d.object_keys("vanta/_runs/") if "/run=" in k], 30)
        s3_server.stop()  # S3 goes away mid-run; SQS and Secrets Manager stay up
        messages = d.wait_for(
            lambda: d.sqs.receive_message(
                QueueUrl=d.dlq_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
            ).get("Messages"),
            60,
        )
        assert json.loads(messages[0]["Body"]) == {"date": DATE}
        assert messages[0]["MessageAttributes"]["ErrorMessage"]["StringValue"]
        retries = [x for x in d.lines if "retry" in x and "async invocation" in x]
        assert len(retries) == 2  # Lambda's two asynchronous retries, then the DLQ
        # S3 is back on the same port (moto keeps its state in the process, so the bucket
        # and the failed run's staged parts and lease are still there): a later run
        # cleans up after it and completes the date.
        s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        s3_server.start()
        result, error = d.invoke({"date": DATE})
        assert error is None
        assert result["status"] == "complete"
        assert d.verify(DATE) == []
        assert not [k for k in d.object_keys() if "/run=" in k]  # the failed run's parts
    finally:
        s3_server.stop()
