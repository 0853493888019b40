"""retry_with_backoff against tenacity, backoff and stamina."""

from __future__ import annotations

import backoff
import stamina
import tenacity

from bench.harness import Table, Target, compare_statements
from lambda_perf import retry_with_backoff
from lambda_perf.testing import no_sleep


def work(x: int, *, y: int = 1) -> int:
    return x + y


def bare_wrapper(func):  # type: ignore[no-untyped-def]
    """The floor: the least a retry decorator can do on success."""

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except Exception:
            raise

    return wrapper


def fail_every_other_call():  # type: ignore[no-untyped-def]
    """Fails on odd calls, so each decorated call is one failure and one retry."""
    calls = [0]

    def flaky(x: int, *, y: int = 1) -> int:
        calls[0] += 1
        if calls[0] % 2:
            raise ConnectionError("transient")
        return x + y

    return flaky


def bare_retry_once(func):  # type: ignore[no-untyped-def]
    """The floor for one retry: catch, call again, nothing else."""

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except Exception:
            return func(*args, **kwargs)

    return wrapper


def candidates(func):  # type: ignore[no-untyped-def]
    return {
        "bare": bare_wrapper(func),
        "ours": retry_with_backoff(max_retries=3, deadline=None)(func),
        "backoff": backoff.on_exception(backoff.expo, Exception, max_tries=4, jitter=None)(func),
        "stamina": stamina.retry(on=Exception, attempts=4)(func),
        "tenacity": tenacity.retry(stop=tenacity.stop_after_attempt(4))(func),
    }


def run(repeats: int) -> list[Table]:
    ok = candidates(work)
    success = compare_statements(
        "retry_with_backoff: success path, per call",
        {
            "bare `*args, **kwargs` try/except wrapper": "bare(1, y=2)",
            "lambda_perf.retry_with_backoff": "ours(1, y=2)",
            "backoff.on_exception": "backoff_(1, y=2)",
            "stamina.retry": "stamina_(1, y=2)",
            "tenacity.retry": "tenacity_(1, y=2)",
        },
        namespace={
            "bare": ok["bare"],
            "ours": ok["ours"],
            "backoff_": ok["backoff"],
            "stamina_": ok["stamina"],
            "tenacity_": ok["tenacity"],
        },
        floor="bare `*args, **kwargs` try/except wrapper",
        repeats=repeats,
        targets=[
            Target("lambda_perf.retry_with_backoff", 1.15),
            Target("lambda_perf.retry_with_backoff", 50, versus="tenacity.retry", invert=True),
            Target(
                "lambda_perf.retry_with_backoff", 10, versus="backoff.on_exception", invert=True
            ),
            Target("lambda_perf.retry_with_backoff", 10, versus="stamina.retry", invert=True),
        ],
        notes=[
            "All decorated with up to 3 retries; the success path of lambda_perf is the call "
            "inside a try, with no clock read, random draw, lock or allocation.",
        ],
    )

    flaky = {
        "bare": bare_retry_once(fail_every_other_call()),
        "ours": retry_with_backoff(max_retries=3, deadline=None, base_delay=0.0)(
            fail_every_other_call()
        ),
        "backoff": backoff.on_exception(
            backoff.constant, Exception, max_tries=4, interval=0, jitter=None
        )(fail_every_other_call()),
        "stamina": stamina.retry(on=Exception, attempts=4)(fail_every_other_call()),
        "tenacity": tenacity.retry(stop=tenacity.stop_after_attempt(4), sleep=lambda seconds: None)(
            fail_every_other_call()
        ),
    }
    stamina.set_testing(True, attempts=4)
    stamina.instrumentation.set_on_retry_hooks([])  # no log line per retry: fairer to it
    try:
        with no_sleep():
            one_retry = compare_statements(
                "retry_with_backoff: one failure then success (sleeping off), per call",
                {
                    "bare catch-and-call-again": "bare(1, y=2)",
                    "lambda_perf.retry_with_backoff": "ours(1, y=2)",
                    "backoff.on_exception (interval 0)": "backoff_(1, y=2)",
                    "stamina.retry (testing mode)": "stamina_(1, y=2)",
                    "tenacity.retry (no-op sleep)": "tenacity_(1, y=2)",
                },
                namespace={
                    "bare": flaky["bare"],
                    "ours": flaky["ours"],
                    "backoff_": flaky["backoff"],
                    "stamina_": flaky["stamina"],
                    "tenacity_": flaky["tenacity"],
                },
                floor="bare catch-and-call-again",
                repeats=repeats,
                notes=[
                    "Each call raises once (a real exception), sleeps 0 (or not at all) and "
                    "succeeds. lambda_perf's path includes the default process-wide budget "
                    "(take a token, give it back), the deadline check and the jitter draw.",
                    "stamina runs with its retry instrumentation (a log line per retry) off.",
                ],
            )
    finally:
        stamina.set_testing(False)
    micro = one_retry.medians["lambda_perf.retry_with_backoff"] * 1e6
    one_retry.notes.append(
        f"Target: one retry with sleeping off ≤ 2 µs: measured {micro:.2f} µs "
        f"({'met' if micro <= 2.0 else '**not met**'}; an absolute figure from this machine)."
    )
    return [success, one_retry]
