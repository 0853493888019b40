"""get_logger: JSON lines, Powertools key names, redaction, and never raising."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from emf_check import log_lines
from lambda_perf import get_logger
from lambda_perf.logging import clear_keys

SECRET = "pa55-w0rd-never-print-me-91b2"


@pytest.fixture(autouse=True)
def fresh_loggers() -> Iterator[None]:
    clear_keys()
    yield
    clear_keys()
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("test-"):
            logging.getLogger(name).handlers.clear()


def test_one_json_object_per_line_with_powertools_keys(capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("test-basic", service="orders")
    log.info("order %s accepted", 42, extra={"order_id": 42, "amount": 9.5})
    (line,) = log_lines(capsys.readouterr().out)
    assert line["level"] == "INFO"
    assert line["message"] == "order 42 accepted"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert line["service"] == "orders"
    assert line["order_id"] == 42
    assert line["amount"] == 9.5
    assert "cold_start" in line


def test_appended_keys_appear_on_every_line_until_cleared(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = get_logger("test-keys")
    log.append_keys(tenant="acme")
    log.info("one")
    log.warning("two")
    log.remove_keys("tenant")
    log.info("three")
    lines = log_lines(capsys.readouterr().out)
    assert [line.get("tenant") for line in lines] == ["acme", "acme", None]


def test_secret_looking_keys_are_redacted_at_any_depth(capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("test-redact")
    log.info(
        "connecting",
        extra={
            "password": SECRET,
            "config": {"DB_Password": SECRET, "hosts": [{"Authorization": SECRET}], "port": 5432},
            "client_secret": SECRET,
            "apiKey": SECRET,
            "X-Api_Key": SECRET,
            "refresh_token": SECRET,
        },
    )
    output = capsys.readouterr().out
    assert SECRET not in output
    (line,) = log_lines(output)
    assert line["password"] == "***"
    assert line["config"]["DB_Password"] == "***"
    assert line["config"]["hosts"][0]["Authorization"] == "***"
    assert line["config"]["port"] == 5432
    assert line["apiKey"] == "***"


def test_unserialisable_values_are_stringified_and_logging_never_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-thing"

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    log = get_logger("test-robust")
    log.info("values", extra={"thing": Opaque(), "when": {1, 2}})
    log.info("hostile", extra={"bad": Hostile()})
    log.info("clashing keys", extra={"message": "x", "name": "y", "levelname": "z"})
    lines = log_lines(capsys.readouterr().out)
    assert lines[0]["thing"] == "opaque-thing"
    assert lines[1]["message"] == "hostile"
    assert lines[1]["bad"].startswith("<unprintable")
    assert lines[2]["level"] == "INFO"


def test_exceptions_carry_their_type_and_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("test-exc")
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("lookup failed")
    (line,) = log_lines(capsys.readouterr().out)
    assert line["level"] == "ERROR"
    assert line["exception_name"] == "KeyError"
    assert "Traceback" in line["traceback"]


@pytest.mark.parametrize(
    ("env", "value", "shows_debug"),
    [
        ("LOG_LEVEL", "DEBUG", True),
        ("AWS_LAMBDA_LOG_LEVEL", "debug", True),
        ("LOG_LEVEL", "WARNING", False),
        (None, None, False),
    ],
)
def test_level_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str | None,
    value: str | None,
    shows_debug: bool,
) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL", raising=False)
    if env is not None and value is not None:
        monkeypatch.setenv(env, value)
    log = get_logger(f"test-level-{env}-{value}")
    log.debug("details")
    assert bool(log_lines(capsys.readouterr().out)) is shows_debug


def test_xray_trace_id_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53;Sampled=1"
    )
    get_logger("test-xray").info("traced")
    (line,) = log_lines(capsys.readouterr().out)
    assert line["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"


# --- issue 9: every container is walked; strict JSON; reserved keys --------------------


def strict_json(line: str) -> dict[str, object]:
    """json.loads that refuses NaN and Infinity, as strict JSON readers do."""

    def refuse(constant: str) -> object:
        raise ValueError(f"not strict JSON: {constant}")

    document: dict[str, object] = json.loads(line, parse_constant=refuse)
    return document


def test_every_mapping_dataclass_list_and_tuple_is_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import collections
    import dataclasses
    import os
    import types

    @dataclasses.dataclass
    class Settings:
        host: str
        db_password: str

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET)
    log = get_logger("test-redact-all")
    log.info(
        "shapes",
        extra={
            "env": os.environ,
            "proxy": types.MappingProxyType({"password": SECRET}),
            "user_dict": collections.UserDict({"Api-Key": SECRET}),
            "settings": Settings("db.local", SECRET),
            "pairs": ({"x-api-key": SECRET},),
        },
    )
    output = capsys.readouterr().out
    assert SECRET not in output
    (line,) = log_lines(output)
    assert line["env"]["AWS_SECRET_ACCESS_KEY"] == "***"  # type: ignore[index]
    assert line["settings"] == {"host": "db.local", "db_password": "***"}
    assert line["pairs"] == [{"x-api-key": "***"}]


@pytest.mark.parametrize(
    "key",
    [
        "secret",
        "Password",
        "PASSWD",
        "refresh_token",
        "Authorization",
        "api_key",
        "apikey",
        "X-Api-Key",
        "aws-access-key",
        "SSH_PRIVATE_KEY",
        "credentials",
        "Set-Cookie",
    ],
)
def test_each_secret_word_is_matched_ignoring_case_and_dashes(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    get_logger("test-words").info("w", extra={"nested": {key: SECRET}})
    output = capsys.readouterr().out
    assert SECRET not in output


def test_lines_are_strict_json_with_cycles_marked_and_reserved_keys_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    loop: dict[str, object] = {"name": "loop"}
    loop["self"] = loop
    log = get_logger("test-strict", service="orders")
    log.info(
        "values",
        extra={
            "ratio": float("nan"),
            "up": float("inf"),
            "down": [float("-inf")],
            "loop": loop,
            "kept": 1,
            "level": "spoofed",
            "message": "spoofed",
            "timestamp": "spoofed",
        },
    )
    (raw,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    line = strict_json(raw)
    assert (line["ratio"], line["up"], line["down"]) == ("NaN", "Infinity", ["-Infinity"])
    assert line["loop"] == {"name": "loop", "self": "<cycle>"}
    assert line["kept"] == 1
    assert (line["level"], line["message"]) == ("INFO", "values")
    assert line["timestamp"] != "spoofed"
    assert (line["extra_level"], line["extra_message"]) == ("spoofed", "spoofed")
    assert line["extra_timestamp"] == "spoofed"
