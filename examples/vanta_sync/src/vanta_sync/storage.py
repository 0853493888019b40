"""S3 layout, parts, the per-date run lease, checkpoints and the manifest.

::

    {prefix}vulnerabilities/dt=YYYY-MM-DD/part-NNNNN.jsonl.gz   the published data
    {prefix}remediations/dt=YYYY-MM-DD/part-NNNNN.jsonl.gz
    {prefix}_runs/dt=YYYY-MM-DD/manifest.json                 written last: the date is complete
    {prefix}_runs/dt=YYYY-MM-DD/lease.json                    who is syncing the date now
    {prefix}_runs/dt=YYYY-MM-DD/checkpoint.json               where an incomplete run stopped
    {prefix}_runs/dt=YYYY-MM-DD/run=ID/{dataset}/part-NNNNN.jsonl.gz   a run's parts, staged

A run writes its parts under its own staging prefix (``_runs`` is ignored by Athena and
Glue, as is every name starting with ``_``), so the published date stays intact while it
runs and if it fails. Publishing removes the old manifest (the date reads as incomplete
for that moment), copies the staged parts into place server-side, deletes the old parts
the new run does not have, writes the new manifest, then deletes the staging prefix.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

GZIP_LEVEL = 6


def _code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


class Storage:
    """One date's objects in one bucket."""

    def __init__(self, s3: Any, bucket: str, prefix: str, date: str) -> None:
        self.s3, self.bucket, self.prefix, self.date = s3, bucket, prefix, date
        self.runs = f"{prefix}_runs/dt={date}/"
        self.manifest_key = f"{self.runs}manifest.json"
        self.lease_key = f"{self.runs}lease.json"
        self.checkpoint_key = f"{self.runs}checkpoint.json"

    def final_key(self, dataset: str, number: int) -> str:
        return f"{self.prefix}{dataset}/dt={self.date}/part-{number:05d}.jsonl.gz"

    def staged_key(self, run_id: str, dataset: str, number: int) -> str:
        return f"{self.runs}run={run_id}/{dataset}/part-{number:05d}.jsonl.gz"

    # --- small JSON objects ---------------------------------------------------------------

    def read_json(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        document: dict[str, Any] = json.loads(response["Body"].read())
        return document, response["ETag"]

    def write_json(self, key: str, document: dict[str, Any], **conditions: str) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(document, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            **conditions,
        )

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def manifest(self) -> dict[str, Any] | None:
        found = self.read_json(self.manifest_key)
        return None if found is None else found[0]

    # --- the run lease ----------------------------------------------------------------------

    def acquire_lease(self, run_id: str, seconds: int) -> str | None:
        """Take the date's lease; None on success, else why not (another live run)."""
        lease = {"run_id": run_id, "expires_at": time.time() + seconds}
        for _ in range(2):
            try:
                self.write_json(self.lease_key, lease, IfNoneMatch="*")
                return None
            except Exception as exc:
                if _code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
            found = self.read_json(self.lease_key)
            if found is None:
                continue  # released meanwhile: try again
            held, _ = found
            if held.get("expires_at", 0) > time.time() and held.get("run_id") != run_id:
                remaining = held["expires_at"] - time.time()
                return (
                    f"run {held.get('run_id')} holds the lease for {self.date} "
                    f"(for another {remaining:.0f}s)"
                )
            self.delete(self.lease_key)  # expired (its run crashed), or ours from before
        return f"could not take the lease for {self.date}"

    def renew_lease(self, run_id: str, seconds: int) -> None:
        self.write_json(self.lease_key, {"run_id": run_id, "expires_at": time.time() + seconds})

    def release_lease(self, run_id: str) -> None:
        found = self.read_json(self.lease_key)
        if found is not None and found[0].get("run_id") == run_id:
            self.delete(self.lease_key)

    # --- staging, publishing, cleaning up ---------------------------------------------------

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            if chunk:
                self.s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )

    def clean_staging(self, keep_run_id: str | None) -> int:
        """Delete the staged parts of runs that never published (all but ``keep``)."""
        keep = None if keep_run_id is None else f"{self.runs}run={keep_run_id}/"
        doomed = [
            k for k in self.keys(f"{self.runs}run=") if keep is None or not k.startswith(keep)
        ]
        self.delete_keys(doomed)
        return len(doomed)

    def publish(
        self, run_id: str, parts: dict[str, list[dict[str, Any]]], manifest: dict[str, Any]
    ) -> None:
        if self.manifest() is not None:
            self.delete(self.manifest_key)  # from here until the new one: incomplete
        for dataset, dataset_parts in parts.items():
            wanted = set()
            for part in dataset_parts:
                self.s3.copy_object(
                    Bucket=self.bucket,
                    Key=part["key"],
                    CopySource={"Bucket": self.bucket, "Key": part["staged_key"]},
                )
                wanted.add(part["key"])
            old = [
                k for k in self.keys(f"{self.prefix}{dataset}/dt={self.date}/") if k not in wanted
            ]
            self.delete_keys(old)
        self.write_json(self.manifest_key, manifest)
        self.delete_keys(self.keys(f"{self.runs}run={run_id}/"))


class PartWriter:
    """Gzipped JSON Lines parts of one dataset, closed at a bounded size and uploaded in
    the background while the next pages download. Holds one open part at most."""

    def __init__(
        self,
        storage: Storage,
        run_id: str,
        dataset: str,
        *,
        executor: ThreadPoolExecutor,
        max_records: int,
        max_bytes: int,
        parts: list[dict[str, Any]] | None = None,
    ) -> None:
        self.storage, self.run_id, self.dataset = storage, run_id, dataset
        self.executor = executor
        self.max_records, self.max_bytes = max_records, max_bytes
        self.parts: list[dict[str, Any]] = list(parts or [])  # closed and uploaded
        self._pending: list[tuple[dict[str, Any], Future[None]]] = []
        self._open()

    def _open(self) -> None:
        self._buffer = io.BytesIO()
        self._gzip = gzip.GzipFile(
            fileobj=self._buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
        )
        self._records = 0
        self._raw_bytes = 0

    def add(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            line = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            self._gzip.write(line)
            self._records += 1
            self._raw_bytes += len(line)
            if self._records >= self.max_records or self._raw_bytes >= self.max_bytes:
                self.close_part()

    def close_part(self) -> None:
        """Close the open part (if it has records) and start its upload."""
        if not self._records:
            return
        self._gzip.close()
        body = self._buffer.getvalue()
        number = len(self.parts) + len(self._pending)
        part = {
            "key": self.storage.final_key(self.dataset, number),
            "staged_key": self.storage.staged_key(self.run_id, self.dataset, number),
            "records": self._records,
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        future = self.executor.submit(self._upload, part["staged_key"], body)
        self._pending.append((part, future))
        self._open()  # the closed part's bytes live only in the upload task now

    def _upload(self, key: str, body: bytes) -> None:
        self.storage.s3.put_object(
            Bucket=self.storage.bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
        )

    def flush(self) -> list[dict[str, Any]]:
        """Close the open part, wait for every upload (errors propagate); the parts."""
        self.close_part()
        pending, self._pending = self._pending, []
        for part, future in pending:
            future.result()
            self.parts.append(part)
        return self.parts

    @property
    def records(self) -> int:
        return sum(p["records"] for p in self.parts) + sum(p["records"] for p, _ in self._pending)
