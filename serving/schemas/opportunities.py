"""Deal scoring: the request (deals with their histories) and the response (P(won), health, flags)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from funnelcast.serving.schemas.common import (
    Account,
    Activity,
    InstantText,
    ModelRef,
    Money,
    Reasons,
    _In,
    _Out,
)


class StageEntry(_In):
    """A stage the deal entered, and when (closing stages included)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"}]}
    )

    stage: str = Field(min_length=1, examples=["明确需求"])
    entered_at: InstantText


class CloseDateChange(_In):
    """A change of the expected close date, so slips can be counted as of any date."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"changed_at": "2025-04-16T00:00:00Z", "expected_close_date": "2025-05-15T00:00:00Z"}
            ]
        }
    )

    changed_at: InstantText
    expected_close_date: InstantText


class AmountChange(_In):
    """A change of the deal amount."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"changed_at": "2025-04-20T00:00:00Z", "amount": 165000}]}
    )

    changed_at: InstantText
    amount: Money = Field(ge=0)


class Opportunity(_In):
    """A deal as the CRM holds it now (outcome fields are not sent: it is open)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "O1",
                    "account_id": "A1",
                    "owner": "王芳",
                    "pipeline": "default",
                    "product": "crm_suite",
                    "amount": 180000,
                    "currency": "CNY",
                    "created_at": "2025-03-01T00:00:00Z",
                    "expected_close_date": "2025-06-30T00:00:00Z",
                }
            ]
        }
    )

    opportunity_id: str = Field(min_length=1, examples=["O000017"])
    account_id: str = Field(min_length=1, examples=["A000123"])
    owner: str = Field(min_length=1, examples=["王芳"])
    pipeline: str = Field(min_length=1, examples=["default"])
    product: str = Field(min_length=1, examples=["crm_suite"])
    amount: Money = Field(ge=0, examples=[180000])
    currency: str = Field(min_length=1, examples=["CNY"])
    created_at: InstantText
    expected_close_date: InstantText | None = None
    lead_id: str | None = None
    custom: dict[str, str | float | None] = Field(
        default_factory=dict,
        description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing",
        examples=[{"segment": "smb"}],
    )


class OpportunityItem(_In):
    """One deal with its stage history (at least one entry), activities and change histories."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity": {
                        "opportunity_id": "O1",
                        "account_id": "A1",
                        "owner": "王芳",
                        "pipeline": "default",
                        "product": "crm_suite",
                        "amount": 180000,
                        "currency": "CNY",
                        "created_at": "2025-03-01T00:00:00Z",
                        "expected_close_date": "2025-06-30T00:00:00Z",
                    },
                    "stage_history": [
                        {"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"},
                        {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"},
                    ],
                    "activities": [
                        {"activity_id": "E1", "occurred_at": "2025-05-20T09:30:00Z", "type": "meeting"}
                    ],
                }
            ]
        }
    )

    opportunity: Opportunity
    stage_history: list[StageEntry] = Field(min_length=1)
    activities: list[Activity] = Field(default_factory=list)
    close_date_history: list[CloseDateChange] = Field(default_factory=list)
    amount_history: list[AmountChange] = Field(default_factory=list)
    account: Account | None = None
    account_activities: list[Activity] = Field(
        default_factory=list, description="Activity logged on the deal's account (counted over 90 days)"
    )


class OpportunityScoreRequest(_In):
    """Deals to score; `as_of` defaults to now."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-01T00:00:00Z",
                    "opportunities": [
                        {
                            "opportunity": {
                                "opportunity_id": "O1",
                                "account_id": "A1",
                                "owner": "王芳",
                                "pipeline": "default",
                                "product": "crm_suite",
                                "amount": 180000,
                                "currency": "CNY",
                                "created_at": "2025-03-01T00:00:00Z",
                                "expected_close_date": "2025-06-30T00:00:00Z",
                            },
                            "stage_history": [
                                {"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"},
                                {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"},
                            ],
                        }
                    ],
                }
            ]
        }
    )

    as_of: InstantText | None = None
    opportunities: list[OpportunityItem] = Field(min_length=1)


RiskCode = Literal[
    "stalled",
    "over_sla",
    "no_recent_activity",
    "close_date_pushed",
    "overdue",
    "skipped_stages",
    "first_stage_jump",
    "regression",
    "single_contact",
    "no_decision_maker",
]


# Risk flags and deal scores are built by the thousand per batch: typed dicts (validated when a model
# is built from them, serialised by pydantic-core) instead of a model instance each.
@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [{"code": "close_date_pushed", "message": "expected close date pushed 2 times"}]
        }
    )
)
class RiskFlag(TypedDict):
    """A reason to look at a deal now."""

    code: RiskCode
    message: str


@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "O1",
                    "stage": "明确需求",
                    "p_won": 0.52,
                    "p_won_30d": 0.12,
                    "p_won_60d": 0.25,
                    "p_won_90d": 0.33,
                    "stage_weight": 0.5,
                    "historical_stage_win_rate": 0.61,
                    "health_score": 44.0,
                    "health": "at_risk",
                    "risk_flags": [
                        {"code": "close_date_pushed", "message": "expected close date pushed 2 times"}
                    ],
                    "reasons": {
                        "positive": [
                            {
                                "feature": "stage_win_rate",
                                "value": 0.61,
                                "contribution": 0.3,
                                "text": "share of closed deals that passed this stage and were won: 0.61",
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
class OpportunityScore(TypedDict):
    """The win probabilities, health and risk flags of one deal."""

    opportunity_id: str
    stage: str | None
    p_won: float
    p_won_30d: float
    p_won_60d: float
    p_won_90d: float
    stage_weight: Annotated[float | None, Field(description="Configured weight of the current stage")]
    historical_stage_win_rate: float | None
    health_score: Annotated[float, Field(description="0-100: P(won) against what its stage usually achieves")]
    health: Literal["healthy", "at_risk", "critical"]
    risk_flags: list[RiskFlag]
    reasons: Reasons
    warnings: list[str]


class OpportunityScoreResponse(_Out):
    """Scores in request order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-01T00:00:00Z",
                    "model": {
                        "name": "funnelcast-win-probability",
                        "version": "3",
                        "feature_set": "opportunity_v1",
                    },
                    "results": [
                        {
                            "opportunity_id": "O1",
                            "stage": "明确需求",
                            "p_won": 0.52,
                            "p_won_30d": 0.12,
                            "p_won_60d": 0.25,
                            "p_won_90d": 0.33,
                            "stage_weight": 0.5,
                            "historical_stage_win_rate": 0.61,
                            "health_score": 44.0,
                            "health": "at_risk",
                            "risk_flags": [
                                {"code": "close_date_pushed", "message": "expected close date pushed 2 times"}
                            ],
                            "reasons": {
                                "positive": [
                                    {
                                        "feature": "stage_win_rate",
                                        "value": 0.61,
                                        "contribution": 0.3,
                                        "text": "share of closed deals that passed this stage and were won: 0.61",  # noqa: E501
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
    model: ModelRef
    results: list[OpportunityScore]
