"""@lambda_handler: the CPU cost of a warm invocation with one metric and one log line."""

from __future__ import annotations

import contextlib
import os
import time

from bench.harness import Table, Target, compare_runs

INVOCATIONS = 2000


class FakeContext:
    function_name = "bench-fn"
    aws_request_id = "req-bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-fn"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def run(repeats: int) -> list[Table]:
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools import Metrics as PowertoolsMetrics
    from aws_lambda_powertools.metrics import MetricUnit

    from lambda_perf import get_logger, lambda_handler, metrics

    def undecorated(event: dict[str, int], context: object) -> int:
        return event["n"] + 1

    log = get_logger("bench-app", service="bench")

    @lambda_handler(service="bench", namespace="Bench")
    def ours(event: dict[str, int], context: object) -> int:
        metrics.add_metric("Processed", 1)
        log.append_keys(n=event["n"])  # shows on the invocation's one log line
        return event["n"] + 1

    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole suite
    with contextlib.redirect_stdout(devnull):
        pt_logger = Logger(service="bench")  # binds sys.stdout now: keep devnull open
        pt_metrics = PowertoolsMetrics(namespace="Bench", service="bench")

    @pt_metrics.log_metrics
    @pt_logger.inject_lambda_context
    def powertools(event: dict[str, int], context: object) -> int:
        pt_metrics.add_metric(name="Processed", unit=MetricUnit.Count, value=1)
        pt_logger.info("processed", extra={"n": event["n"]})
        return event["n"] + 1

    context = FakeContext()
    event = {"n": 1}

    def cpu_per_invocation(handler) -> float:  # type: ignore[no-untyped-def]
        with contextlib.redirect_stdout(devnull):
            handler(event, context)  # the cold start is not what this row measures
            start = time.process_time()
            for _ in range(INVOCATIONS):
                handler(event, context)
            return (time.process_time() - start) / INVOCATIONS

    table = compare_runs(
        "lambda_handler: CPU per warm invocation (one metric, one log line)",
        {
            "undecorated handler": lambda: cpu_per_invocation(undecorated),
            "lambda_perf.lambda_handler + get_logger + metrics": lambda: cpu_per_invocation(ours),
            "Powertools Logger + Metrics": lambda: cpu_per_invocation(powertools),
        },
        floor="undecorated handler",
        unit="µs",
        repeats=repeats,
        notes=[
            f"CPU time (time.process_time) over {INVOCATIONS:,} invocations per sample, "
            "stdout sent to /dev/null. Each decorated handler adds one metric and writes one "
            "log line: ours the decorator's invocation line (carrying a key the handler "
            "appended), Powertools' a logger.info call; both flush one EMF line.",
        ],
    )
    devnull.close()
    ours_us = table.medians["lambda_perf.lambda_handler + get_logger + metrics"] * 1e6
    floor_us = table.medians["undecorated handler"] * 1e6
    table.notes.append(
        f"Target: ≤ 50 µs of CPU per warm invocation: measured {ours_us - floor_us:.1f} µs "
        f"over the undecorated handler ({'met' if ours_us - floor_us <= 50 else '**not met**'})."
    )
    table.targets.append(
        Target(
            "lambda_perf.lambda_handler + get_logger + metrics",
            1.0,
            versus="Powertools Logger + Metrics",
        )
    )
    return [table]
