"""``lambda-perf imports``: what a handler's imports cost at init, and what to defer.

The handler's module is imported in a fresh process with ``-X importtime`` and the
function's environment. The report lists the heaviest imports (self and cumulative, with
the chain that pulled each in), the totals (init import time, and how much of it is
third-party), the third-party modules the function's own code imports at init that a
``LazyImport`` could defer, and boto3 clients created at module level.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import UsageError

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

DEFER_THRESHOLD_MS = 1.0  # flag third-party imports of at least this cumulative cost
NEVER_DEFER = frozenset({"lambda_perf"})  # it is what provides LazyImport (and costs ~1 ms)


@dataclass
class Node:
    name: str
    self_ms: float
    cumulative_ms: float
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)

    @property
    def top(self) -> str:
        return self.name.partition(".")[0]

    def chain(self) -> str:
        names: list[str] = []
        node: Node | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " <- ".join(names)

    def walk(self) -> list[Node]:
        nodes = [self]
        for child in self.children:
            nodes += child.walk()
        return nodes


def parse_importtime(stderr: str) -> list[Node]:
    """The import tree ``-X importtime`` printed (children come before their parent)."""
    pending: dict[int, list[Node]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cumulative_us, name = parts
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        node = Node(name.strip(), int(self_us) / 1000.0, int(cumulative_us) / 1000.0)
        node.children = pending.pop(depth + 1, [])
        for child in node.children:
            child.parent = node
        pending.setdefault(depth, []).append(node)
    return pending.get(0, [])


def _own_modules(code_dir: Path) -> set[str]:
    return {
        p.stem if p.suffix == ".py" else p.name
        for p in code_dir.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    }


def module_level_clients(code_dir: Path) -> list[tuple[str, int, str]]:
    """(file, line, service) of boto3 clients/resources created at module level."""
    found = []
    for path in sorted(code_dir.rglob("*.py")):
        if any(
            part.startswith(".") or part in ("site-packages", "__pycache__") for part in path.parts
        ):
            continue
        try:
            tree = ast.parse(path.read_text(), str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        stack: list[ast.AST] = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue  # runs per call, not at import
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("boto3", "session")
            ):
                service = (
                    node.args[0].value
                    if node.args and isinstance(node.args[0], ast.Constant)
                    else "?"
                )
                found.append((str(path.relative_to(code_dir)), node.lineno, str(service)))
            stack.extend(ast.iter_child_nodes(node))
    return sorted(found)


def profile(module: str, code_dir: Path, environment: dict[str, str]) -> list[Node]:
    env = {**os.environ, **environment}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_dir), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(
            line for line in proc.stderr.splitlines() if not line.startswith("import time:")
        )
        raise UsageError(f"importing {module!r} failed (the init error):\n{tail[-2000:]}")
    return parse_importtime(proc.stderr)


def analyse(module: str, code_dir: Path, environment: dict[str, str], top: int) -> dict[str, Any]:
    roots = profile(module, code_dir, environment)
    ours = _own_modules(code_dir)
    wanted = {module.partition(".")[0]}
    handler_roots = [r for r in roots if r.top in wanted]
    nodes = [n for root in handler_roots for n in root.walk()]
    stdlib = set(getattr(sys, "stdlib_module_names", ()))

    def third_party(node: Node) -> bool:
        return node.top not in stdlib and node.top not in ours and node.top != "_frozen_importlib"

    total = sum(r.cumulative_ms for r in handler_roots)
    third = sum(n.self_ms for n in nodes if third_party(n))
    defer = sorted(
        (
            n for n in nodes
            if third_party(n) and n.parent is not None and n.parent.top in ours
            and n.top not in NEVER_DEFER
            and n.cumulative_ms >= DEFER_THRESHOLD_MS and n.name == n.top
        ),
        key=lambda n: -n.cumulative_ms,
    )  # fmt: skip
    heaviest = sorted(nodes, key=lambda n: -n.cumulative_ms)[:top]
    return {
        "module": module,
        "init_import_ms": round(total, 3),
        "third_party_ms": round(third, 3),
        "heaviest": [
            {
                "module": n.name,
                "self_ms": n.self_ms,
                "cumulative_ms": n.cumulative_ms,
                "third_party": third_party(n),
                "chain": n.chain(),
            }
            for n in heaviest
        ],
        "defer": [
            {
                "module": n.name,
                "cumulative_ms": n.cumulative_ms,
                "imported_by": n.parent.name,
                "suggestion": f'{n.name.replace(".", "_")} = LazyImport("{n.name}")',
            }
            for n in defer
            if n.parent is not None
        ],
        "module_level_clients": [
            {
                "file": f,
                "line": line,
                "service": s,
                "suggestion": f'prime_clients("{s}") at init (or get_aws_client("{s}") per call)',
            }
            for f, line, s in module_level_clients(code_dir)
        ],
    }


def run(args: argparse.Namespace) -> int:
    from lambda_perf.local.config import parse_env_pairs, parse_handler

    handler, code_dir = parse_handler(args.handler, args.code_dir)
    module = handler.rpartition(".")[0]
    report = analyse(module, code_dir, parse_env_pairs(args.env, args.env_file), args.top)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"Heaviest imports of {module}")
    for column in ("module", "self ms", "cumulative ms", "third-party", "imported by"):
        table.add_column(column, justify="right" if "ms" in column else "left")
    for row in report["heaviest"]:
        table.add_row(
            row["module"], f"{row['self_ms']:.2f}", f"{row['cumulative_ms']:.2f}",
            "yes" if row["third_party"] else "", row["chain"].partition(" <- ")[2],
        )  # fmt: skip
    console.print(table)
    console.print(
        f"init import time of {module}: {report['init_import_ms']:.1f} ms, of which "
        f"third-party modules' own time {report['third_party_ms']:.1f} ms"
    )
    for item in report["defer"]:
        console.print(
            f"defer: {item['module']} ({item['cumulative_ms']:.1f} ms, imported by "
            f"{item['imported_by']}): {item['suggestion']}",
            markup=False,
        )
    for item in report["module_level_clients"]:
        console.print(
            f"client at import: {item['file']}:{item['line']} creates a {item['service']} "
            f"client at module level: {item['suggestion']}",
            markup=False,
        )
    if not report["defer"] and not report["module_level_clients"]:
        console.print("nothing to defer: no heavy third-party import or client at init")
    return 0
