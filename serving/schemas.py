"""Request and response models of the API (/v1). Field names follow the canonical data model
(docs/data-model.md). Unknown fields are rejected; NaN and infinity are rejected."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from features.schema import ACTIVITY_TYPES, CONTACT_ROLES, LOSS_REASONS

ActivityType = Literal[tuple(ACTIVITY_TYPES)]  # type: ignore[valid-type]
ContactRole = Literal[tuple(CONTACT_ROLES)]  # type: ignore[valid-type]
LossReason = Literal[tuple(LOSS_REASONS)]  # type: ignore[valid-type]
Money = float


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class Account(_In):
    """The company a lead or deal belongs to (optional; fills company fields the lead leaves empty)."""

    account_id: str = Field(min_length=1, examples=["A000123"])
    name: str = Field(min_length=1, examples=["星辰科技有限公司"])
    industry: str | None = Field(None, examples=["manufacturing"])
    employees: float | None = Field(None, ge=0, examples=[250])
    annual_revenue: float | None = Field(None, ge=0, examples=[48_000_000])
    region: str | None = Field(None, examples=["华东"])
    custom: dict[str, str | float | None] = Field(
        default_factory=dict, description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing", examples=[{"segment": "smb"}])


class Activity(_In):
    """One behaviour or sales event. Events after `as_of` are ignored."""

    activity_id: str = Field(min_length=1, examples=["E1"])
    occurred_at: datetime = Field(description="ISO 8601; without an offset it is taken as UTC",
                                  examples=["2025-05-20T09:30:00Z"])
    type: ActivityType = Field(examples=["demo_request"])
    value: float | None = Field(None, ge=0, description="seconds on page, call minutes ...", examples=[95])
    contact_id: str | None = None
    contact_role: ContactRole | None = None


class Lead(_In):
    """A lead as the CRM holds it: company fields, source, BANT as captured."""

    lead_id: str = Field(min_length=1, examples=["L0000042"])
    created_at: datetime = Field(examples=["2025-05-01T08:00:00Z"])
    source: str = Field(min_length=1, examples=["webinar"])
    account_id: str | None = None
    company: str | None = Field(None, examples=["星辰科技有限公司"])
    industry: str | None = Field(None, examples=["software"])
    employees: float | None = Field(None, ge=0, examples=[120])
    region: str | None = Field(None, examples=["华东"])
    owner: str | None = Field(None, examples=["张伟"])
    contact_name: str | None = Field(None, description="PII: used for nothing, never logged")
    contact_title: str | None = Field(None, examples=["采购总监"])
    contact_role: ContactRole | None = None
    product_interest: str | None = Field(None, examples=["crm_suite"])
    need: str | None = Field(None, examples=["sales_automation"])
    budget_amount: Money | None = Field(None, ge=0, examples=[200000])
    budget_currency: str | None = Field(None, examples=["CNY"])
    budget_band: str | None = Field(None, examples=["50k-200k"])
    timeline_date: datetime | None = None
    timeline_horizon: str | None = Field(None, examples=["1-3m"])
    custom: dict[str, str | float | None] = Field(
        default_factory=dict, description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing", examples=[{"segment": "smb"}])


class LeadItem(_In):
    lead: Lead
    activities: list[Activity] = Field(default_factory=list, description="The lead's recent activities")
    account: Account | None = None
    account_activities: list[Activity] = Field(
        default_factory=list, description="Anonymous activity matched to the lead's account (e.g. web visits)")


class LeadScoreRequest(_In):
    """Leads to score, each with its activities; `as_of` defaults to now."""

    as_of: datetime | None = Field(None, description="Score as of this time (default: now, UTC)")
    leads: list[LeadItem] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "leads": [{"lead": {"lead_id": "L1", "created_at": "2025-05-01T08:00:00Z", "source": "webinar",
                            "company": "星辰科技有限公司", "contact_title": "采购总监", "product_interest": "crm_suite",
                            "need": "sales_automation", "budget_amount": 200000, "budget_currency": "CNY",
                            "timeline_horizon": "1-3m"},
                   "activities": [{"activity_id": "E1", "occurred_at": "2025-05-20T09:30:00Z",
                                   "type": "demo_request"}]}]}]})


class StageEntry(_In):
    stage: str = Field(min_length=1, examples=["明确需求"])
    entered_at: datetime


class CloseDateChange(_In):
    changed_at: datetime
    expected_close_date: datetime


class AmountChange(_In):
    changed_at: datetime
    amount: Money = Field(ge=0)


class Opportunity(_In):
    opportunity_id: str = Field(min_length=1, examples=["O000017"])
    account_id: str = Field(min_length=1, examples=["A000123"])
    owner: str = Field(min_length=1, examples=["王芳"])
    pipeline: str = Field(min_length=1, examples=["default"])
    product: str = Field(min_length=1, examples=["crm_suite"])
    amount: Money = Field(ge=0, examples=[180000])
    currency: str = Field(min_length=1, examples=["CNY"])
    created_at: datetime
    expected_close_date: datetime | None = None
    lead_id: str | None = None
    custom: dict[str, str | float | None] = Field(
        default_factory=dict, description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing", examples=[{"segment": "smb"}])


class OpportunityItem(_In):
    opportunity: Opportunity
    stage_history: list[StageEntry] = Field(min_length=1)
    activities: list[Activity] = Field(default_factory=list)
    close_date_history: list[CloseDateChange] = Field(default_factory=list)
    amount_history: list[AmountChange] = Field(default_factory=list)
    account: Account | None = None


class OpportunityScoreRequest(_In):
    as_of: datetime | None = None
    opportunities: list[OpportunityItem] = Field(min_length=1)


class Reason(_Out):
    """One feature's push on the score: its value and its contribution to the log-odds."""

    feature: str = Field(examples=["n_demo_request_30d"])
    value: float | str | None = Field(examples=[2])
    contribution: float = Field(examples=[0.41])
    text: str = Field(examples=["number of demo_request events (last 30 days) is 2"])


