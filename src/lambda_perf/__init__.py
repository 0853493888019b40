"""Performance and resilience utilities for Python AWS Lambda functions.

Public names are re-exported lazily (PEP 562), so ``import lambda_perf`` loads only this
file: each utility's module is imported on first use of one of its names.
"""

from time import perf_counter as _perf_counter

_IMPORTED_AT = _perf_counter()  # the start of "init" as lambda-perf sees it

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost milliseconds
if TYPE_CHECKING:
    from . import metrics
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
    from .context import get_lambda_context, is_cold_start, set_lambda_context
    from .handler import lambda_handler
    from .lazy import LazyImport, resolve_lazy_imports
    from .logging import get_logger
    from .metrics import Metrics
    from .retry import RetryBudget, retry_with_backoff
    from .secrets import configure_secrets, get_parameter, get_secret, invalidate

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
    "configure_secrets": "secrets",
    "retry_with_backoff": "retry",
    "RetryBudget": "retry",
    "RetryState": "_retry_state",
    "get_lambda_context": "context",
    "is_cold_start": "context",
    "lambda_handler": "handler",
    "get_logger": "logging",
    "Metrics": "metrics",
    "metrics": "",  # the submodule itself, which acts as the default Metrics instance
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
    "Metrics",
    "MissingRegionError",
    "RetryBudget",
    "RetryState",
    "SecretFetchError",
    "clear_client_cache",
    "configure_secrets",
    "get_aws_client",
    "get_lambda_context",
    "get_logger",
    "get_parameter",
    "get_secret",
    "invalidate",
    "is_cold_start",
    "lambda_handler",
    "metrics",
    "prime_clients",
    "resolve_lazy_imports",
    "retry_with_backoff",
    "set_lambda_context",
    "ttl_cache",
]


def __getattr__(name: str) -> object:
    value: object
    submodule = _EXPORTS.get(name)
    if submodule is not None:
        from importlib import import_module

        if submodule:
            value = getattr(import_module(f"{__name__}.{submodule}"), name)
        else:
            value = import_module(f"{__name__}.{name}")
    elif name == "__version__":
        from importlib.metadata import version

        value = version("lambda-perf")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


del _perf_counter
