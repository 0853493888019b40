"""Settings, all from the environment (read once per environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"environment variable {name}={raw!r} must be an integer >= {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    secret_name: str
    bucket: str
    prefix: str = "vanta/"
    api_base: str = "https://api.vanta.com"
    max_pool_connections: int = 50
    checkpoint_seconds: int = 60  # stop and checkpoint with this much time left
    max_continuations: int = 8
    part_max_records: int = 10_000
    part_max_bytes: int = 8 * 1024 * 1024  # uncompressed
    page_size: int = 100
    lease_seconds: int = 120
    retry_base_delay: float = 0.5  # seconds: the first retry's ceiling (full jitter)

    @classmethod
    def from_environment(cls) -> Settings:
        missing = [n for n in ("VANTA_SECRET_NAME", "S3_BUCKET_NAME") if not os.environ.get(n)]
        if missing:
            raise ValueError(
                f"set {' and '.join(missing)}: the Secrets Manager secret with the Vanta "
                f"client credentials, and the bucket the sync writes to"
            )
        prefix = os.environ.get("S3_PREFIX", "vanta/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(
            secret_name=os.environ["VANTA_SECRET_NAME"],
            bucket=os.environ["S3_BUCKET_NAME"],
            prefix=prefix,
            api_base=os.environ.get("VANTA_API_BASE", "https://api.vanta.com").rstrip("/"),
            max_pool_connections=_int("MAX_POOL_CONNECTIONS", 50),
            checkpoint_seconds=_int("VANTA_SYNC_CHECKPOINT_SECONDS", 60, 0),
            max_continuations=_int("MAX_CONTINUATIONS", 8, 0),
            part_max_records=_int("VANTA_SYNC_PART_RECORDS", 10_000),
            part_max_bytes=_int("VANTA_SYNC_PART_BYTES", 8 * 1024 * 1024),
            retry_base_delay=float(os.environ.get("VANTA_SYNC_RETRY_BASE_DELAY", "0.5")),
            lease_seconds=_int("VANTA_SYNC_LEASE_SECONDS", 120, 3),
        )
