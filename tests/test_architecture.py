"""The house: one import namespace, layers that import only downwards, and no import cycle between
packages or between files. Walks the installed `funnelcast` packages (the layout a user gets)."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import pytest

# each layer and the layers it may import (besides itself); the roof may import anything and nothing
# imports it
LAYERS = {
    "base": set(),
    "features": {"base"},
    "analytics": {"base", "features"},
    "ingest": {"base", "features"},
    "model": {"base", "features"},
    "book": {"base", "features"},
    "training": {"base", "features", "analytics", "ingest", "model"},
    "serving": {"base", "features", "analytics", "model", "book"},
    "roof": {"base", "features", "analytics", "ingest", "model", "training", "serving", "book"},
}
PACKAGE_LAYER = {
    "funnelcast.core": "base",
    "funnelcast.configs": "base",
    "funnelcast.features": "features",
    "funnelcast.analytics": "analytics",
    "funnelcast.ingest": "ingest",
    "funnelcast.model": "model",
    "funnelcast.training": "training",
    "funnelcast.serving": "serving",
    "funnelcast.book": "book",
    "funnelcast.cli": "roof",
    "funnelcast.synthetic": "roof",
    "funnelcast.docgen": "roof",
}


def _modules() -> dict[str, Path]:
    """Every module of the installed namespace and its source file (the layers' folders may live apart,
    as in a checkout: each package is walked from where the import system finds it)."""
    found = {"funnelcast": Path(importlib.util.find_spec("funnelcast").origin)}
    todo = ["funnelcast", *PACKAGE_LAYER]
    while todo:
        name = todo.pop()
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        if spec.origin.endswith(".py"):
            found[name] = Path(spec.origin)
        for info in pkgutil.iter_modules(spec.submodule_search_locations or [], name + "."):
            if info.name not in found:
                todo.append(info.name)
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The funnelcast modules a module imports (anywhere in it, lazy imports included)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        out |= {t for t in targets if t.split(".")[0] == "funnelcast" and t in MODULES and t != name}
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    for prefix, layer in PACKAGE_LAYER.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def test_every_module_is_in_a_layer():
    assert not [m for m in MODULES if m != "funnelcast" and _layer(m) is None]
    assert not GRAPH["funnelcast"], "the top-level package imports nothing"


def test_no_generic_top_level_names_are_installed():
    for generic in ("features", "training", "serving", "analytics", "ingest", "configs"):
        spec = importlib.util.find_spec(generic)
        assert spec is None or "funnelcast" not in str(spec.origin or spec.submodule_search_locations), (
            generic
        )


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_run_downwards_only(module):
    mine = _layer(module)
    if mine is None:
        return
    wrong = sorted(t for t in GRAPH[module] if _layer(t) not in LAYERS[mine] | {mine})
    assert not wrong, f"{module} ({mine}) imports {wrong}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_files():
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        own = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for t in targets:
            other = t if MODULES[t].name == "__init__.py" else t.rpartition(".")[0]
            # a package importing its own subpackages is containment, not a dependency back
            if other != own and not other.startswith(own + ".") and not own.startswith(other + "."):
                packages.setdefault(own, set()).add(other)
    assert _cycles(packages) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
