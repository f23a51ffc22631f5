"""What a loaded model is to the service: the bundle, where it came from, and when it was loaded."""

from __future__ import annotations

from dataclasses import dataclass

from funnelcast.features.history import Rates
from funnelcast.model.bundle import ModelBundle

NAMES = {"lead": "funnelcast-lead-grading", "opportunity": "funnelcast-win-probability"}
KINDS = tuple(NAMES)


@dataclass(frozen=True)
class LoadedModel:
    kind: str
    name: str
    version: str | None
    alias: str | None
    source: str  # "registry" or "local:<path>"
    bundle: ModelBundle
    rates: Rates | None
    loaded_at: str

    def info(self) -> dict:
        meta = self.bundle.metadata
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "source": self.source,
            "feature_set": self.bundle.feature_set,
            "trained_at": meta.get("trained_at"),
            "loaded_at": self.loaded_at,
            "test_metrics": meta.get("test_metrics", {}),
        }

    @property
    def declarations(self) -> list[dict]:
        """The custom attributes the model was trained with (request values are typed by them)."""
        return list((self.bundle.metadata or {}).get("custom_attributes", []))
