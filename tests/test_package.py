"""The package surface: lazy re-exports, version, and the cost of ``import lambda_perf``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lambda_perf

HEAVY = ("boto3", "botocore", "asyncio", "urllib3")


def test_import_loads_no_heavy_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import lambda_perf"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()]
    assert "lambda_perf" in imported
    heavy = [name for name in imported if name.split(".")[0] in HEAVY]
    assert heavy == []
    ours = [name for name in imported if name.startswith("lambda_perf.")]
    assert ours == [], "import lambda_perf must load only the package __init__"


def test_first_use_of_get_aws_client_is_what_imports_boto3() -> None:
    code = (
        "import sys, os; os.environ['AWS_REGION'] = 'us-east-1';"
        "from lambda_perf import get_aws_client;"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules;"
        "get_aws_client('s3'); assert 'boto3' in sys.modules; print('ok')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    assert lambda_perf.__version__ == version("lambda-perf") == "0.1.0"


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    for name in lambda_perf.__all__:
        assert getattr(lambda_perf, name) is not None
    assert set(lambda_perf.__all__) | {"__version__"} <= set(dir(lambda_perf))


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        lambda_perf.no_such_name  # noqa: B018


def test_no_runtime_dependencies() -> None:
    from importlib.metadata import requires

    always = [r for r in requires("lambda-perf") or [] if "extra ==" not in r]
    assert always == []  # boto3/botocore are the [aws] extra; nothing else is needed
