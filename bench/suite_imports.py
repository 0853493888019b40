"""The cost of ``import lambda_perf`` in a fresh interpreter."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import Table, compare_runs


def _env_with_package_first() -> dict[str, str]:
    """As on Lambda, where /var/task (the function's code) comes first on sys.path."""
    import lambda_perf

    package_parent = str(Path(lambda_perf.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": package_parent}


def wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_env_with_package_first())
    return time.perf_counter() - start


def importtime_cumulative(module: str) -> float:
    """Cumulative import time of ``module`` as ``-X importtime`` reports it, in seconds."""
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=_env_with_package_first(),
    ).stderr
    for line in reversed(stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1e6
    raise RuntimeError(f"{module} not in -X importtime output")


BUDGET_SECONDS = 3e-3


def _compile_package() -> None:
    """Write the package's .pyc files, as ``pip install`` does; PYTHONDONTWRITEBYTECODE
    would otherwise make every fresh process compile the sources again."""
    import lambda_perf

    compileall.compile_dir(str(Path(lambda_perf.__file__).parent), quiet=1)


def run(repeats: int) -> list[Table]:
    _compile_package()
    n = max(11, repeats * 2)
    process = compare_runs(
        "import lambda_perf: a fresh interpreter, whole process",
        {
            "python -c pass": lambda: wall("pass"),
            "python -c 'import lambda_perf'": lambda: wall("import lambda_perf"),
        },
        floor="python -c pass",
        unit="ms",
        repeats=n,
    )
    added = process.medians["python -c 'import lambda_perf'"] - process.medians["python -c pass"]
    process.notes.append(
        f"Added by `import lambda_perf`: {added * 1e3:.2f} ms (difference of medians; "
        "process start-up varies by about as much)."
    )
    importtime = compare_runs(
        "import lambda_perf: cumulative time from `python -X importtime`",
        {
            "lambda_perf": lambda: importtime_cumulative("lambda_perf"),
            "boto3 (for scale)": lambda: importtime_cumulative("boto3"),
        },
        floor="lambda_perf",
        unit="ms",
        repeats=n,
    )
    ms = importtime.medians["lambda_perf"] * 1e3
    met = "met" if ms <= BUDGET_SECONDS * 1e3 else "**not met**"
    importtime.notes += [
        f"Target: `import lambda_perf` adds ≤ {BUDGET_SECONDS * 1e3:g} ms: measured "
        f"{ms:.2f} ms ({met}). It loads no boto3, botocore or asyncio.",
        "Both rows run with the package's directory first on `sys.path`, as /var/task is on "
        "Lambda. Behind a long `sys.path` (a big virtualenv), finding any package costs "
        "extra directory scans that are not the package's own cost.",
    ]
    return [process, importtime]
