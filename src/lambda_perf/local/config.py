"""A local function's configuration: what ``lambda-perf local serve`` was told, in the
shapes Lambda's API answers with."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lambda_perf._errors import ConfigurationError

ACCOUNT_ID = "123456789012"
MAX_RETRY_ATTEMPTS = (0, 1, 2)
MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)


def parse_handler(handler: str, code_dir: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """``module.function`` (under ``code_dir``) or ``path/to/file.py:function``, as the
    ``module.function`` string awslambdaric takes and the task root it runs in."""
    root = Path(code_dir or os.getcwd()).resolve()
    if ":" in handler:
        path_text, _, function = handler.rpartition(":")
        path = Path(path_text)
        if not path.is_absolute():
            path = (root / path) if code_dir is not None else path.resolve()
        if path.suffix != ".py" or not function.isidentifier():
            raise ConfigurationError(
                f"handler {handler!r}: use path/to/file.py:function or module.function"
            )
        if not path.is_file():
            raise ConfigurationError(f"handler {handler!r}: no such file {str(path)!r}")
        return f"{path.stem}.{function}", path.parent.resolve()
    module, _, function = handler.rpartition(".")
    if not module or not function.isidentifier():
        raise ConfigurationError(
            f"handler {handler!r}: use module.function (e.g. app.handler) or "
            f"path/to/file.py:function"
        )
    if not root.is_dir():
        raise ConfigurationError(f"--code-dir {str(root)!r} is not a directory")
    return handler, root


def parse_env_pairs(pairs: list[str] | None, env_file: str | None) -> dict[str, str]:
    """``KEY=VALUE`` pairs (``--env``) over the lines of ``--env-file`` (``#`` comments)."""
    variables: dict[str, str] = {}
    if env_file is not None:
        try:
            lines = Path(env_file).read_text().splitlines()
        except OSError as exc:
            raise ConfigurationError(f"--env-file {env_file!r}: {exc.strerror}") from None
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.removeprefix("export ").partition("=")
            if not sep or not key.strip():
                raise ConfigurationError(
                    f"--env-file {env_file!r}, line {number}: expected KEY=VALUE"
                )
            variables[key.strip()] = value.strip().strip("'\"")
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--env {pair!r}: expected KEY=VALUE")
        variables[key] = value
    return variables


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


@dataclass
class FunctionConfig:
    """One local function. ``revision`` changes with every configuration update."""

    handler: str
    code_dir: Path
    function_name: str
    memory: int = 128
    timeout: int = 3
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    max_concurrency: int = 1
    dlq_url: str | None = None
    max_retry_attempts: int = 2
    region: str = "us-east-1"
    python: str = sys.executable
    revision: str = field(default_factory=lambda: str(uuid.uuid4()))
    last_modified: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int("--memory", self.memory, *MEMORY_RANGE)
        _check_int("--timeout", self.timeout, *TIMEOUT_RANGE)
        if self.reserved_concurrency is not None:
            _check_int("--reserved-concurrency", self.reserved_concurrency, 1, 1000)
        _check_int("--max-concurrency", self.max_concurrency, 1, 64)
        if self.max_retry_attempts not in MAX_RETRY_ATTEMPTS:
            raise ConfigurationError(
                f"--max-retry-attempts must be 0, 1 or 2 (as on Lambda), got "
                f"{self.max_retry_attempts!r}"
            )
        if not self.function_name.replace("-", "").replace("_", "").isalnum():
            raise ConfigurationError(
                f"--function-name {self.function_name!r}: use letters, digits, - and _"
            )

    @classmethod
    def from_handler(
        cls, handler: str, code_dir: str | os.PathLike[str] | None = None, **options: object
    ) -> FunctionConfig:
        module_handler, root = parse_handler(handler, code_dir)
        name = options.pop("function_name", None) or module_handler.replace(".", "-")
        return cls(module_handler, root, str(name), **options)  # type: ignore[arg-type]

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def runtime(self) -> str:
        return f"python{sys.version_info.major}.{sys.version_info.minor}"

    def update(
        self,
        *,
        memory: object = None,
        timeout: object = None,
        environment: object = None,
    ) -> None:
        """Apply an UpdateFunctionConfiguration (checked first: all or nothing)."""
        if memory is not None:
            _check_int("MemorySize", memory, *MEMORY_RANGE)
        if timeout is not None:
            _check_int("Timeout", timeout, *TIMEOUT_RANGE)
        if environment is not None and not (
            isinstance(environment, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in environment.items())
        ):
            raise ConfigurationError("Environment.Variables must map strings to strings")
        with self.lock:
            if memory is not None:
                self.memory = memory  # type: ignore[assignment]
            if timeout is not None:
                self.timeout = timeout  # type: ignore[assignment]
            if environment is not None:
                self.environment = dict(environment)
            self.revision = str(uuid.uuid4())
            self.last_modified = time.time()

    def description(self) -> dict[str, object]:
        """GetFunctionConfiguration's answer."""
        return {
            "FunctionName": self.function_name,
            "FunctionArn": self.arn,
            "Runtime": self.runtime,
            "Role": f"arn:aws:iam::{ACCOUNT_ID}:role/lambda-perf-local",
            "Handler": self.handler,
            "CodeSize": 0,
            "Description": "lambda-perf local service",
            "Timeout": self.timeout,
            "MemorySize": self.memory,
            "LastModified": time.strftime(
                "%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(self.last_modified)
            ),
            "CodeSha256": "",
            "Version": "$LATEST",
            "Environment": {"Variables": dict(self.environment)},
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
            "EphemeralStorage": {"Size": 512},
            **(
                {"DeadLetterConfig": {"TargetArn": self.dlq_url}}
                if self.dlq_url is not None
                else {}
            ),
        }
