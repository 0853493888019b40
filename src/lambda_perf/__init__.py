"""Performance and resilience utilities for Python AWS Lambda functions.

Public names are re-exported lazily (PEP 562), so ``import lambda_perf`` loads only this
file: each utility's module is imported on first use of one of its names.
"""

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost milliseconds
if TYPE_CHECKING:
    from ._errors import (
        CircuitOpenError,
        ConfigurationError,
        LambdaPerfError,
        MissingRegionError,
        SecretFetchError,
    )
    from ._retry_state import RetryState
    from .breaker import CircuitBreaker, CircuitState
    from .cache import ttl_cache
    from .clients import clear_client_cache, get_aws_client, prime_clients
    from .context import get_lambda_context, set_lambda_context
    from .lazy import LazyImport, resolve_lazy_imports
    from .retry import RetryBudget, retry_with_backoff
    from .secrets import get_parameter, get_secret, invalidate

    __version__: str

# public name -> submodule that defines it
_EXPORTS = {
    "LambdaPerfError": "_errors",
    "ConfigurationError": "_errors",
    "MissingRegionError": "_errors",
    "CircuitOpenError": "_errors",
    "CircuitBreaker": "breaker",
    "CircuitState": "breaker",
    "SecretFetchError": "_errors",
    "ttl_cache": "cache",
    "get_secret": "secrets",
    "get_parameter": "secrets",
    "invalidate": "secrets",
    "retry_with_backoff": "retry",
    "RetryBudget": "retry",
    "RetryState": "_retry_state",
    "get_lambda_context": "context",
    "set_lambda_context": "context",
    "LazyImport": "lazy",
    "resolve_lazy_imports": "lazy",
    "get_aws_client": "clients",
    "prime_clients": "clients",
    "clear_client_cache": "clients",
}

__all__ = [
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "ConfigurationError",
    "LambdaPerfError",
    "LazyImport",
    "MissingRegionError",
    "RetryBudget",
    "RetryState",
    "SecretFetchError",
    "clear_client_cache",
    "get_aws_client",
    "get_lambda_context",
    "get_parameter",
    "get_secret",
    "invalidate",
    "prime_clients",
    "resolve_lazy_imports",
    "retry_with_backoff",
    "set_lambda_context",
    "ttl_cache",
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
