"""Metrics: EMF lines validated against the specification's schema, and the limits."""

from __future__ import annotations

import json

import jsonschema
import pytest

from emf_check import emf_lines, parse_emf
from lambda_perf import ConfigurationError, Metrics
from lambda_perf import metrics as default_metrics


@pytest.fixture(autouse=True)
def namespace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_PERF_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)


def test_a_flush_writes_one_valid_emf_line(capsys: pytest.CaptureFixture[str]) -> None:
    m = Metrics(namespace="Shop", service="orders")
    m.add_metric("Orders", 2)
    m.add_metric("Orders", 3)
    m.add_metric("Latency", 12.5, unit="Milliseconds", resolution=1)
    m.add_dimension("stage", "prod")
    m.add_metadata("request_id", "abc")
    m.flush()
    (line,) = emf_lines(capsys.readouterr().out)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Shop"
    assert directive["Dimensions"] == [["service", "stage"]]
    assert {"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 1} in directive[
        "Metrics"
    ]
    assert line["Orders"] == [2, 3]
    assert line["Latency"] == 12.5
    assert (line["service"], line["stage"], line["request_id"]) == ("orders", "prod", "abc")
    m.flush()  # nothing left: no output
    assert capsys.readouterr().out == ""


def test_more_than_100_metrics_are_split_over_lines(capsys: pytest.CaptureFixture[str]) -> None:
    m = Metrics(namespace="Shop")
    for i in range(250):
        m.add_metric(f"m{i}", i)
    m.flush()
    lines = emf_lines(capsys.readouterr().out)
    sizes = [len(line["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for line in lines]
    assert sizes == [100, 100, 50]
    names = {d["Name"] for line in lines for d in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {f"m{i}" for i in range(250)}


def test_the_schema_rejects_what_the_specification_forbids() -> None:
    good = (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["d"]],'
        '"Metrics":[{"Name":"M","Unit":"Count"}]}]},"d":"x","M":1}'
    )
    parse_emf(good)
    for bad in (
        good.replace('"Unit":"Count"', '"Unit":"Apples"'),
        good.replace('"M":1', '"M":"one"'),
        good.replace('"Timestamp":1,', ""),
        good.replace('"d":"x",', ""),
    ):
        with pytest.raises((jsonschema.ValidationError, AssertionError, KeyError)):
            parse_emf(bad)


def test_at_most_100_values_per_metric() -> None:
    m = Metrics(namespace="Shop")
    for i in range(100):
        m.add_metric("Hits", i)
    with pytest.raises(ValueError, match="metric 'Hits' already has 100 values"):
        m.add_metric("Hits", 1)


def test_at_most_30_dimensions() -> None:
    m = Metrics(namespace="Shop")
    for i in range(29):  # plus service
        m.add_dimension(f"d{i}", "v")
    with pytest.raises(ValueError, match=r"dimension 'd29'.*at most 30"):
        m.add_dimension("d29", "v")
    m.add_dimension("d0", "replaced")  # an existing key is fine


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "", "value": 1}, "metric name"),
        ({"name": "x" * 256, "value": 1}, "metric name"),
        ({"name": "_aws", "value": 1}, "reserved"),
        ({"name": "Latency", "value": 1, "unit": "ms"}, "metric 'Latency': unit 'ms'"),
        ({"name": "Latency", "value": 1, "resolution": 5}, "metric 'Latency': resolution"),
        ({"name": "Latency", "value": float("nan")}, "metric 'Latency': value"),
        ({"name": "Latency", "value": True}, "metric 'Latency': value"),
        ({"name": "Latency", "value": "3"}, "metric 'Latency': value"),
    ],
)
def test_bad_metrics_are_rejected_when_added(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Metrics(namespace="Shop").add_metric(**kwargs)  # type: ignore[arg-type]


def test_a_metric_keeps_its_unit_within_a_flush() -> None:
    m = Metrics(namespace="Shop")
    m.add_metric("Size", 1, unit="Bytes")
    with pytest.raises(ValueError, match="metric 'Size' was added with unit 'Bytes'"):
        m.add_metric("Size", 1, unit="Kilobytes")


@pytest.mark.parametrize("namespace", ["has space", "", "x" * 257, "bad!"])
def test_bad_namespaces_are_rejected(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Metrics(namespace=namespace or "!")


def test_namespace_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FromPowertools")
    assert Metrics().namespace == "FromPowertools"
    monkeypatch.setenv("LAMBDA_PERF_METRICS_NAMESPACE", "FromLambdaPerf")
    assert Metrics().namespace == "FromLambdaPerf"
    assert Metrics(namespace="Explicit").namespace == "Explicit"


def test_a_missing_namespace_is_found_when_the_first_metric_is_added() -> None:
    m = Metrics()
    with pytest.raises(ConfigurationError, match=r"Orders.*LAMBDA_PERF_METRICS_NAMESPACE"):
        m.add_metric("Orders", 1)
    m.flush()  # nothing was collected: nothing to fail


def test_the_module_acts_as_the_default_instance(capsys: pytest.CaptureFixture[str]) -> None:
    default_metrics.metrics.namespace = "Default"
    default_metrics.add_metric("ViaModule", 1)
    default_metrics.flush()
    (line,) = emf_lines(capsys.readouterr().out)
    assert line["ViaModule"] == 1


# --- issue 9: strict JSON, name clashes, the module alias ------------------------------


def test_emf_lines_are_strict_json_and_keep_self_referencing_metadata(
    capsys: pytest.CaptureFixture[str],
) -> None:
    m = Metrics(namespace="Strict")
    loop: dict[str, object] = {}
    loop["again"] = loop
    m.add_metadata("ratio", float("nan"))
    m.add_metadata("limits", [float("inf"), 1.5])
    m.add_metadata("loop", loop)
    m.add_metric("Orders", 2)
    m.flush()
    (raw,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("{")]

    def refuse(constant: str) -> object:
        raise ValueError(constant)

    line = json.loads(raw, parse_constant=refuse)
    assert line["ratio"] == "NaN"
    assert line["limits"] == ["Infinity", 1.5]
    assert line["loop"] == {"again": "<cycle>"}
    assert line["Orders"] == 2
    parse_emf(raw)


def test_a_dimension_may_not_share_a_name_with_a_metric() -> None:
    m = Metrics(namespace="Clash")
    m.add_metric("Orders", 1)
    with pytest.raises(ValueError, match="dimension 'Orders' clashes"):
        m.add_dimension("Orders", "eu")
    with pytest.raises(ValueError, match="metadata 'Orders' clashes"):
        m.add_metadata("Orders", "x")
    m.add_dimension("region", "eu")
    with pytest.raises(ValueError, match="metric 'region' clashes"):
        m.add_metric("region", 1)
    with pytest.raises(ValueError, match="metric 'service' clashes"):
        m.add_metric("service", 1)


def test_setting_the_namespace_on_the_module_alias_sets_the_default_instance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lambda_perf import metrics as alias

    saved = default_metrics.metrics.namespace
    try:
        alias.namespace = "FromAlias"
        assert default_metrics.metrics.namespace == "FromAlias"
        alias.add_metric("AliasMetric", 1)
        alias.flush()
        (line,) = emf_lines(capsys.readouterr().out)
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FromAlias"
        with pytest.raises(ValueError, match="namespace"):
            alias.namespace = "bad namespace!"
    finally:
        default_metrics.metrics.namespace = saved
