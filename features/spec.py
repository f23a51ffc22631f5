"""Feature metadata: every output column is declared once with its meaning, unit and window.

`docs/features.md` is generated from these declarations and checked against them by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    meaning: str
    unit: str
    window: str = "all history up to as_of"
    kind: Literal["numeric", "categorical"] = "numeric"


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned list of features; models record the name and serving checks it."""

    name: str
    entity: Literal["lead", "opportunity"]
    specs: tuple[FeatureSpec, ...]

    @property
    def columns(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def categorical(self) -> list[str]:
        return [s.name for s in self.specs if s.kind == "categorical"]

    @property
    def numeric(self) -> list[str]:
        return [s.name for s in self.specs if s.kind == "numeric"]
