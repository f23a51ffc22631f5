"""Service settings from the environment (prefix FUNNELCAST_), validated at start-up."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from funnelcast.core import paths


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ServingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNNELCAST_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    model_source: Literal["auto", "registry", "local"] = Field(
        "auto", description="registry: MLflow aliases; local: models/ exports; auto: registry, else local"
    )
    models_dir: Path = Field(
        default_factory=paths.models_dir,
        description="Local exports of the champions (default: $FUNNELCAST_HOME/models)",
    )
    alias: str = "champion"
    api_keys: str = Field("", description="Comma-separated scoring keys (stored only as SHA-256)")
    admin_keys: str = Field("", description="Comma-separated admin keys (reload); none means admin is closed")
    max_records: int = Field(1000, ge=1)
    max_analytics_records: int = Field(
        20_000, ge=1, description="Deals (+ leads) per funnel / forecast request"
    )
    max_body_bytes: int = Field(8_000_000, ge=1024)
    reload_poll_seconds: float = Field(
        0.0, ge=0, description="Poll the alias this often; 0 turns polling off"
    )
    rules_only: bool = Field(False, description="Ready without models (leads get the BANT rule grade)")
    config_dir: Path | None = None

    def key_hashes(self, admin: bool = False) -> tuple[str, ...]:
        raw = self.admin_keys if admin else self.api_keys
        return tuple(hash_key(k.strip()) for k in raw.split(",") if k.strip())
