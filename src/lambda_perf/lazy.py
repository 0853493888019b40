"""Deferred imports that cost nothing once loaded.

``boto3 = LazyImport("boto3")`` binds a placeholder module. The first attribute access
imports the real module, and the placeholder then *becomes* that module: it shares the
real module's ``__dict__`` and its class turns back into plain ``types.ModuleType``. After
that, attribute access runs CPython's own module fast path (no proxy code at all), and
``unittest.mock.patch("boto3.client")`` is seen through it because there is one dict.
"""

from __future__ import annotations

import sys
import threading
from importlib import import_module
from types import ModuleType

from ._errors import add_note

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, overload

__all__ = ["LazyImport", "resolve_lazy_imports"]

_STATE_KEY = "__lazy_import_state__"

# Placeholders not yet loaded, by id; strong references, dropped once loaded.
_pending: dict[int, LazyImport | _LazyAttribute] = {}


class _LoadState:
    __slots__ = ("importer", "lock", "module", "name", "placeholder_dict")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.module: Any = None  # what sys.modules held after the import: any object
        self.importer: int | None = None  # the thread running the import, while it runs
        # The placeholder's original dict, kept alive once the module's dict replaces it.
        self.placeholder_dict: dict[str, Any] | None = None


def _top_level_exists(module_name: str) -> bool:
    top = module_name.partition(".")[0]
    if top in sys.modules:
        return True
    from importlib.util import find_spec

    return find_spec(top) is not None


def _check_name(module_name: object, attribute: object) -> None:
    if not isinstance(module_name, str) or not module_name or module_name.startswith("."):
        raise ValueError(
            f"LazyImport: module_name must be an absolute module name such as 'boto3', "
            f"got {module_name!r}"
        )
    if attribute is not None and (not isinstance(attribute, str) or not attribute.isidentifier()):
        raise ValueError(
            f"LazyImport({module_name!r}): attribute must be an identifier such as 'client', "
            f"got {attribute!r}"
        )


def _loaded(module_name: str) -> ModuleType | None:
    """The module if it is fully imported already, else None."""
    module = sys.modules.get(module_name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def _import(name: str, owner: str) -> Any:
    """``import_module(name)``, with an AttributeError raised by the module's own code
    turned into ImportError: ``hasattr(placeholder, x)`` must not hide a broken import."""
    try:
        return import_module(name)
    except AttributeError as exc:
        raise ImportError(
            f"importing {name!r} for {owner} raised AttributeError: {exc}", name=name
        ) from exc


def _while_importing(name: str, owner: str) -> Any:
    """What the importing thread sees when it re-enters the placeholder (a circular
    import): the partially initialised module, as a plain ``import`` would give it."""
    partial = sys.modules.get(name)
    if partial is None:
        raise ImportError(
            f"cannot use {owner} while {name!r} is being imported by this thread "
            f"(most likely due to a circular import)",
            name=name,
        )
    return partial


def _adopt_dict(placeholder: ModuleType, module: object) -> dict[str, Any] | None:
    """Make ``placeholder`` share ``module.__dict__`` and be a plain module.

    Only a plain ``types.ModuleType`` whose namespace is a plain ``dict`` qualifies: a
    class, an instance or a module subclass put in ``sys.modules`` has names the dict
    does not hold. Returns the placeholder's previous dict, or None when the module does
    not qualify or the CPython trick is unavailable; the placeholder then keeps
    forwarding lookups (slower, correct).
    """
    if sys.implementation.name != "cpython" or type(module) is not ModuleType:
        return None
    if type(module.__dict__) is not dict:
        return None
    import ctypes

    previous, shared = placeholder.__dict__, module.__dict__
    # The module object's ``md_dict`` pointer, which owns one reference to its dict.
    slot = ctypes.c_void_p.from_address(id(placeholder) + ModuleType.__dictoffset__)
    if slot.value != id(previous):  # unexpected object layout: do not touch it
        return None
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(shared))
    slot.value = id(shared)
    ctypes.pythonapi.Py_DecRef(ctypes.py_object(previous))  # the caller keeps it alive
    object.__setattr__(placeholder, "__class__", ModuleType)
    return previous


