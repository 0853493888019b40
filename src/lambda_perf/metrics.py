"""CloudWatch metrics in the Embedded Metric Format (EMF): JSON lines on stdout.

CloudWatch Logs extracts the metrics from the log lines; there is no API call and no
network. Limits of the EMF specification, a missing namespace and name clashes between
metrics, dimensions and metadata are checked when a metric is added, so a bad name, unit
or value fails where it is written, not silently at flush. Metadata is written as the
log lines write fields: strict JSON (NaN and infinities as strings, a container inside
itself as ``"<cycle>"``), secret-looking keys redacted.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from types import ModuleType

from ._errors import ConfigurationError
from .logging import redact, service_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Metrics", "add_dimension", "add_metadata", "add_metric", "flush", "metrics"]

NAMESPACE_ENV = ("LAMBDA_PERF_METRICS_NAMESPACE", "POWERTOOLS_METRICS_NAMESPACE")
MAX_METRICS_PER_LINE = 100
MAX_VALUES_PER_METRIC = 100
MAX_DIMENSIONS = 30
NAMESPACE_PATTERN = re.compile(r"^[a-zA-Z0-9._#:/-]{1,256}$")
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
RESERVED_KEYS = frozenset({"_aws"})


def _namespace_from_environment() -> str | None:
    for name in NAMESPACE_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ValueError(
            f"{kind} name must be a non-empty string of at most 255 characters, got {name!r}"
        )
    if name in RESERVED_KEYS:
        raise ValueError(f"{kind} name {name!r} is reserved by the embedded metric format")
    return name


class Metrics:
    """Collects metrics, dimensions and metadata; ``flush()`` writes them as EMF lines.

    ``namespace`` defaults to ``LAMBDA_PERF_METRICS_NAMESPACE``, then
    ``POWERTOOLS_METRICS_NAMESPACE``; ``service`` (a default dimension) to the service
    name the logger uses.
    """

    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        self._namespace: str | None = None
        self.namespace = namespace or _namespace_from_environment()
        self.explicit_service = service  # None: as lambda_handler or the environment says
        self._lock = threading.Lock()
        self._metrics: dict[str, dict[str, Any]] = {}
        self._dimensions: dict[str, str] = {}
        self._metadata: dict[str, Any] = {}

    @property
    def namespace(self) -> str | None:
        """The CloudWatch namespace; checked when set."""
        return self._namespace

    @namespace.setter
    def namespace(self, value: str | None) -> None:
        if value is not None:
            self._check_namespace(value)
        self._namespace = value

    @property
    def service(self) -> str:
        return service_name(self.explicit_service)

    @service.setter
    def service(self, name: str) -> None:
        self.explicit_service = name

    @staticmethod
    def _check_namespace(namespace: object) -> None:
        if not isinstance(namespace, str) or not NAMESPACE_PATTERN.match(namespace):
            raise ValueError(
                f"metrics namespace {namespace!r} is invalid: use 1-256 characters from "
                f"letters, digits and . _ # : / -"
            )

    def add_metric(
        self, name: str, value: float, unit: str = "Count", resolution: int = 60
    ) -> None:
        """Add a value to metric ``name`` (the same name may hold up to 100 values)."""
        _check_name("metric", name)
        if self._namespace is None:
            raise ConfigurationError(
                f"metric {name!r} has no namespace to go to: pass namespace=... to "
                f"Metrics() or lambda_handler(), or set LAMBDA_PERF_METRICS_NAMESPACE (or "
                f"POWERTOOLS_METRICS_NAMESPACE)"
            )
        if unit not in UNITS:
            raise ValueError(
                f"metric {name!r}: unit {unit!r} is not a CloudWatch unit; use one of "
                f"{', '.join(sorted(UNITS))}"
            )
        if resolution not in (1, 60):
            raise ValueError(f"metric {name!r}: resolution must be 1 or 60, got {resolution!r}")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError(f"metric {name!r}: value must be a finite number, got {value!r}")
        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                if name == "service" or name in self._dimensions or name in self._metadata:
                    raise ValueError(
                        f"metric {name!r} clashes with a dimension or metadata key of the "
                        f"same name (one EMF line holds both at its top level): rename one"
                    )
                self._metrics[name] = {"unit": unit, "resolution": resolution, "values": [value]}
                return
            if metric["unit"] != unit or metric["resolution"] != resolution:
                raise ValueError(
                    f"metric {name!r} was added with unit {metric['unit']!r} and resolution "
                    f"{metric['resolution']}; keep them the same within one flush"
                )
            if len(metric["values"]) >= MAX_VALUES_PER_METRIC:
                raise ValueError(
                    f"metric {name!r} already has {MAX_VALUES_PER_METRIC} values, the most one "
                    f"EMF line may carry; flush() first"
                )
            metric["values"].append(value)

    def add_dimension(self, name: str, value: str) -> None:
        """Add a dimension to every metric of the next flush (30 at most, ``service`` included)."""
        _check_name("dimension", name)
        if not isinstance(value, str) or not value or len(value) > 1024:
            raise ValueError(
                f"dimension {name!r}: value must be a non-empty string of at most 1024 "
                f"characters, got {value!r}"
            )
        with self._lock:
            if name in self._metrics or name in self._metadata:
                raise ValueError(
                    f"dimension {name!r} clashes with a metric or metadata key of the same "
                    f"name (one EMF line holds both at its top level): rename one"
                )
            keys = {"service", *self._dimensions}
            if name not in keys and len(keys) >= MAX_DIMENSIONS:
                raise ValueError(
                    f"dimension {name!r}: a metric may have at most {MAX_DIMENSIONS} dimensions"
                )
            self._dimensions[name] = value

    def add_metadata(self, key: str, value: Any) -> None:
        """Add a searchable field to the next flush's lines (not a metric, not a dimension)."""
        _check_name("metadata", key)
        with self._lock:
            if key == "service" or key in self._metrics or key in self._dimensions:
                raise ValueError(
                    f"metadata {key!r} clashes with a metric or dimension of the same name "
                    f"(one EMF line holds both at its top level): rename one"
                )
            self._metadata[key] = value

    def flush(self) -> None:
        """Write the collected metrics as EMF lines to stdout, then forget them.

        A flush with nothing to send is a no-op. More than 100 metrics are split over
        several lines.
        """
        with self._lock:
            if not self._metrics:
                self._dimensions.clear()
                self._metadata.clear()
                return
            collected, dimensions, metadata = self._metrics, self._dimensions, self._metadata
            self._metrics, self._dimensions, self._metadata = {}, {}, {}
        lines = self.serialize(collected, dimensions, metadata)
        sys.stdout.write("".join(line + "\n" for line in lines))

    def serialize(
        self,
        collected: dict[str, dict[str, Any]],
        dimensions: dict[str, str],
        metadata: dict[str, Any],
    ) -> list[str]:
        """The EMF lines for these metrics (100 metrics per line at most)."""
        if self.namespace is None:
            raise ConfigurationError(
                f"metrics {', '.join(sorted(collected))} have no namespace: pass "
                f"namespace=..., or set LAMBDA_PERF_METRICS_NAMESPACE (or "
                f"POWERTOOLS_METRICS_NAMESPACE)"
            )
        all_dimensions = {"service": self.service, **dimensions}
        clean_metadata = redact(metadata) if metadata else {}
        timestamp = int(time.time() * 1000)
        names = list(collected)
        lines = []
        for start in range(0, len(names), MAX_METRICS_PER_LINE):
            chunk = names[start : start + MAX_METRICS_PER_LINE]
            document: dict[str, Any] = {
                "_aws": {
                    "Timestamp": timestamp,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self.namespace,
                            "Dimensions": [list(all_dimensions)],
                            "Metrics": [
                                {
                                    "Name": name,
                                    "Unit": collected[name]["unit"],
                                    "StorageResolution": collected[name]["resolution"],
                                }
                                for name in chunk
                            ],
                        }
                    ],
                },
                **clean_metadata,
                **all_dimensions,
            }
            for name in chunk:
                values = collected[name]["values"]
                document[name] = values[0] if len(values) == 1 else values
            lines.append(json.dumps(document, default=str, separators=(",", ":"), allow_nan=False))
        return lines

    def single_metric_line(
        self, name: str, value: float, unit: str, dimensions: dict[str, str]
    ) -> str:
        """One EMF line for one metric with its own dimension set (ColdStart, say)."""
        scratch = Metrics(self.namespace, dimensions.get("service", self.service))
        scratch.add_metric(name, value, unit)
        extra = {k: v for k, v in dimensions.items() if k != "service"}
        (line,) = scratch.serialize(scratch._metrics, extra, {})
        return line


metrics = Metrics()
"""The default instance; ``@lambda_handler`` flushes it after every invocation."""

# ``from lambda_perf import metrics`` gives this module, which acts as the default
# instance: ``metrics.add_metric(...)`` adds to it, whichever of the two you hold.
add_metric = metrics.add_metric
add_dimension = metrics.add_dimension
add_metadata = metrics.add_metadata
flush = metrics.flush


class _DefaultMetricsModule(ModuleType):
    """This module's type: ``lambda_perf.metrics.namespace = "X"`` (and ``service``)
    set the default instance's, instead of a module attribute nothing reads."""

    @property
    def namespace(self) -> str | None:
        return metrics.namespace

    @namespace.setter
    def namespace(self, value: str | None) -> None:
        metrics.namespace = value

    @property
    def service(self) -> str:
        return metrics.service

    @service.setter
    def service(self, value: str) -> None:
        metrics.service = value


sys.modules[__name__].__class__ = _DefaultMetricsModule
