"""Lead scoring: the request (leads with their activities) and the response (scores, grades, reasons)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from funnelcast.serving.schemas.common import (
    Account,
    Activity,
    ContactRole,
    InstantText,
    ModelRef,
    Money,
    Reasons,
    _In,
    _Out,
)


class Lead(_In):
    """A lead as the CRM holds it: company fields, source, BANT as captured."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "L1",
                    "created_at": "2025-05-01T08:00:00Z",
                    "source": "webinar",
                    "company": "星辰科技有限公司",
                    "contact_title": "采购总监",
                    "product_interest": "crm_suite",
                    "need": "sales_automation",
                    "budget_amount": 200000,
                    "budget_currency": "CNY",
                    "timeline_horizon": "1-3m",
                }
            ]
        }
    )

    lead_id: str = Field(min_length=1, examples=["L0000042"])
    created_at: InstantText = Field(examples=["2025-05-01T08:00:00Z"])
    source: str = Field(min_length=1, examples=["webinar"])
    account_id: str | None = None
    company: str | None = Field(None, examples=["星辰科技有限公司"])
    industry: str | None = Field(None, examples=["software"])
    employees: float | None = Field(None, ge=0, examples=[120])
    region: str | None = Field(None, examples=["华东"])
    owner: str | None = Field(None, examples=["张伟"])
    contact_name: str | None = Field(None, description="PII: used for nothing, never logged")
    contact_email: str | None = Field(
        None,
        max_length=320,
        description="PII: never a feature, never logged; the book matches duplicates by its domain",
    )
    contact_phone: str | None = Field(
        None,
        max_length=64,
        description="PII: never a feature, never logged; the book matches duplicates by it",
    )
    contact_title: str | None = Field(None, examples=["采购总监"])
    contact_role: ContactRole | None = None
    product_interest: str | None = Field(None, examples=["crm_suite"])
    need: str | None = Field(None, examples=["sales_automation"])
    budget_amount: Money | None = Field(None, ge=0, examples=[200000])
    budget_currency: str | None = Field(None, examples=["CNY"])
    budget_band: str | None = Field(None, examples=["50k-200k"])
    timeline_date: InstantText | None = None
    timeline_horizon: str | None = Field(None, examples=["1-3m"])
    custom: dict[str, str | float | None] = Field(
        default_factory=dict,
        description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing",
        examples=[{"segment": "smb"}],
    )


class LeadItem(_In):
    """One lead with its recent activities and, optionally, its account and the account's anonymous
    activity."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead": {
                        "lead_id": "L1",
                        "created_at": "2025-05-01T08:00:00Z",
                        "source": "webinar",
                        "company": "星辰科技有限公司",
                        "contact_title": "采购总监",
                        "product_interest": "crm_suite",
                        "need": "sales_automation",
                        "budget_amount": 200000,
                        "budget_currency": "CNY",
                        "timeline_horizon": "1-3m",
                    },
                    "activities": [
                        {"activity_id": "E1", "occurred_at": "2025-05-20T09:30:00Z", "type": "demo_request"}
                    ],
                }
            ]
        }
    )

    lead: Lead
    activities: list[Activity] = Field(default_factory=list, description="The lead's recent activities")
    account: Account | None = None
    account_activities: list[Activity] = Field(
        default_factory=list, description="Anonymous activity matched to the lead's account (e.g. web visits)"
    )


class LeadScoreRequest(_In):
    """Leads to score, each with its activities; `as_of` defaults to now."""

    as_of: InstantText | None = Field(None, description="Score as of this time (default: now, UTC)")
    leads: list[LeadItem] = Field(min_length=1)

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "leads": [
                        {
                            "lead": {
                                "lead_id": "L1",
                                "created_at": "2025-05-01T08:00:00Z",
                                "source": "webinar",
                                "company": "星辰科技有限公司",
                                "contact_title": "采购总监",
                                "product_interest": "crm_suite",
                                "need": "sales_automation",
                                "budget_amount": 200000,
                                "budget_currency": "CNY",
                                "timeline_horizon": "1-3m",
                            },
                            "activities": [
                                {
                                    "activity_id": "E1",
                                    "occurred_at": "2025-05-20T09:30:00Z",
                                    "type": "demo_request",
                                }
                            ],
                        }
                    ]
                }
            ]
        },
    )


@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "L1",
                    "probability": 0.41,
                    "score": 41.0,
                    "grade": "Hot",
                    "rule_grade": "Warm",
                    "rule_points": 55.0,
                    "stale": False,
                    "stale_reason": None,
                    "reasons": {
                        "positive": [
                            {
                                "feature": "n_demo_request_30d",
                                "value": 1.0,
                                "contribution": 0.41,
                                "text": "number of demo_request events (last 30 days): 1",
                            }
                        ],
                        "negative": [
                            {
                                "feature": "days_since_last_touch",
                                "value": 12.0,
                                "contribution": -0.2,
                                "text": "days since the latest touch: 12.0",
                            }
                        ],
                    },
                    "warnings": [],
                }
            ]
        }
    )
)
class LeadScore(TypedDict):
    """The score of one lead."""

    lead_id: str
    probability: Annotated[
        float | None, Field(description="Calibrated P(convert within the horizon); null under rules only")
    ]
    score: Annotated[float | None, Field(description="0-100")]
    grade: Literal["Hot", "Warm", "Cold"]
    rule_grade: Literal["Hot", "Warm", "Cold"]
    rule_points: float
    stale: Annotated[
        bool,
        Field(
            description="Older than the days its source's converted leads usually took to convert (the "
            "model's learned p90): a lead to recycle to nurturing or disqualify, not to call first"
        ),
    ]
    stale_reason: Annotated[str | None, Field(description="Why it is stale, and what to do (null when not)")]
    reasons: Reasons
    warnings: list[str]


class LeadScoreResponse(_Out):
    """Scores in request order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-01T00:00:00Z",
                    "horizon_days": 90,
                    "model": {"name": "funnelcast-lead-grading", "version": "3", "feature_set": "lead_v1"},
                    "results": [
                        {
                            "lead_id": "L1",
                            "probability": 0.41,
                            "score": 41.0,
                            "grade": "Hot",
                            "rule_grade": "Warm",
                            "rule_points": 55.0,
                            "stale": False,
                            "stale_reason": None,
                            "reasons": {
                                "positive": [
                                    {
                                        "feature": "n_demo_request_30d",
                                        "value": 1.0,
                                        "contribution": 0.41,
                                        "text": "number of demo_request events (last 30 days): 1",
                                    }
                                ],
                                "negative": [
                                    {
                                        "feature": "days_since_last_touch",
                                        "value": 12.0,
                                        "contribution": -0.2,
                                        "text": "days since the latest touch: 12.0",
                                    }
                                ],
                            },
                            "warnings": [],
                        }
                    ],
                }
            ]
        }
    )

    as_of: datetime
    horizon_days: int
    model: ModelRef
    results: list[LeadScore]
