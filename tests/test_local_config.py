"""FunctionConfig and the local service's argument parsing (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_perf import ConfigurationError
from lambda_perf.local.config import FunctionConfig, parse_env_pairs, parse_handler
from lambda_perf.local.report import billed_duration_ms, exit_error, report_line


def test_handlers_in_both_spellings(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(e, c): pass\n")
    assert parse_handler("app.handler", tmp_path) == ("app.handler", tmp_path.resolve())
    assert parse_handler(f"{tmp_path / 'app.py'}:handler", None) == (
        "app.handler",
        tmp_path.resolve(),
    )
    assert parse_handler("app.py:handler", tmp_path) == ("app.handler", tmp_path.resolve())
    for bad in ("handler", "app.py:not-an-identifier", "app.txt:handler"):
        with pytest.raises(ConfigurationError, match="handler"):
            parse_handler(bad, tmp_path)
    with pytest.raises(ConfigurationError, match="no such file"):
        parse_handler("missing.py:handler", tmp_path)


def test_environment_from_pairs_and_a_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport A=1\nB='two words'\n\nC=3\n")
    assert parse_env_pairs(["C=override", "D=x=y"], str(env_file)) == {
        "A": "1",
        "B": "two words",
        "C": "override",
        "D": "x=y",
    }
    (tmp_path / "bad.env").write_text("JUSTAKEY\n")
    with pytest.raises(ConfigurationError, match="line 1: expected KEY=VALUE"):
        parse_env_pairs(None, str(tmp_path / "bad.env"))
    with pytest.raises(ConfigurationError, match="--env-file"):
        parse_env_pairs(None, str(tmp_path / "absent.env"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory": 64}, "--memory"),
        ({"timeout": 901}, "--timeout"),
        ({"reserved_concurrency": 0}, "--reserved-concurrency"),
        ({"max_concurrency": 0}, "--max-concurrency"),
        ({"max_retry_attempts": 3}, "--max-retry-attempts"),
        ({"function_name": "bad name!"}, "--function-name"),
    ],
)
def test_bad_settings_name_the_option(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        FunctionConfig.from_handler("app.handler", tmp_path, **options)


def test_updates_are_all_or_nothing(tmp_path: Path) -> None:
    config = FunctionConfig.from_handler("app.handler", tmp_path)
    revision = config.revision
    with pytest.raises(ConfigurationError, match="Timeout"):
        config.update(memory=512, timeout=0)
    assert (config.memory, config.revision) == (128, revision)
    config.update(memory=512, environment={"K": "v"})
    assert (config.memory, config.environment) == (512, {"K": "v"})
    assert config.revision != revision
    assert config.description()["MemorySize"] == 512


def test_report_lines_in_lambdas_format() -> None:
    assert billed_duration_ms(0.2, None) == 1
    assert billed_duration_ms(10.01, 100.5) == 111  # init is billed since August 2025
    line = report_line("r", duration_ms=1.5, memory_mb=128, max_memory_used_mb=30, init_ms=9.25)
    assert line == (
        "REPORT RequestId: r\tDuration: 1.50 ms\tBilled Duration: 11 ms\tMemory Size: 128 MB"
        "\tMax Memory Used: 30 MB\tInit Duration: 9.25 ms\t"
    )
    assert exit_error("r", -9)["errorMessage"].endswith("signal: kill")