class LazyImport(ModuleType):
    """A module imported on first attribute access.

    ``LazyImport("boto3")`` stands for ``import boto3``; ``LazyImport("botocore.config")``
    for ``import botocore.config as config``; ``LazyImport("boto3", "client")`` for
    ``from boto3 import client``, resolved on first use or call.

    With ``check=True`` the top-level package must be installed when the LazyImport is
    defined (found with ``importlib.util.find_spec``, without importing it); with
    ``check=False`` a missing package raises on first use instead. A module that is
    already imported is returned as is.
    """

    if TYPE_CHECKING:

        @overload
        def __new__(
            cls, module_name: str, attribute: None = None, *, check: bool = True
        ) -> LazyImport: ...

        @overload
        def __new__(cls, module_name: str, attribute: str, *, check: bool = True) -> Any: ...

    def __new__(cls, module_name: str, attribute: str | None = None, *, check: bool = True) -> Any:
        _check_name(module_name, attribute)
        module = _loaded(module_name)
        if module is not None:
            if attribute is None:
                return module
            try:
                return getattr(module, attribute)
            except AttributeError:
                pass  # perhaps a submodule not yet imported: resolve it lazily
        if check and not _top_level_exists(module_name):
            top = module_name.partition(".")[0]
            raise ModuleNotFoundError(
                f"No module named {top!r}, needed by LazyImport({module_name!r}): install it, "
                f"or pass check=False to defer this error to first use",
                name=top,
            )
        placeholder: LazyImport | _LazyAttribute
        if attribute is not None:
            placeholder = _LazyAttribute(module_name, attribute)
        else:
            placeholder = ModuleType.__new__(cls)
            ModuleType.__init__(placeholder, module_name)
            placeholder.__dict__[_STATE_KEY] = _LoadState(module_name)
        _pending[id(placeholder)] = placeholder
        return placeholder

    def __init__(self, module_name: str, attribute: str | None = None, *, check: bool = True):
        pass  # everything happens in __new__

    def _lazy_load(self) -> Any:
        state: _LoadState | None = _own_dict(self).get(_STATE_KEY)
        if state is None:  # another thread finished loading while we got here
            return self
        module = state.module
        if module is not None:  # forwarding: not a plain module, or not CPython
            return module
        if state.importer == threading.get_ident():
            return _while_importing(state.name, f"LazyImport({state.name!r})")
        with state.lock:  # other threads wait here for the import to finish
            if state.module is None:
                state.importer = threading.get_ident()
                try:  # a failure propagates; nothing is cached
                    module = _import(state.name, f"LazyImport({state.name!r})")
                finally:
                    state.importer = None
                state.placeholder_dict = _adopt_dict(self, module)
                state.module = module
                if state.placeholder_dict is None:
                    object.__setattr__(self, "__class__", _ForwardingModule)
                _pending.pop(id(self), None)
        return state.module

    def __getattr__(self, name: str) -> Any:
        module = LazyImport._lazy_load(self)
        if module is self:
            return ModuleType.__getattribute__(self, name)
        return getattr(module, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(LazyImport._lazy_load(self), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(LazyImport._lazy_load(self), name)

    def __dir__(self) -> list[str]:
        return dir(LazyImport._lazy_load(self))

    def __repr__(self) -> str:
        state: _LoadState | None = _own_dict(self).get(_STATE_KEY)
        if state is None:
            return ModuleType.__repr__(self)
        if state.module is not None:
            return repr(state.module)
        return f"<LazyImport {state.name!r} (not yet imported)>"


def _own_dict(placeholder: ModuleType) -> dict[str, Any]:
    namespace: dict[str, Any] = ModuleType.__getattribute__(placeholder, "__dict__")
    return namespace


def _target(placeholder: ModuleType) -> Any:
    return _own_dict(placeholder)[_STATE_KEY].module


class _ForwardingModule(ModuleType):
    """A loaded placeholder whose module is not a plain one (a class, an instance, a
    module subclass, or any module off CPython): every lookup goes to that object."""

    def __getattribute__(self, name: str) -> Any:
        return getattr(_target(self), name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(_target(self), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(_target(self), name)

    def __dir__(self) -> list[str]:
        return dir(_target(self))

    def __repr__(self) -> str:
        return repr(_target(self))


class _LazyAttribute:
    """``from module import attribute``, resolved on first use or call."""

    __slots__ = ("__weakref__", "_attribute", "_importer", "_lock", "_module_name", "_target")

    def __init__(self, module_name: str, attribute: str) -> None:
        self._module_name = module_name
        self._attribute = attribute
        self._lock = threading.Lock()
        self._target: Any = _NOT_LOADED
        self._importer: int | None = None

    @property
    def _name(self) -> str:
        return f"{self._module_name}.{self._attribute}"

    def _resolve(self) -> Any:
        target = self._target
        if target is not _NOT_LOADED:
            return target
        owner = f"LazyImport({self._module_name!r}, {self._attribute!r})"
        if self._importer == threading.get_ident():  # a circular import
            return getattr(_while_importing(self._module_name, owner), self._attribute)
        with self._lock:
            if self._target is _NOT_LOADED:
                self._importer = threading.get_ident()
                try:
                    module = _import(self._module_name, owner)
                    try:
                        value = getattr(module, self._attribute)
                    except AttributeError:
                        value = self._import_submodule()
                finally:
                    self._importer = None
                self._target = value
                _pending.pop(id(self), None)
        return self._target

    def _import_submodule(self) -> ModuleType:
        try:
            return import_module(self._name)
        except ModuleNotFoundError as exc:
            if exc.name != self._name:
                raise
            raise ImportError(
                f"cannot import name {self._attribute!r} from {self._module_name!r}, "
                f"needed by LazyImport({self._module_name!r}, {self._attribute!r})",
                name=self._module_name,
            ) from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)

    def __repr__(self) -> str:
        if self._target is _NOT_LOADED:
            return f"<LazyImport {self._name!r} (not yet imported)>"
        return f"<LazyImport {self._name!r}: {self._target!r}>"


_NOT_LOADED: Any = object()


def resolve_lazy_imports() -> list[str]:
    """Import every pending :class:`LazyImport` now and return their names.

    Call it in the Lambda init phase under SnapStart or provisioned concurrency, where
    init runs ahead of the first request. Every pending import is attempted; if any
    fail, the first failure is raised after the rest have been tried.
    """
    resolved: list[str] = []
    failures: list[tuple[str, BaseException]] = []
    for placeholder in list(_pending.values()):
        if isinstance(placeholder, _LazyAttribute):
            name = placeholder._name
            load = placeholder._resolve
        else:
            name = placeholder.__name__
            load = placeholder._lazy_load
        try:
            load()
        except Exception as exc:
            failures.append((name, exc))
        else:
            resolved.append(name)
    if failures:
        first = failures[0][1]
        failed = ", ".join(name for name, _ in failures)
        add_note(first, f"resolve_lazy_imports: failed to import {failed}")
        raise first
    return resolved
