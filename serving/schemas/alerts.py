"""Alerts as webhooks, duplicate leads and handover: the contract."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from funnelcast.book.alerts import KINDS
from funnelcast.serving.schemas.common import _In, _Out

AlertKind = Literal[tuple(KINDS)]  # type: ignore[valid-type]


class WebhookIn(_In):
    """A subscription: where to POST alerts of these kinds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"url": "https://crm.example.com/hooks/funnelcast", "kinds": ["lead_hot"]}]
        }
    )

    url: str = Field(
        pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=2000, examples=["https://crm.example.com/hooks"]
    )
    kinds: list[AlertKind] = Field(min_length=1, description="; ".join(f"{k}: {v}" for k, v in KINDS.items()))
    description: str | None = Field(None, max_length=500, examples=["deal desk"])
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        description="Signing secret (default: one is made and shown once)",
    )


class Webhook(_Out):
    """A subscription as stored (its secret is shown only when it is created)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "wh_0123456789abcdef",
                    "url": "https://crm.example.com/hooks",
                    "kinds": ["lead_hot"],
                    "description": None,
                    "created_at": "2025-06-01T00:00:00Z",
                }
            ]
        }
    )

    id: str
    url: str
    kinds: list[str]
    description: str | None
    created_at: str


class WebhookCreated(Webhook):
    """The new subscription with its signing secret: keep it, it is not shown again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "wh_0123456789abcdef",
                    "url": "https://crm.example.com/hooks",
                    "kinds": ["lead_hot"],
                    "description": None,
                    "created_at": "2025-06-01T00:00:00Z",
                    "secret": "whsec_...",
                }
            ]
        }
    )

    secret: str


class WebhookList(_Out):
    """Every subscription."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"webhooks": []}]})

    webhooks: list[Webhook]


class Delivery(_Out):
    """One alert to one subscription, and what became of it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "kind": "lead_hot",
                    "entity": "lead",
                    "entity_id": "L0000042",
                    "created_at": "2025-06-01T00:00:00Z",
                    "state": "failed",
                    "attempts": 12,
                    "next_attempt_at": "2025-06-01T02:00:00Z",
                    "delivered_at": None,
                    "last_status": 500,
                    "last_error": "HTTP 500",
                    "payload": {"kind": "lead_hot", "lead_id": "L0000042"},
                }
            ]
        }
    )

    id: int
    kind: str
    entity: str
    entity_id: str
    created_at: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str
    delivered_at: str | None
    last_status: int | None
    last_error: str | None
    payload: dict


class DeliveryList(_Out):
    """Deliveries of one subscription, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"deliveries": []}]})

    deliveries: list[Delivery]


class Duplicate(_Out):
    """An open lead or an account of the same customer, who works it, and what they share."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entity": "lead",
                    "id": "L0000007",
                    "name": "星辰科技（中国）有限公司",
                    "owners": ["王芳"],
                    "evidence": ["company", "phone"],
                    "grade": "Warm",
                    "created_at": "2025-03-02T00:00:00Z",
                    "found_at": "2025-06-01T00:00:00Z",
                }
            ]
        }
    )

    entity: Literal["lead", "account"]
    id: str
    name: str | None
    owners: list[str] = Field(
        description="Who works it: the lead's owner, or the owners of the account's open deals"
    )
    evidence: list[Literal["company", "email_domain", "phone"]]
    grade: str | None
    created_at: str | None
    found_at: str


class Duplicates(_Out):
    """What the book holds of the same customer as this lead."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"lead_id": "L0000042", "duplicates": []}]})

    lead_id: str
    duplicates: list[Duplicate]


class HandoverItem(_Out):
    """One deal or lead of a handover, in order, with how to reach it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order": 1,
                    "kind": "opportunity",
                    "id": "O000017",
                    "name": "星辰科技有限公司",
                    "tier": 1,
                    "contact": "in person",
                    "stage": "购买决策",
                    "stage_weight": 0.75,
                    "amount": 180000.0,
                    "health": "at_risk",
                    "health_score": 41.0,
                    "grade": None,
                    "probability": 0.55,
                }
            ]
        }
    )

    order: int
    kind: Literal["opportunity", "lead"]
    id: str
    name: str | None
    tier: int = Field(
        description="1: stages weighted 75 % and more; 2: 50 %; 3: the top of the funnel and leads"
    )
    contact: str = Field(description="How to reach it first: in person, by phone, by email then phone")
    stage: str | None
    stage_weight: float | None
    amount: float | None
    health: str | None
    health_score: float | None
    grade: str | None
    probability: float | None


class Handover(_Out):
    """A rep's open deals and leads in handover order; with `to`, they now belong to that rep."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"owner": "张伟", "to": None, "moved": 0, "items": []}]}
    )

    owner: str
    to: str | None
    moved: int
    items: list[HandoverItem]


class HandoverIn(_In):
    """Hand `owner`'s open deals and leads to `to`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"owner": "张伟", "to": "李娜"}]})

    owner: str = Field(min_length=1, max_length=128, examples=["张伟"])
    to: str = Field(min_length=1, max_length=128, examples=["李娜"])
