"""Measurements that need a fresh interpreter; prints one number (seconds) or JSON.

Usage: python bench/_probe.py MODE
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time

os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
THREADS = 32


def threads_cold(make_client: object) -> None:
    """32 threads released at once each ask for an s3 client; time until all have one."""
    barrier = threading.Barrier(THREADS + 1)
    clients: list[object] = []
    errors: list[str] = []

    def worker() -> None:
        barrier.wait()
        try:
            clients.append(make_client("s3"))  # type: ignore[operator]
        except Exception as exc:  # naive boto3.client is known to race
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    distinct = len({id(c) for c in clients})
    print(json.dumps({"seconds": elapsed, "errors": len(errors), "distinct": distinct}))


def main(mode: str) -> None:
    if mode == "threads:lambda_perf":
        from lambda_perf import get_aws_client

        threads_cold(get_aws_client)
    elif mode == "threads:naive":
        import boto3

        threads_cold(boto3.client)
    elif mode in ("first:gc-paused", "first:gc-running"):
        from lambda_perf import clients

        if mode == "first:gc-running":
            clients._gc_paused = contextlib.nullcontext  # type: ignore[assignment]
        import boto3  # the import is not part of this measurement

        del boto3
        start = time.perf_counter()
        clients.get_aws_client("s3")
        print(json.dumps({"seconds": time.perf_counter() - start}))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1])
