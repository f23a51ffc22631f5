"""Models, readiness and reloads."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from funnelcast.serving.schemas.common import _Out


class LoadedModelInfo(_Out):
    """A loaded model: where it came from and how it tested."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "lead",
                    "name": "funnelcast-lead-grading",
                    "version": "3",
                    "alias": "champion",
                    "source": "registry",
                    "feature_set": "lead_v1",
                    "trained_at": "2025-12-31T10:00:00+00:00",
                    "loaded_at": "2026-01-02T08:00:00+00:00",
                    "test_metrics": {"converted": {"roc_auc": 0.79, "ece": 0.012}},
                }
            ]
        }
    )

    kind: Literal["lead", "opportunity"]
    name: str
    version: str | None
    alias: str | None
    source: str
    feature_set: str
    trained_at: str | None
    loaded_at: str
    test_metrics: dict


class ModelsResponse(_Out):
    """The models being served."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "models": [
                        {
                            "kind": "lead",
                            "name": "funnelcast-lead-grading",
                            "version": "3",
                            "alias": "champion",
                            "source": "registry",
                            "feature_set": "lead_v1",
                            "trained_at": "2025-12-31T10:00:00+00:00",
                            "loaded_at": "2026-01-02T08:00:00+00:00",
                            "test_metrics": {"converted": {"roc_auc": 0.79, "ece": 0.012}},
                        }
                    ],
                    "lead_fallback": "bant-rule-grade",
                }
            ]
        }
    )

    models: list[LoadedModelInfo]
    lead_fallback: str | None = Field(description="What leads get when no lead model is loaded")
    problems: dict[str, str] = Field(
        default_factory=dict, description="Per model kind, why the last load or reload did not take"
    )


class ReloadResult(_Out):
    """What a reload did for one model kind."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "lead", "result": "swapped", "version": "4", "message": "serving version 4"}
            ]
        }
    )

    kind: str
    result: Literal["swapped", "unchanged", "refused", "missing"]
    version: str | None
    message: str


class ReloadResponse(_Out):
    """Reload results per model kind."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"kind": "lead", "result": "swapped", "version": "4", "message": "serving version 4"}
                    ]
                }
            ]
        }
    )

    results: list[ReloadResult]
