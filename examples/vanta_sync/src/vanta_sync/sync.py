"""One run of the sync for one date: lease, fetch, stage, checkpoint or publish."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lambda_perf import get_logger

from .config import Settings
from .storage import PartWriter, Storage
from .vanta import VantaApiError, VantaClient

DATASETS = ("vulnerabilities", "remediations")
log = get_logger("vanta_sync")


@dataclass
class Outcome:
    status: str  # complete | skipped | incomplete
    date: str
    reason: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATASETS, 0))
    parts: int = 0
    manifest: str | None = None
    pages: int = 0
    objects_stored: int = 0
    bytes_stored: int = 0
    run_id: str = ""
    continuations: int = 0

    def result(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "date": self.date,
            "vulnerabilities": self.counts["vulnerabilities"],
            "remediations": self.counts["remediations"],
            "parts": self.parts,
            "manifest": self.manifest,
        }


def run(
    *,
    settings: Settings,
    s3: Any,
    client: VantaClient,
    date: str,
    force: bool,
    time_left: Any,
) -> Outcome:
    """``time_left()`` is the invocation's remaining seconds (None outside Lambda)."""
    storage = Storage(s3, settings.bucket, settings.prefix, date)
    checkpoint = storage.read_json(storage.checkpoint_key)
    state: dict[str, Any] | None = checkpoint[0] if checkpoint else None
    if force and state is not None and not state.get("force"):
        state = None  # a forced re-run starts over
    run_id = state["run_id"] if state else uuid.uuid4().hex[:12]
    busy = storage.acquire_lease(run_id, settings.lease_seconds)
    if busy is not None:
        return Outcome("skipped", date, reason=busy, run_id=run_id)
    try:
        if state is None and not force and storage.manifest() is not None:
            return Outcome(
                "skipped", date, reason=f"{date} is complete already (pass force to re-run)",
                manifest=storage.manifest_key, run_id=run_id,
            )  # fmt: skip
        if state is None:
            storage.clean_staging(keep_run_id=None)  # runs that never published
            state = {
                "run_id": run_id,
                "started_at": time.time(),
                "force": force,
                "continuations": 0,
                "datasets": {
                    name: {"cursor": None, "page": 0, "done": False, "parts": []}
                    for name in DATASETS
                },
            }
        else:
            state["continuations"] += 1
        return _sync(settings, storage, client, state, time_left)
    finally:
        try:
            storage.release_lease(run_id)
        except Exception as exc:  # never hide the run's own error; the lease expires
            log.warning(
                "could not release the run lease; it expires on its own",
                extra={"date": date, "run_id": run_id, "error": type(exc).__name__},
            )


def _sync(
    settings: Settings,
    storage: Storage,
    client: VantaClient,
    state: dict[str, Any],
    time_left: Any,
) -> Outcome:
    run_id, date = state["run_id"], storage.date
    outcome = Outcome("complete", date, run_id=run_id, continuations=state["continuations"])
    renewed = time.monotonic()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload") as uploads:
        for name in DATASETS:
            progress = state["datasets"][name]
            if progress["done"]:
                continue
            writer = PartWriter(
                storage, run_id, name, executor=uploads,
                max_records=settings.part_max_records, max_bytes=settings.part_max_bytes,
                parts=progress["parts"],
            )  # fmt: skip
            seen: set[str] = set()
            pages = client.pages(
                name, cursor=progress["cursor"], page=progress["page"],
                page_size=settings.page_size,
            )  # fmt: skip
            for page, records, following in pages:
                for record in records:
                    if record["id"] in seen:
                        raise VantaApiError(
                            f"the id {record['id']!r} appears twice in {name}",
                            endpoint=name, page=page, cursor=progress["cursor"],
                        )  # fmt: skip
                    seen.add(record["id"])
                writer.add(records)
                outcome.pages += 1
                progress["cursor"], progress["page"] = following, page
                if time.monotonic() - renewed > settings.lease_seconds / 3:
                    storage.renew_lease(run_id, settings.lease_seconds)
                    renewed = time.monotonic()
                left = time_left()
                if (
                    following is not None
                    and left is not None
                    and left < settings.checkpoint_seconds
                ):
                    progress["parts"] = writer.flush()
                    storage.write_json(storage.checkpoint_key, state)
                    outcome.status = "incomplete"
                    outcome.reason = f"{left:.0f}s left: checkpointed at {name} page {page}"
                    _count(outcome, state)
                    return outcome
            progress["parts"] = writer.flush()
            progress["done"] = True
    _count(outcome, state)
    manifest = {
        "date": date,
        "run_id": run_id,
        "started_at": state["started_at"],
        "ended_at": time.time(),
        "continuations": state["continuations"],
        "datasets": {
            name: {
                "records": sum(p["records"] for p in state["datasets"][name]["parts"]),
                "parts": [
                    {
                        "key": p["key"],
                        "sha256": p["sha256"],
                        "bytes": p["bytes"],
                        "records": p["records"],
                    }
                    for p in state["datasets"][name]["parts"]
                ],
            }
            for name in DATASETS
        },
    }
    storage.publish(run_id, {n: state["datasets"][n]["parts"] for n in DATASETS}, manifest)
    if storage.read_json(storage.checkpoint_key) is not None:
        storage.delete(storage.checkpoint_key)
    outcome.manifest = storage.manifest_key
    return outcome


def _count(outcome: Outcome, state: dict[str, Any]) -> None:
    for name in DATASETS:
        parts = state["datasets"][name]["parts"]
        outcome.counts[name] = sum(p["records"] for p in parts)
        outcome.parts += len(parts)
        outcome.objects_stored += len(parts)
        outcome.bytes_stored += sum(p["bytes"] for p in parts)
