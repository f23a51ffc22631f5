"""Service settings from the environment (prefix FUNNELCAST_), validated at start-up."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from funnelcast.core import paths


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


DIGEST = "sha256:"  # how a key's digest is written in place of the key


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
    api_keys: str = Field(
        "", description="Comma-separated scoring keys; hashed when read (SHA-256), the plaintext is not kept"
    )
    admin_keys: str = Field("", description="Comma-separated admin keys (reload); none means admin is closed")
    max_records: int = Field(1000, ge=1)
    max_analytics_records: int = Field(
        20_000, ge=1, description="Deals (+ leads) per funnel / forecast request"
    )
    max_book_records: int = Field(5000, ge=1, description="Records per book ingestion batch")
    max_body_bytes: int = Field(8_000_000, ge=1024)
    reload_poll_seconds: float = Field(
        0.0, ge=0, description="Poll the alias this often; 0 turns polling off"
    )
    rules_only: bool = Field(False, description="Ready without models (leads get the BANT rule grade)")
    rate_limit_per_second: float = Field(
        50.0, ge=0, description="Requests per second per key (per client address without keys); 0: no limit"
    )
    rate_limit_burst: int = Field(200, ge=1, description="Requests a key may send at once above its rate")
    access_log: bool = Field(True, description="One JSON line per request (no bodies, no personal data)")
    book: bool = Field(True, description="Open the book (FUNNELCAST_DATABASE_URL) and serve its routes")
    session_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="Signs workspace sessions; without it a random one is made at start, shared by the "
        "workers of one `funnelcast serve` (sessions end with the server)",
    )
    rescore_minutes: float = Field(
        60.0, ge=0, description="Re-score every open lead and deal this often (time moves grades); 0: never"
    )
    analytics_refresh_minutes: float = Field(
        60.0,
        ge=0,
        description="Workspace funnel and forecast: computed again in the background once the book has moved "
        "and they are this old; 0: computed when a page is opened",
    )
    alert_cooldown_minutes: float = Field(
        60.0, ge=0, description="An alert cleared and raised again within this time is not sent again"
    )
    webhook_max_attempts: int = Field(12, ge=1, description="Deliveries of one alert before it is failed")
    webhook_backoff_seconds: float = Field(2.0, gt=0, description="First retry delay; doubles, with jitter")
    webhook_max_backoff_seconds: float = Field(600.0, gt=0, description="Longest retry delay")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="How long a receiver may take to answer")
    history_min_change: float = Field(
        1.0, ge=0, description="A score move of at least this many points (0-100) is kept in the history"
    )
    config_dir: Path | None = None
    _hashes: dict[bool, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    @field_validator("api_keys", "admin_keys", mode="after")
    @classmethod
    def _digests(cls, raw: str) -> str:
        """Each key replaced by its digest as it is read: the plaintext is never stored."""
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        return ",".join(k if k.startswith(DIGEST) else DIGEST + hash_key(k) for k in keys)

    def model_post_init(self, _) -> None:
        for admin, raw in ((False, self.api_keys), (True, self.admin_keys)):
            self._hashes[admin] = tuple(k.removeprefix(DIGEST) for k in raw.split(",") if k)

    def key_hashes(self, admin: bool = False) -> tuple[str, ...]:
        """The SHA-256 digests of the scoring (or admin) keys, computed once at start."""
        return self._hashes[admin]
