"""Development sessions: tests, tests_all, lint, typing, bench, example, template and
quickstart (``nox -l``)."""

from __future__ import annotations

import glob
import os

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "lint", "typing"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# Let nox find interpreters installed by pyenv that are not on PATH.
_pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
for _bin in sorted(glob.glob(os.path.join(_pyenv_root, "versions", "3.1[0-9]*", "bin"))):
    if _bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + _bin


def _install(session: nox.Session, *groups: str) -> None:
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    session.install("-e", ".", *requirements)


def _run_tests(session: nox.Session) -> None:
    _install(session, "tests")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--fail-under=85")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite with coverage, on the Python running nox."""
    _run_tests(session)


@nox.session(python=PYTHONS)
def tests_all(session: nox.Session) -> None:
    """The test suite on every supported Python that is installed (others are skipped)."""
    _run_tests(session)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on src/, and on tests/typing (decorators must keep signatures)."""
    _install(session, "typing")
    session.run("mypy", "--strict", "src")
    session.run("mypy", "--strict", "tests/typing")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the floor and the peers; writes bench/results.md."""
    _install(session, "bench")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def example(session: nox.Session) -> None:
    """The Vanta sync end to end: local Lambda service, fake Vanta API, moto server."""
    _install(session, "tests")
    session.run("python", "examples/vanta_sync/run_local.py", *session.posargs)


@nox.session
def template(session: nox.Session) -> None:
    """The example's SAM template: cfn-lint, aws-sam-translator, checkov, a moto deploy."""
    _install(session, "template")
    session.run("pytest", "tests/example/test_template.py", *session.posargs)


@nox.session
def quickstart(session: nox.Session) -> None:
    """A tour of every utility against a local moto server (no AWS account)."""
    _install(session, "tests")
    session.run("python", "examples/quickstart.py", *session.posargs)
