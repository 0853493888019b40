"""The local Lambda service (the ``[cli]`` extra): Lambda's HTTP API on 127.0.0.1 for
callers, the Runtime API for AWS's runtime interface client, and execution environments
as real ``python -m awslambdaric`` processes. No runtime module imports this package.
"""

from __future__ import annotations

from .config import FunctionConfig
from .environment import ExecutionEnvironment, Invocation
from .service import InvokeResult, LocalLambda

__all__ = ["ExecutionEnvironment", "FunctionConfig", "Invocation", "InvokeResult", "LocalLambda"]
