"""Direction of dependencies in `pipeline/`: no import cycle, no domain importing one above it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Lowest first: a domain may import the ones before it, never one after it.
LAYERS = (
    "lib",
    "ingest",
    "identity",
    "segments",
    "predictions",
    "quality",
    "serving",
    "report",
    "automation",
    "demo",
    "preflight",
    "definitions",
    "cli",
)
#: Upward imports that stay, each with its reason (function-level, so no import cycle).
ALLOWED_UPWARD = {
    # The history models' step opens the publication's rollback journal before dbt writes the
    # history tables: history and publication are one unit (docs/serving.md).
    ("pipeline.segments.assets", "pipeline.serving.history"),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((REPO_ROOT / "pipeline").rglob("*.py")):
        name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(path: Path, modules: dict[str, Path], *, top_level: bool) -> set[str]:
    """Project modules `path` imports (`from pkg import submodule` counts the submodule only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body if top_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(modules)
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found & set(modules)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def _domain(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_cycle_between_modules_at_import_time() -> None:
    modules = _modules()
    graph = {m: _imports(p, modules, top_level=True) - {m} for m, p in modules.items()}
    assert _cycles(graph) == []


def test_no_domain_imports_a_domain_above_it() -> None:
    modules = _modules()
    upward = set()
    for module, path in modules.items():
        for target in _imports(path, modules, top_level=False):
            source_domain, target_domain = _domain(module), _domain(target)
            if source_domain in LAYERS and target_domain in LAYERS:
                if LAYERS.index(target_domain) > LAYERS.index(source_domain):
                    upward.add((module, target))
    assert upward == ALLOWED_UPWARD
