"""Import direction: training -> analytics -> features <- serving; serving never imports training."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("features", {"training", "serving"}),
    ("serving", {"training"}),
    ("analytics", {"training", "serving"}),
    ("ingest", {"training", "serving", "analytics"}),
])
def test_import_direction(package, forbidden):
    offenders = sorted((f, m) for f, m in _imports(package) if m in forbidden)
    assert not offenders, f"{package} must not import {forbidden}: {offenders}"


def test_shared_config_depends_on_no_layer():
    for module in ("config.py", "errors.py"):
        path = ROOT / "funnelcast" / module
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not modules & {"features", "training", "serving"}, module
