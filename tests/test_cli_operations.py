"""``lambda-perf cost``, ``dlq show|replay`` and ``imports``, run for real: the DLQ is a
queue on a moto server, the function runs on the local Lambda service."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_perf.cli import main
from lambda_perf.cli.cost import PRICE_ARM, PRICE_X86, estimate

pytest.importorskip("awslambdaric")

from lambda_perf.local import FunctionConfig, LocalLambda

# --- cost ---------------------------------------------------------------------------------


def test_the_seeds_two_examples_exactly() -> None:
    ten_seconds = estimate(1024, 10_000, price_gb_second=PRICE_X86)
    six_seconds = estimate(1536, 6_000, price_gb_second=PRICE_X86)
    assert ten_seconds.gb_seconds == 10.0
    assert round(ten_seconds.compute, 9) == 0.000166667
    assert six_seconds.gb_seconds == 9.0
    assert round(six_seconds.compute, 9) == 0.00015


def test_billing_rounds_up_to_the_millisecond_and_counts_init_and_requests() -> None:
    cost = estimate(
        512, 100.2, price_gb_second=PRICE_ARM, invocations=1000, init_ms=250.5, cold_ratio=0.1
    )
    assert cost.billed_ms == 101
    assert cost.compute == pytest.approx(0.5 * 0.101 * PRICE_ARM)
    assert cost.init == pytest.approx(0.1 * 0.5 * 0.251 * PRICE_ARM)
    assert cost.requests == pytest.approx(0.2e-6)
    assert cost.total == pytest.approx(1000 * (cost.compute + cost.init + cost.requests))


def test_cost_command_prints_json_and_refuses_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["cost", "--memory", "1024", "1536", "--duration-ms", "10000", "6000", "--json"]
    assert main(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert [round(e["compute"], 9) for e in document["estimates"]] == [0.000166667, 0.00015]
    assert main(["cost", "--memory", "64", "--duration-ms", "10"]) == 2
    assert "128 to 10240" in capsys.readouterr().err
    assert main(["cost", "--memory", "128", "256", "--duration-ms", "1", "2", "3"]) == 2
    assert main(["cost", "--memory", "128", "--duration-ms", "1", "--init-ms", "5"]) == 2
    assert "--cold-ratio" in capsys.readouterr().err


# --- dlq ----------------------------------------------------------------------------------

PICKY = """
import json, os

def handler(event, context):
    with open(os.environ["SEEN_FILE"], "a") as seen:
        seen.write(json.dumps(event) + "\\n")
    if event.get("ok") is not True:
        raise ValueError("still broken: " + str(event.get("n")))
    return {"replayed": event["n"]}
