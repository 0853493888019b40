"""SnapStart: what must change when an environment is restored from a snapshot.

Restored environments share the snapshot's memory, the random generator's state
included: without a reseed, every restored copy draws the same jitter, and their retries
land together (the herd jitter exists to prevent). Pooled clients' idle connections in
the snapshot are stale too. When ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``,
:func:`register_hooks` registers :func:`after_restore` through ``snapshot_restore_py``,
which the SnapStart runtime ships (where it is absent, nothing is registered).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random

__all__ = ["after_restore", "jitter_random", "register_hooks"]

INITIALIZATION_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"

_jitter: random.Random | None = None
_registered = False


def jitter_random() -> random.Random:
    """The random source for backoff jitter (one per process, reseeded after a restore)."""
    global _jitter
    if _jitter is None:
        import random

        _jitter = random.Random()
    return _jitter


def after_restore() -> None:
    """Reseed the jitter source from the OS and drop pooled clients' idle connections."""
    if _jitter is not None:
        _jitter.seed()  # from os.urandom: each restored environment draws its own
    clients = sys.modules.get("lambda_perf.clients")
    if clients is not None:
        clients._drop_idle_connections()


def register_hooks() -> bool:
    """Register :func:`after_restore` once, under SnapStart; True if it is registered."""
    global _registered
    if _registered:
        return True
    if os.environ.get(INITIALIZATION_TYPE_ENV, "").strip().lower() != "snap-start":
        return False
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:  # not the SnapStart runtime: nothing will call the hook
        return False
    register_after_restore(after_restore)
    _registered = True
    return True
