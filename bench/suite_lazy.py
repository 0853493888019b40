"""LazyImport after load, against direct access and the other lazy-import techniques."""

from __future__ import annotations

import importlib
import sys
import tempfile
import textwrap
from pathlib import Path

import lazy_loader
import wrapt

from bench.harness import Table, Target, compare_statements
from lambda_perf import LazyImport

MODULE_SOURCE = textwrap.dedent(
    """
    import os, json
    from collections import OrderedDict
    def client(*args, **kwargs):
        return None
    class Session:
        pass
    """
) + "".join(f"NAME_{i} = {i}\n" for i in range(40))


class NaiveProxy:
    """The common hand-written proxy: forwards every lookup with __getattr__."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module = None

    def __getattr__(self, attr: str) -> object:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def run(repeats: int) -> list[Table]:
    directory = Path(tempfile.mkdtemp(prefix="lambda_perf_bench_"))
    for suffix in ("direct", "ours", "lazyloader", "wrapt", "naive"):
        (directory / f"bench_mod_{suffix}.py").write_text(MODULE_SOURCE)
    sys.path.insert(0, str(directory))

    direct = importlib.import_module("bench_mod_direct")
    ours = LazyImport("bench_mod_ours")
    loader = lazy_loader.load("bench_mod_lazyloader")
    proxy = wrapt.ObjectProxy(importlib.import_module("bench_mod_wrapt"))
    naive = NaiveProxy("bench_mod_naive")
    for module in (direct, ours, loader, proxy, naive):
        module.client  # noqa: B018 - first access loads

    namespace = {
        "direct": direct,
        "ours": ours,
        "loader": loader,
        "proxy": proxy,
        "naive": naive,
    }
    table = compare_statements(
        "LazyImport: attribute access after load",
        {
            "direct module attribute (`mod.client`)": "direct.client",
            "lambda_perf.LazyImport": "ours.client",
            "lazy_loader.load (importlib LazyLoader)": "loader.client",
            "naive `__getattr__` proxy": "naive.client",
            "wrapt.ObjectProxy": "proxy.client",
        },
        namespace=namespace,
        floor="direct module attribute (`mod.client`)",
        repeats=repeats,
        targets=[Target("lambda_perf.LazyImport", 1.25)],
        notes=[
            "After its first access a LazyImport shares the module's own `__dict__` and is a "
            "plain `types.ModuleType`, so CPython's module attribute fast path applies.",
            "importlib's LazyLoader is as fast once loaded, but races on 3.11.7 and 3.12.1 "
            "(gh-114763): threads can see a half-initialised module.",
        ],
    )
    return [table]
