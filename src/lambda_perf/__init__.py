"""Performance and resilience utilities for Python AWS Lambda functions.

Public names are re-exported lazily (PEP 562), so ``import lambda_perf`` loads only this
file: each utility's module is imported on first use of one of its names.
"""

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost milliseconds
if TYPE_CHECKING:
    from ._errors import ConfigurationError, LambdaPerfError, MissingRegionError
    from .clients import clear_client_cache, get_aws_client, prime_clients
    from .lazy import LazyImport, resolve_lazy_imports

    __version__: str

# public name -> submodule that defines it
_EXPORTS = {
    "LambdaPerfError": "_errors",
    "ConfigurationError": "_errors",
    "MissingRegionError": "_errors",
    "LazyImport": "lazy",
    "resolve_lazy_imports": "lazy",
    "get_aws_client": "clients",
    "prime_clients": "clients",
    "clear_client_cache": "clients",
}

__all__ = [
    "ConfigurationError",
    "LambdaPerfError",
    "LazyImport",
    "MissingRegionError",
    "clear_client_cache",
    "get_aws_client",
    "prime_clients",
    "resolve_lazy_imports",
]


def __getattr__(name: str) -> object:
    submodule = _EXPORTS.get(name)
    if submodule is not None:
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{submodule}"), name)
    elif name == "__version__":
        from importlib.metadata import version

        value = version("lambda-perf")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
