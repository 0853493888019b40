"""The ``lambda-perf`` command line: ``local invoke``, ``local serve`` and ``bench``, run
for real (subprocesses for the commands that own processes, ``main()`` in process where
the test must inspect the service afterwards)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

pytest.importorskip("awslambdaric")

from lambda_perf.cli import main
from lambda_perf.cli.bench import NONCE_VARIABLE, parse_report, summarise
from lambda_perf.local import FunctionConfig, LocalLambda

TINY = """
import os

def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": True, "pid": os.getpid()}
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "tiny.py").write_text(textwrap.dedent(TINY))
    return tmp_path


def runtime_processes(code_dir: Path) -> list[int]:
    """PIDs of live awslambdaric processes whose task root is code_dir."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().split(") ")[1][0]
        except (OSError, IndexError):
            continue
        ours = b"awslambdaric" in cmdline and f"LAMBDA_TASK_ROOT={code_dir}".encode() in environ
        if ours and state != "Z":
            found.append(int(entry))
    return found


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambda_perf.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_local_invoke_prints_the_result_and_the_report_line(code_dir: Path) -> None:
    proc = cli("local", "invoke", "tiny.handler", "--code-dir", str(code_dir))
    assert proc.returncode == 0, proc.stderr
    result, report = proc.stdout.strip().splitlines()
    assert json.loads(result)["ok"] is True
    assert report.startswith("REPORT RequestId: ")
    assert "Init Duration" in report
    assert "START RequestId" in proc.stderr  # the function's log
    assert runtime_processes(code_dir) == []


def test_local_invoke_of_a_failing_handler_exits_1(code_dir: Path) -> None:
    proc = cli(
        "local", "invoke", f"{code_dir / 'tiny.py'}:handler", "--event", "-", stdin='{"fail": true}'
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout.splitlines()[0])["errorType"] == "RuntimeError"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["local", "invoke", "nodots"], "module.function"),
        (["local", "invoke", "missing.py:handler"], "no such file"),
        (["local", "invoke", "tiny.handler", "--memory", "64"], "--memory"),
        (["local", "invoke", "tiny.handler", "--env", "NOEQUALS"], "KEY=VALUE"),
        (["local", "invoke", "tiny.handler", "--event", "/no/such/event.json"], "--event"),
    ],
)
def test_usage_errors_exit_2_and_say_what_to_do(
    code_dir: Path, args: list[str], message: str
) -> None:
    proc = cli(*args, "--code-dir", str(code_dir))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_local_serve_answers_boto3_and_stops_everything_on_ctrl_c(code_dir: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambda_perf.cli",
            "local",
            "serve",
            "tiny.handler",
            "--code-dir",
            str(code_dir),
            "--function-name",
            "served",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.split(" on ")[1].strip()
        client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1")
        response = client.invoke(FunctionName="served", Payload=b"{}")
        assert json.loads(response["Payload"].read())["ok"] is True
        assert len(runtime_processes(code_dir)) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert runtime_processes(code_dir) == []


@pytest.fixture
def served(code_dir: Path) -> Iterator[LocalLambda]:
    config = FunctionConfig.from_handler(
        "tiny.handler", code_dir, function_name="bench-fn", environment={"KEEP": "me"}
    )
    with LocalLambda(config, log=lambda line: None) as service:
        yield service
    assert runtime_processes(code_dir) == []


def test_bench_full_against_an_endpoint_restores_the_configuration(
    served: LocalLambda, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.json"
    code = main(
        [
            "bench",
            "--function",
            "bench-fn",
            "--endpoint-url",
            served.endpoint_url,
            "--test",
            "full",
            "--count",
            "2",
            "--concurrency",
            "3",
            "--output",
            str(output),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    for label in (
        "Cold Start Test 1/2...",
        "Cold Start Test 2/2...",
        "Warm Start Test 1/2...",
        "Total Time",
        "Success",
        "Count",
        "Min",
        "Max",
        "Average",
        "Median",
        "StdDev",
        "p95",
        "p99",
        "Summary at 128 MB",
        "$ per million",
    ):
        assert label in printed, label
    document = json.loads(output.read_text())
    assert set(document["tests"]) == {"cold", "warm", "concurrent"}
    cold = document["tests"]["cold"]["invocations"]
    assert len(cold) == 2
    assert all(m["init_ms"] and m["init_ms"] > 0 for m in cold)  # each one a cold start
    warm = document["tests"]["warm"]["invocations"]
    assert all(m["init_ms"] is None for m in warm)
    assert document["tests"]["concurrent"]["succeeded"] == 3
    variables = served.config.environment
    assert variables == {"KEEP": "me"}  # restored: no bench nonce left behind
    assert NONCE_VARIABLE not in variables


def test_bench_full_with_a_handler_runs_the_local_service_itself(
    code_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "local.json"
    proc = cli(
        "bench", "--handler", "tiny.handler", "--code-dir", str(code_dir), "--test", "full",
        "--count", "2", "--concurrency", "2", "--output", str(output),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for label in (
        "Cold Start Test 2/2...", "Warm Start Test 2/2...", "Concurrent Test", "Total Time",
        "Success: 2/2", "Median", "p99", "$ per million",
    ):  # fmt: skip
        assert label in proc.stdout, label
    document = json.loads(output.read_text())
    assert document["target"] == "local"
    assert set(document["tests"]) == {"cold", "warm", "concurrent"}
    assert document["tests"]["cold"]["succeeded"] == 2
    assert runtime_processes(code_dir) == []


def test_bench_counts_failures_and_exits_1(
    served: LocalLambda, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = tmp_path / "fail.json"
    event.write_text('{"fail": true}')
    code = main(
        [
            "bench",
            "--function",
            "bench-fn",
            "--endpoint-url",
            served.endpoint_url,
            "--test",
            "warm",
            "--count",
            "2",
            "--event",
            str(event),
        ]
    )
    assert code == 1
    assert "RuntimeError" in capsys.readouterr().err


def test_bench_on_a_missing_function_says_what_to_do(
    served: LocalLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "--function", "nope", "--endpoint-url", served.endpoint_url])
    assert code == 2
    assert "no function 'nope'" in capsys.readouterr().err


def test_report_parsing_and_statistics() -> None:
    line = (
        "REPORT RequestId: r\tDuration: 12.50 ms\tBilled Duration: 80 ms\tMemory Size: 128 MB"
        "\tMax Memory Used: 40 MB\tInit Duration: 66.70 ms\t"
    )
    assert parse_report(f"START\n{line}\n") == {
        "duration_ms": 12.5,
        "billed_ms": 80.0,
        "init_ms": 66.7,
        "max_memory_mb": 40.0,
    }
    stats = summarise([float(v) for v in range(1, 101)])
    assert (stats["min"], stats["max"], stats["median"], stats["p95"], stats["p99"]) == (
        1.0,
        100.0,
        50.5,
        95.0,
        99.0,
    )
    assert time.time() > 0
