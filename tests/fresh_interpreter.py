"""Code run in a new Python interpreter, for tests whose outcome depends on what
``sys.modules`` holds, that fork, or that might crash the interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def run_fresh_status(code: str, *, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented, after ``import sys, json``, with ``path`` first on
    sys.path); a crash (SIGSEGV) comes back as a failed process, not a dead test run."""
    prelude = "import sys, json\n"
    if path is not None:
        prelude += f"sys.path.insert(0, {str(path)!r})\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_fresh(code: str, *, path: Path | None = None) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it must print one JSON object as its last line."""
    proc = run_fresh_status(code, path=path)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
