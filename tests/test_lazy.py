"""LazyImport and resolve_lazy_imports.

Tests whose outcome depends on what ``sys.modules`` already holds run in a fresh
interpreter (``run_fresh``) on real modules; the others use modules written to a temporary
directory under names no other test uses.
"""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
import types
from pathlib import Path
from unittest import mock

import pytest

from fresh_interpreter import run_fresh, run_fresh_status
from lambda_perf import LazyImport, resolve_lazy_imports
from lambda_perf import lazy as lazy_module

_counter = itertools.count()


@pytest.fixture(autouse=True)
def isolated_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the LazyImports it defines itself."""
    monkeypatch.setattr(lazy_module, "_pending", {})


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def unique(prefix: str) -> str:
    return f"_lp_test_{prefix}_{next(_counter)}"


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def test_definition_imports_nothing_and_first_access_imports_boto3() -> None:
    out = run_fresh(
        """
        import sys, types
        from unittest import mock
        from lambda_perf import LazyImport
        boto3 = LazyImport("boto3")
        before = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))
        text = repr(boto3)
        after_repr = "boto3" in sys.modules
        client = boto3.client
        real = sys.modules["boto3"]
        with mock.patch("boto3.client") as patched:
            sees_patch = boto3.client is patched
        print(json.dumps({
            "before": before,
            "repr": text,
            "after_repr": after_repr,
            "same_function": client is real.client,
            "restored": boto3.client is real.client,
            "sees_patch": sees_patch,
            "is_module": isinstance(boto3, types.ModuleType),
            "plain_module_type": type(boto3) is types.ModuleType,
            "shares_dict": boto3.__dict__ is real.__dict__,
            "dir_ok": "client" in dir(boto3) and "Session" in dir(boto3),
            "repr_after": repr(boto3) == repr(real),
        }))
        """
    )
    assert out["before"] == []
    assert out["repr"] == "<LazyImport 'boto3' (not yet imported)>"
    assert out["after_repr"] is False
    for key in ("same_function", "restored", "sees_patch", "is_module"):
        assert out[key] is True, key
    for key in ("plain_module_type", "shares_dict", "dir_ok", "repr_after"):
        assert out[key] is True, key


def test_dotted_name_imports_neither_parent_nor_child() -> None:
    out = run_fresh(
        """
        import sys
        from lambda_perf import LazyImport
        config = LazyImport("botocore.config")
        before = [m for m in ("botocore", "botocore.config") if m in sys.modules]
        cls = config.Config
        print(json.dumps({"before": before, "name": cls.__module__,
                          "same": config.__dict__ is sys.modules["botocore.config"].__dict__}))
        """
    )
    assert out == {"before": [], "name": "botocore.config", "same": True}


def test_sixteen_threads_share_one_import_of_a_slow_module(tmp_path: Path) -> None:
    write_module(tmp_path, "import_counter", "count = 0\n")
    write_module(
        tmp_path,
        "slow_module",
        """
        import time
        import import_counter
        import_counter.count += 1
        time.sleep(0.2)
        def work():
            return 42
        READY = True  # defined last: a half-initialised module lacks it
        """,
    )
    out = run_fresh(
        """
        import threading, sys
        from lambda_perf import LazyImport
        slow = LazyImport("slow_module")
        barrier = threading.Barrier(16)
        results, errors = [], []
        def touch():
            barrier.wait()
            try:
                results.append((slow.READY, slow.work()))
            except BaseException as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=touch) for _ in range(16)]
        for t in threads: t.start()
        for t in threads: t.join()
        import import_counter
        print(json.dumps({"imports": import_counter.count, "results": results,
                          "errors": errors}))
        """,
        path=tmp_path,
    )
    assert out["errors"] == []
    assert out["imports"] == 1
    assert out["results"] == [[True, 42]] * 16


def test_resolve_lazy_imports_loads_pending_in_a_fresh_process() -> None:
    out = run_fresh(
        """
        import sys
        from lambda_perf import LazyImport, resolve_lazy_imports
        config = LazyImport("botocore.config")
        client = LazyImport("boto3", "client")
        already = LazyImport("json")
        names = resolve_lazy_imports()
        print(json.dumps({
            "names": sorted(names),
            "loaded": "botocore.config" in sys.modules and "boto3" in sys.modules,
            "again": resolve_lazy_imports(),
            "json_is_real": already is sys.modules["json"],
        }))
        """
    )
    assert out == {
        "names": ["boto3.client", "botocore.config"],
        "loaded": True,
        "again": [],
        "json_is_real": True,
    }


def test_already_imported_module_and_attribute_are_returned_as_is() -> None:
    assert LazyImport("json") is json
    assert LazyImport("json", "dumps") is json.dumps


def test_missing_package_raises_at_definition_naming_it() -> None:
    name = unique("missing")
    with pytest.raises(ModuleNotFoundError, match=name) as info:
        LazyImport(f"{name}.child")
    assert info.value.name == name
    assert "check=False" in str(info.value)


def test_check_false_defers_the_error_to_first_use() -> None:
    name = unique("missing")
    placeholder = LazyImport(name, check=False)
    with pytest.raises(ModuleNotFoundError, match=name):
        placeholder.anything  # noqa: B018


def test_failed_import_raises_the_original_error_and_is_retried(module_dir: Path) -> None:
    name = unique("flaky")
    write_module(
        module_dir,
        name,
        """
        import os
        if os.environ.get("FLAKY_BROKEN") == "1":
            raise RuntimeError("flaky import failed")
        VALUE = 7
        """,
    )
    placeholder = LazyImport(name)
    with mock.patch.dict("os.environ", {"FLAKY_BROKEN": "1"}):
        with pytest.raises(RuntimeError, match="flaky import failed"):
            placeholder.VALUE  # noqa: B018
        assert name not in sys.modules
        with pytest.raises(RuntimeError, match="flaky import failed"):
            placeholder.VALUE  # noqa: B018
    assert placeholder.VALUE == 7
    assert placeholder.__dict__ is sys.modules[name].__dict__


def test_attribute_form_resolves_on_call_and_on_attribute_access(module_dir: Path) -> None:
    name = unique("attr")
    write_module(
        module_dir, name, "def add(a, b):\n    return a + b\nclass Thing:\n    KIND = 'x'\n"
    )
    add = LazyImport(name, "add")
    thing = LazyImport(name, "Thing")
    assert name not in sys.modules
    assert repr(add) == f"<LazyImport '{name}.add' (not yet imported)>"
    assert add(2, 3) == 5
    assert thing.KIND == "x"
    assert "function add" in repr(add)


def test_attribute_form_falls_back_to_a_submodule(module_dir: Path) -> None:
    package = unique("pkg")
    (module_dir / package).mkdir()
    (module_dir / package / "__init__.py").write_text("")
    (module_dir / package / "child.py").write_text("VALUE = 'child'\n")
    child = LazyImport(package, "child")
    assert child.VALUE == "child"
    missing = LazyImport(package, "nope")
    with pytest.raises(ImportError, match=f"cannot import name 'nope' from '{package}'"):
        missing()


def test_setattr_and_delattr_before_load_reach_the_real_module(module_dir: Path) -> None:
    name = unique("set")
    write_module(module_dir, name, "X = 1\n")
    placeholder = LazyImport(name)
    placeholder.Y = 2
    assert sys.modules[name].Y == 2
    del placeholder.X
    assert not hasattr(sys.modules[name], "X")


def test_dir_before_load_imports_and_lists_the_module(module_dir: Path) -> None:
    name = unique("dir")
    write_module(module_dir, name, "ALPHA = 1\n")
    placeholder = LazyImport(name)
    assert "ALPHA" in dir(placeholder)
    assert isinstance(placeholder, types.ModuleType)


def test_resolve_lazy_imports_tries_all_and_raises_the_first_failure(module_dir: Path) -> None:
    good = unique("good")
    write_module(module_dir, good, "OK = True\n")
    bad = unique("bad")
    write_module(module_dir, bad, "raise ValueError('bad module')\n")
    bad_placeholder = LazyImport(bad)
    good_placeholder = LazyImport(good)
    with pytest.raises(ValueError, match="bad module") as info:
        resolve_lazy_imports()
    if sys.version_info >= (3, 11):
        assert any(bad in note for note in info.value.__notes__)
    assert good in sys.modules
    assert good_placeholder.OK is True
    assert lazy_module._pending == {id(bad_placeholder): bad_placeholder}


@pytest.mark.parametrize(
    ("module_name", "attribute"),
    [("", None), (".relative", None), (42, None), ("json_x", "not an identifier")],
)
def test_invalid_names_raise_value_error(module_name: object, attribute: object) -> None:
    with pytest.raises(ValueError, match="LazyImport"):
        LazyImport(module_name, attribute)  # type: ignore[call-overload]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="dict sharing is CPython-only")
def test_sharing_the_dict_keeps_reference_counts_exact(module_dir: Path) -> None:
    import gc

    name = unique("refs")
    write_module(module_dir, name, "VALUE = 1\n")
    placeholder = LazyImport(name)
    real = __import__(name)
    namespace = real.__dict__
    refs_before = sys.getrefcount(namespace)
    value = placeholder.VALUE
    refs_loaded = sys.getrefcount(namespace)
    del placeholder
    gc.collect()
    refs_after = sys.getrefcount(namespace)
    assert value == 1
    assert refs_loaded == refs_before + 1  # the placeholder's own reference
    assert refs_after == refs_before
    assert real.VALUE == 1


# --- issue 9: modules that are not plain modules; circular imports ---------------------


NOT_PLAIN_MODULES = {
    "replaced_by_class": """
        import sys
        class Replacement:
            VALUE = 1
            @staticmethod
            def double(x):
                return 2 * x
        sys.modules[__name__] = Replacement
        """,
    "replaced_by_instance": """
        import sys, types
        class _Namespace:
            VALUE = 1
            @property
            def computed(self):
                return "property"
            def double(self, x):
                return 2 * x
        sys.modules[__name__] = _Namespace()
        """,
    "class_swapped": """
        import sys, types
        VALUE = 1
        def double(x):
            return 2 * x
        class _Module(types.ModuleType):
            @property
            def computed(self):
                return "property"
        sys.modules[__name__].__class__ = _Module
        """,
}


@pytest.mark.parametrize("shape", sorted(NOT_PLAIN_MODULES))
def test_a_module_that_is_not_a_plain_module_is_forwarded_not_shared(
    tmp_path: Path, shape: str
) -> None:
    name = f"_lp_shape_{shape}"
    write_module(tmp_path, name, NOT_PLAIN_MODULES[shape])
    proc = run_fresh_status(
        f"""
        from lambda_perf import LazyImport
        lazy = LazyImport({name!r})
        first = lazy.VALUE
        warm = [lazy.VALUE for _ in range(10000)]
        real = sys.modules[{name!r}]
        out = {{
            "first": first, "warm": sum(warm), "double": lazy.double(21),
            "computed": getattr(lazy, "computed", None),
            "same_doc": lazy.__doc__ == real.__doc__,
            "repr": repr(lazy) == repr(real),
        }}
        print(json.dumps(out))
        """,
        path=tmp_path,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"] == 1
    assert out["warm"] == 10000
    assert out["double"] == 42
    assert out["same_doc"] is True
    assert out["repr"] is True
    if shape != "replaced_by_class":
        assert out["computed"] == "property"


def test_six_moves_keeps_every_lazy_attribute() -> None:
    pytest.importorskip("six")
    out = run_fresh(
        """
        from lambda_perf import LazyImport
        moves = LazyImport("six.moves")
        names = {}
        for attr in ("range", "queue", "urllib", "configparser"):
            try:
                names[attr] = getattr(moves, attr) is not None
            except AttributeError as exc:
                names[attr] = repr(exc)
        print(json.dumps(names))
        """
    )
    assert out == {"range": True, "queue": True, "urllib": True, "configparser": True}


def test_a_circular_import_through_a_placeholder_fails_like_a_plain_import(
    tmp_path: Path,
) -> None:
    write_module(
        tmp_path,
        "_lp_cycle_a",
        """
        from lambda_perf import LazyImport
        b = LazyImport("_lp_cycle_b")
        """,
    )
    write_module(
        tmp_path,
        "_lp_cycle_b",
        """
        EARLY = "defined before the cycle"
        import _lp_cycle_a
        SEEN_EARLY = _lp_cycle_a.b.EARLY  # works, as with a plain import
        _lp_cycle_a.b.LATE  # not defined yet: AttributeError about a partial module
        LATE = 1
        """,
    )
    proc = run_fresh_status(
        """
        import threading
        import _lp_cycle_a
        outcome = {}
        def touch():
            try:
                _lp_cycle_a.b.LATE
            except (AttributeError, ImportError) as exc:
                outcome["error"] = type(exc).__name__
                outcome["message"] = str(exc)
        t = threading.Thread(target=touch, daemon=True)
        t.start()
        t.join(20)
        outcome["hung"] = t.is_alive()
        print(json.dumps(outcome))
        """,
        path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hung"] is False
    # The module's own AttributeError, wrapped in ImportError so hasattr() cannot hide it.
    assert out["error"] in ("AttributeError", "ImportError")
    assert "partially initialized" in out["message"]


def test_a_circular_attribute_form_does_not_hang(module_dir: Path) -> None:
    a, b = unique("cyc_attr_a"), unique("cyc_attr_b")
    write_module(
        module_dir, a, f"from lambda_perf import LazyImport\nthing = LazyImport({b!r}, 'THING')\n"
    )
    write_module(module_dir, b, f"import {a}\nUSED = {a}.thing.real\nTHING = 1\n")
    module_a = __import__(a)
    done: list[BaseException] = []

    def touch() -> None:
        try:
            module_a.thing.real  # noqa: B018
        except (AttributeError, ImportError) as exc:
            done.append(exc)

    import threading

    thread = threading.Thread(target=touch, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the circular import hung"
    assert len(done) == 1
    assert "THING" in str(done[0])


def test_other_threads_wait_for_the_import_to_finish(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "_lp_slow_cycle",
        """
        import time
        time.sleep(0.3)
        READY = True
        """,
    )
    out = run_fresh(
        """
        import threading
        from lambda_perf import LazyImport
        slow = LazyImport("_lp_slow_cycle")
        results = []
        threads = [threading.Thread(target=lambda: results.append(slow.READY)) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps({"results": results}))
        """,
        path=tmp_path,
    )
    assert out == {"results": [True] * 4}


def test_hasattr_does_not_hide_an_attribute_error_raised_by_the_import(module_dir: Path) -> None:
    name = unique("attr_error")
    write_module(module_dir, name, "import os\nos.no_such_function()\n")
    placeholder = LazyImport(name)
    with pytest.raises(ImportError, match="AttributeError") as info:
        hasattr(placeholder, "anything")
    assert name in str(info.value)
    assert isinstance(info.value.__cause__, AttributeError)


def test_reload_the_real_module_and_the_placeholder_sees_it(module_dir: Path) -> None:
    import importlib

    name = unique("reload")
    write_module(module_dir, name, "VALUE = 1\n")
    placeholder = LazyImport(name)
    assert placeholder.VALUE == 1
    write_module(module_dir, name, "VALUE = 2\n")
    importlib.invalidate_caches()
    (module_dir / "__pycache__").exists() and [
        p.unlink() for p in (module_dir / "__pycache__").glob(f"{name}*")
    ]
    importlib.reload(sys.modules[name])  # the documented way: reload what sys.modules holds
    assert placeholder.VALUE == 2


def test_the_module_form_works_in_an_except_clause() -> None:
    pytest.importorskip("botocore")
    out = run_fresh(
        """
        from lambda_perf import LazyImport
        exceptions = LazyImport("botocore.exceptions")
        attribute_form = LazyImport("botocore.exceptions", "ClientError")
        try:
            raise exceptions.ClientError({"Error": {"Code": "X"}}, "Op")
        except exceptions.ClientError as exc:
            caught = type(exc).__name__
        try:
            try:
                raise ValueError("inner")
            except attribute_form:
                pass
        except TypeError as exc:
            refused = "BaseException" in str(exc)
        print(json.dumps({"caught": caught, "attribute_form_refused": refused}))
        """
    )
    assert out == {"caught": "ClientError", "attribute_form_refused": True}