"""


@pytest.fixture
def picky(tmp_path: Path) -> Iterator[tuple[LocalLambda, Path]]:
    (tmp_path / "picky.py").write_text(textwrap.dedent(PICKY))
    seen = tmp_path / "seen.jsonl"
    seen.touch()
    config = FunctionConfig.from_handler(
        "picky.handler", tmp_path, function_name="picky", environment={"SEEN_FILE": str(seen)}
    )
    with LocalLambda(config, log=lambda line: None) as service:
        yield service, seen


@pytest.fixture
def dlq(moto_server: str) -> tuple[Any, str]:
    sqs = boto3.client("sqs", endpoint_url=moto_server)
    url = sqs.create_queue(QueueName=f"dlq-{time.time_ns()}")["QueueUrl"]
    return sqs, url


def fill(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    bodies = [{"n": n, "ok": n % 3 != 0, "token": "tok-secret-value"} for n in range(count)]
    for body in bodies:
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(body),
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": f"req-{body['n']}"},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": "it failed before"},
            },
        )
    return bodies


def queue_bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", []):
            found[message["MessageId"]] = json.loads(message["Body"])
    return sorted(found.values(), key=lambda b: b["n"])


def test_replay_deletes_exactly_what_the_function_accepted(
    picky: tuple[LocalLambda, Path], dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    service, seen = picky
    sqs, url = dlq
    bodies = fill(sqs, url, 14)
    code = main(
        ["dlq", "replay", "--queue-url", url, "--function", "picky",
         "--endpoint-url", service.endpoint_url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1  # some were left
    failing = [b for b in bodies if not b["ok"]]
    assert queue_bodies(sqs, url) == failing  # exactly the failed ones remain
    replayed = [json.loads(line) for line in seen.read_text().splitlines()]
    assert sorted(b["n"] for b in replayed) == list(range(14))  # each body once
    assert "RequestID=req-0" in out
    assert "tok-secret-value" not in out  # body previews are redacted
    assert f"replayed {len(bodies) - len(failing)}, failed {len(failing)}" in out


def test_replay_dry_run_and_show_change_nothing(
    picky: tuple[LocalLambda, Path], dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    service, seen = picky
    sqs, url = dlq
    bodies = fill(sqs, url, 5)
    assert main(["dlq", "show", "--queue-url", url]) == 0
    assert "5 message(s) shown" in capsys.readouterr().out
    code = main(
        ["dlq", "replay", "--queue-url", url, "--function", "picky",
         "--endpoint-url", service.endpoint_url, "--dry-run"]
    )  # fmt: skip
    assert code == 0
    assert "would replay 5" in capsys.readouterr().out
    assert queue_bodies(sqs, url) == bodies
    assert seen.read_text() == ""  # the function was never called


def test_replay_stops_at_max_and_honours_the_rate(
    picky: tuple[LocalLambda, Path], dlq: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    service, seen = picky
    sqs, url = dlq
    fill(sqs, url, 6)
    started = time.monotonic()
    main(
        ["dlq", "replay", "--queue-url", url, "--function", "picky",
         "--endpoint-url", service.endpoint_url, "--max", "3", "--rate", "10"]
    )  # fmt: skip
    assert time.monotonic() - started >= 0.2  # 3 invocations at most 10 a second
    assert len(seen.read_text().splitlines()) == 3
    assert len(queue_bodies(sqs, url)) == 6 - sum(
        1 for line in seen.read_text().splitlines() if json.loads(line)["ok"]
    )


# --- imports ------------------------------------------------------------------------------


@pytest.fixture
def heavy_site(tmp_path: Path) -> tuple[Path, Path]:
    """(site, code): a third-party package that takes 50 ms to import, and a code dir."""
    site, code = tmp_path / "site", tmp_path / "code"
    (site / "heavy_dep").mkdir(parents=True)
    (site / "heavy_dep" / "__init__.py").write_text("import time\ntime.sleep(0.05)\nVALUE = 1\n")
    code.mkdir()
    return site, code


def test_imports_flags_a_heavy_top_level_import(
    heavy_site: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    site, code = heavy_site
    (code / "app.py").write_text(
        "import heavy_dep\nimport boto3\n\ns3 = boto3.client('s3')\n\n"
        "def handler(event, context):\n    return heavy_dep.VALUE\n"
    )
    args = ["imports", "app.handler", "--code-dir", str(code), "--json"]
    args += ["--env", f"PYTHONPATH={site}", "--env", "AWS_DEFAULT_REGION=us-east-1"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    flagged = {item["module"]: item for item in report["defer"]}
    assert "heavy_dep" in flagged
    assert flagged["heavy_dep"]["suggestion"] == 'heavy_dep = LazyImport("heavy_dep")'
    assert flagged["heavy_dep"]["cumulative_ms"] >= 40
    assert report["init_import_ms"] >= flagged["heavy_dep"]["cumulative_ms"]
    assert report["third_party_ms"] > 0
    assert [(c["file"], c["service"]) for c in report["module_level_clients"]] == [("app.py", "s3")]


def test_imports_flags_nothing_when_the_handler_is_lazy(
    heavy_site: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    site, code = heavy_site
    (code / "app.py").write_text(
        "from lambda_perf import LazyImport, get_aws_client\n"
        "heavy_dep = LazyImport('heavy_dep')\n\n"
        "def handler(event, context):\n    get_aws_client('s3')\n    return heavy_dep.VALUE\n"
    )
    args = ["imports", "app.handler", "--code-dir", str(code), "--json"]
    assert main([*args, "--env", f"PYTHONPATH={site}"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["defer"] == []
    assert report["module_level_clients"] == []
    assert all(row["module"] != "heavy_dep" for row in report["heaviest"])


def test_imports_reports_an_import_failure_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text("import no_such_module_here\n")
    assert main(["imports", "app.handler", "--code-dir", str(tmp_path)]) == 2
    assert "no_such_module_here" in capsys.readouterr().err


# --- tune ---------------------------------------------------------------------------------

TINY = """
import os, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]}
"""


@pytest.fixture
def tunable(tmp_path: Path) -> Iterator[LocalLambda]:
    (tmp_path / "tiny.py").write_text(textwrap.dedent(TINY))
    config = FunctionConfig.from_handler("tiny.handler", tmp_path, function_name="tiny", memory=256)
    with LocalLambda(config, log=lambda line: None) as service:
        yield service


def tune_args(service: LocalLambda, *extra: str) -> list[str]:
    return ["tune", "--function", "tiny", "--endpoint-url", service.endpoint_url,
            "--memory", "128,512,1024", "--count", "5", *extra]  # fmt: skip


def test_tune_measures_each_size_recommends_and_restores(
    tunable: LocalLambda, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "tune.png"
    assert main([*tune_args(tunable, "--json", "--plot", str(picture))]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["memory_mb"] for s in document["sizes"]] == [128, 512, 1024]
    for size in document["sizes"]:
        assert len(size["invocations"]) == 5
        assert size["average_ms"] > 0
        assert size["cost"] > 0
    assert set(document["picks"]) == {"cost", "speed", "balanced"}
    assert document["recommendation"] == document["picks"]["balanced"]
    assert tunable.config.memory == 256  # restored
    import matplotlib.image

    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(picture).shape[0] > 100  # the PNG opens


def test_tune_apply_keeps_the_recommended_size(
    tunable: LocalLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*tune_args(tunable, "--strategy", "cost", "--apply")]) == 0
    out = capsys.readouterr().out
    assert "recommendation (cost):" in out
    recommended = int(out.split("recommendation (cost): ")[1].split(" MB")[0])
    assert tunable.config.memory == recommended


def test_tune_restores_after_an_injected_failure(
    tunable: LocalLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambda_perf.cli import bench as bench_module

    calls: list[int] = []
    original = bench_module.Bench.invoke

    def failing(self: Any, test: str, index: int) -> Any:
        calls.append(1)
        if len(calls) == 7:  # midway through the second size
            raise KeyboardInterrupt
        return original(self, test, index)

    monkeypatch.setattr(bench_module.Bench, "invoke", failing)
    assert main(tune_args(tunable)) == 130
    assert tunable.config.memory == 256


def test_tune_restores_after_ctrl_c(tunable: LocalLambda, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    event = tmp_path / "slow.json"
    event.write_text('{"sleep": 0.3}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambda_perf.cli", *tune_args(tunable, "--event", str(event))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        while "512 MB" not in proc.stdout.readline():
            pass
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, stderr
    assert tunable.config.memory == 256  # restored by the interrupted command


def test_a_size_whose_invocations_all_fail_is_excluded() -> None:
    from lambda_perf.cli.bench import Measurement
    from lambda_perf.cli.tune import SizeResult, choose, summarise, trimmed

    assert trimmed([5.0, 1.0, 3.0, 2.0, 4.0], 0.2) == [2.0, 3.0, 4.0]
    good = SizeResult(512, [Measurement("t", i, 1.0, True, duration_ms=10.0 + i, billed_ms=11 + i)
                            for i in range(5)])  # fmt: skip
    bad = SizeResult(128, [Measurement("t", 0, 1.0, False, error="Runtime.OutOfMemory")])
    for result in (good, bad):
        summarise(result, 0.2, PRICE_X86, 0.2)
    assert bad.excluded is not None
    assert "Runtime.OutOfMemory" in bad.excluded
    assert good.average_ms == pytest.approx(12.0)
    assert choose([good, bad], 0.5) == {"cost": 512, "speed": 512, "balanced": 512}
