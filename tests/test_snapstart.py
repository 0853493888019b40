"""SnapStart: after a restore, jitter is reseeded and pooled connections are dropped.

A restore is played as the runtime does it: fork children from one parent (they share its
memory, random state included, as restored environments share the snapshot's), then run
the hooks that ``snapshot_restore_py`` holds, in each child.
"""

from __future__ import annotations

import sys

import pytest

from fresh_interpreter import run_fresh
from lambda_perf import _snapstart, get_aws_client

pytest.importorskip("snapshot_restore_py")

RESTORE_TWICE = """
import json, os, sys
os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = {kind!r}
import snapshot_restore_py
from lambda_perf import retry_with_backoff
from lambda_perf import _snapstart

delays = []

@retry_with_backoff(max_retries=5, base_delay=1.0, budget=None, deadline=None,
                    sleep=delays.append)
def flaky():
    raise ConnectionError()

_snapstart.jitter_random().seed(1234)  # the snapshot's state, whatever it was
registered = [f for f, _, _ in snapshot_restore_py.get_after_restore()]
draws = []
for _ in range(2):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a restored environment
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)
        delays.clear()
        try:
            flaky()
        except ConnectionError:
            pass
        os.write(write, json.dumps(delays).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    draws.append(json.loads(os.read(read, 10000)))
print(json.dumps({{"draws": draws, "hooks": len(registered)}}))
"""


def restore_twice(kind: str) -> dict[str, object]:
    return run_fresh(RESTORE_TWICE.format(kind=kind))


def test_restored_environments_draw_different_jitter() -> None:
    out = restore_twice("snap-start")
    assert out["hooks"] == 1  # registered once, however many modules asked
    first, second = out["draws"]  # type: ignore[misc]
    assert len(first) == len(second) == 5
    assert first != second


def test_without_snapstart_nothing_is_registered_and_forks_share_the_draws() -> None:
    # The problem the hook solves: copies of one memory draw the same "random" jitter.
    out = restore_twice("on-demand")
    assert out["hooks"] == 0
    first, second = out["draws"]  # type: ignore[misc]
    assert first == second


def test_the_hook_drops_pooled_idle_connections(moto_server: str) -> None:
    s3 = get_aws_client("s3", endpoint_url=moto_server)
    s3.list_buckets()
    pools = s3._endpoint.http_session._manager.pools
    assert len(pools) == 1
    _snapstart.after_restore()
    assert len(pools) == 0
    s3.list_buckets()  # new connections on the next request
    assert len(pools) == 1


def test_register_hooks_is_quiet_where_the_runtime_module_is_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_snapstart, "_registered", False)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert _snapstart.register_hooks() is False
