"""docs/data-model.md and the loader's schema must name the same columns."""

import re
from pathlib import Path

from funnelcast.features.schema import ACTIVITY_TYPES, ENTITIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def _documented_columns() -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    section = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\w+)$", line)
        if heading:
            section = heading.group(1)
            continue
        cell = re.match(r"^\| `([a-z_]+)` \| (\w+) \|", line)
        if cell and section in ENTITIES:
            tables.setdefault(section, []).append(cell.group(1))
    return tables


def test_every_entity_is_documented_with_the_same_columns_in_order():
    documented = _documented_columns()
    assert set(documented) == set(ENTITIES)
    for name, entity in ENTITIES.items():
        assert documented[name] == entity.column_names, name


def test_activity_vocabulary_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for activity_type in ACTIVITY_TYPES:
        assert f"| `{activity_type}` |" in text
