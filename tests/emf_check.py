"""Checks an EMF line against the schema written from AWS's specification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).parent / "emf_schema.json").read_text())
VALUE_SCHEMA = {**SCHEMA["definitions"]["MetricValue"], "definitions": SCHEMA["definitions"]}


def parse_emf(line: str) -> dict[str, Any]:
    """Parse and validate one EMF line; every member a directive names must be at the root."""
    document: dict[str, Any] = json.loads(line)
    jsonschema.validate(document, SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                assert isinstance(document[key], str), f"dimension {key} missing at the root"
        for metric in directive["Metrics"]:
            jsonschema.validate(document[metric["Name"]], VALUE_SCHEMA)
    return document


def emf_lines(output: str) -> list[dict[str, Any]]:
    return [parse_emf(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"level"')]
