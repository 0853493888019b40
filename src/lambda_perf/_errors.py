"""The package's exceptions. Every one derives from :class:`LambdaPerfError`."""

from __future__ import annotations


class LambdaPerfError(Exception):
    """Base class of every error that lambda-perf raises itself."""


class ConfigurationError(LambdaPerfError, ValueError):
    """A setting (an argument or an environment variable) has a value lambda-perf cannot use."""


class MissingRegionError(ConfigurationError):
    """No AWS region is configured for a client."""