class Reasons(_Out):
    positive: list[Reason]
    negative: list[Reason]


class ModelRef(_Out):
    name: str = Field(examples=["funnelcast-lead-grading"])
    version: str | None = Field(examples=["3"])
    feature_set: str | None = Field(examples=["lead_v1"])


class LeadScore(_Out):
    lead_id: str
    probability: float | None = Field(description="Calibrated P(convert within the horizon); null under rules only")
    score: float | None = Field(description="0-100")
    grade: Literal["Hot", "Warm", "Cold"]
    rule_grade: Literal["Hot", "Warm", "Cold"]
    rule_points: float
    reasons: Reasons
    warnings: list[str]


class LeadScoreResponse(_Out):
    as_of: datetime
    horizon_days: int
    model: ModelRef
    results: list[LeadScore]


class RiskFlag(_Out):
    code: Literal["stalled", "over_sla", "no_recent_activity", "close_date_pushed", "overdue", "skipped_stages",
                  "first_stage_jump", "regression", "single_contact", "no_decision_maker"]
    message: str


class OpportunityScore(_Out):
    opportunity_id: str
    stage: str | None
    p_won: float
    p_won_30d: float
    p_won_60d: float
    p_won_90d: float
    stage_weight: float | None = Field(description="Configured weight of the current stage")
    historical_stage_win_rate: float | None
    health_score: float = Field(description="0-100: P(won) against what its stage usually achieves")
    health: Literal["healthy", "at_risk", "critical"]
    risk_flags: list[RiskFlag]
    reasons: Reasons
    warnings: list[str]


class OpportunityScoreResponse(_Out):
    as_of: datetime
    model: ModelRef
    results: list[OpportunityScore]


class LoadedModelInfo(_Out):
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
    models: list[LoadedModelInfo]
    lead_fallback: str | None = Field(description="What leads get when no lead model is loaded")


class ReloadResult(_Out):
    kind: str
    result: Literal["swapped", "unchanged", "refused", "missing"]
    version: str | None
    message: str


class ReloadResponse(_Out):
    results: list[ReloadResult]
