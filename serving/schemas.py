"""Request and response models of the API (/v1). Field names follow the canonical data model
(docs/data-model.md). Unknown fields are rejected; NaN and infinity are rejected."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

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

    model_config = ConfigDict(json_schema_extra={"examples": [{"account_id": "A000123", "name": "星辰科技有限公司", "industry": "manufacturing", "employees": 250, "region": "华东"}]})

    account_id: str = Field(min_length=1, examples=["A000123"])
    name: str = Field(min_length=1, examples=["星辰科技有限公司"])
    industry: str | None = Field(None, examples=["manufacturing"])
    employees: float | None = Field(None, ge=0, examples=[250])
    annual_revenue: float | None = Field(None, ge=0, examples=[48_000_000])
    region: str | None = Field(None, examples=["华东"])
    custom: dict[str, str | float | None] = Field(
        default_factory=dict, description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing", examples=[{"segment": "smb"}])


# An activity's time is ISO 8601 text, checked against this pattern and converted to seconds in bulk by
# serving.instants (activities arrive by the tens of thousands in a batch: a datetime object per
# activity costs more than the rest of scoring). The accepted shapes, D standing for a digit ([0-9]:
# \d would let other scripts' digits through).
INSTANT_SHAPES = r"DDDD-DD-DD(?:[T ]DD:DD(?::DD(?:\.D{1,9})?)?(?:Z|[+-]DD(?::?DD)?)?)?"
ISO_INSTANT = "^" + INSTANT_SHAPES.replace("D", "[0-9]") + "$"
InstantText = Annotated[str, StringConstraints(pattern=ISO_INSTANT),
                        WithJsonSchema({"type": "string", "format": "date-time",
                                        "description": "ISO 8601; without an offset it is taken as UTC"})]


# Activity text is taken as sent (no whitespace stripping), so that the fast decoder of lead
# requests (serving.lead_body) and pydantic accept exactly the same activities.
@with_config(ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={
    "examples": [{"activity_id": "E1", "occurred_at": "2025-05-20T09:30:00Z", "type": "demo_request", "value": 1,
                  "contact_id": "c1", "contact_role": "decision_maker"}]}))
class Activity(TypedDict):
    """One behaviour or sales event. Events after `as_of` are ignored."""

    activity_id: Annotated[str, Field(min_length=1, examples=["E1"])]
    occurred_at: Annotated[InstantText, Field(examples=["2025-05-20T09:30:00Z"])]
    type: Annotated[ActivityType, Field(examples=["demo_request"])]
    value: NotRequired[Annotated[float | None, Field(ge=0, description="seconds on page, call minutes ...",
                                                     examples=[95])]]
    contact_id: NotRequired[str | None]
    contact_role: NotRequired[ContactRole | None]


class Lead(_In):
    """A lead as the CRM holds it: company fields, source, BANT as captured."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"lead_id": "L1", "created_at": "2025-05-01T08:00:00Z", "source": "webinar", "company": "星辰科技有限公司", "contact_title": "采购总监", "product_interest": "crm_suite", "need": "sales_automation", "budget_amount": 200000, "budget_currency": "CNY", "timeline_horizon": "1-3m"}]})

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
    """One lead with its recent activities and, optionally, its account and the account's anonymous activity."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"lead": {"lead_id": "L1", "created_at": "2025-05-01T08:00:00Z", "source": "webinar", "company": "星辰科技有限公司", "contact_title": "采购总监", "product_interest": "crm_suite", "need": "sales_automation", "budget_amount": 200000, "budget_currency": "CNY", "timeline_horizon": "1-3m"}, "activities": [{"activity_id": "E1", "occurred_at": "2025-05-20T09:30:00Z", "type": "demo_request"}]}]})

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
    """A stage the deal entered, and when (closing stages included)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"}]})

    stage: str = Field(min_length=1, examples=["明确需求"])
    entered_at: datetime


class CloseDateChange(_In):
    """A change of the expected close date, so slips can be counted as of any date."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"changed_at": "2025-04-16T00:00:00Z", "expected_close_date": "2025-05-15T00:00:00Z"}]})

    changed_at: datetime
    expected_close_date: datetime


class AmountChange(_In):
    """A change of the deal amount."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"changed_at": "2025-04-20T00:00:00Z", "amount": 165000}]})

    changed_at: datetime
    amount: Money = Field(ge=0)


class Opportunity(_In):
    """A deal as the CRM holds it now (outcome fields are not sent: it is open)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"opportunity_id": "O1", "account_id": "A1", "owner": "王芳", "pipeline": "default", "product": "crm_suite", "amount": 180000, "currency": "CNY", "created_at": "2025-03-01T00:00:00Z", "expected_close_date": "2025-06-30T00:00:00Z"}]})

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
    """One deal with its stage history (at least one entry), activities and change histories."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"opportunity": {"opportunity_id": "O1", "account_id": "A1", "owner": "王芳", "pipeline": "default", "product": "crm_suite", "amount": 180000, "currency": "CNY", "created_at": "2025-03-01T00:00:00Z", "expected_close_date": "2025-06-30T00:00:00Z"}, "stage_history": [{"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"}, {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"}], "activities": [{"activity_id": "E1", "occurred_at": "2025-05-20T09:30:00Z", "type": "meeting"}]}]})

    opportunity: Opportunity
    stage_history: list[StageEntry] = Field(min_length=1)
    activities: list[Activity] = Field(default_factory=list)
    close_date_history: list[CloseDateChange] = Field(default_factory=list)
    amount_history: list[AmountChange] = Field(default_factory=list)
    account: Account | None = None


class OpportunityScoreRequest(_In):
    """Deals to score; `as_of` defaults to now."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"as_of": "2025-06-01T00:00:00Z", "opportunities": [{"opportunity": {"opportunity_id": "O1", "account_id": "A1", "owner": "王芳", "pipeline": "default", "product": "crm_suite", "amount": 180000, "currency": "CNY", "created_at": "2025-03-01T00:00:00Z", "expected_close_date": "2025-06-30T00:00:00Z"}, "stage_history": [{"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"}, {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"}]}]}]})

    as_of: datetime | None = None
    opportunities: list[OpportunityItem] = Field(min_length=1)


# Reasons and lead scores are built by the thousand per batch: plain typed dicts (validated when a
# model is built from them, serialised by pydantic-core) instead of a model instance each.
@with_config(ConfigDict(json_schema_extra={"examples": [{"feature": "n_demo_request_30d", "value": 1.0, "contribution": 0.41, "text": "number of demo_request events (last 30 days): 1"}]}))
class Reason(TypedDict):
    """One feature's push on the score: its value and its contribution to the log-odds."""

    feature: Annotated[str, Field(examples=["n_demo_request_30d"])]
    value: Annotated[float | str | None, Field(examples=[2])]
    contribution: Annotated[float, Field(examples=[0.41])]
    text: Annotated[str, Field(examples=["number of demo_request events (last 30 days) is 2"])]


@with_config(ConfigDict(json_schema_extra={"examples": [{"positive": [{"feature": "n_demo_request_30d", "value": 1.0, "contribution": 0.41, "text": "number of demo_request events (last 30 days): 1"}], "negative": [{"feature": "days_since_last_touch", "value": 12.0, "contribution": -0.2, "text": "days since the latest touch: 12.0"}]}]}))
class Reasons(TypedDict):
    """Up to three features that pushed the score up and three that pushed it down."""

    positive: list[Reason]
    negative: list[Reason]


class ModelRef(_Out):
    """The model that produced the scores."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "funnelcast-lead-grading", "version": "3", "feature_set": "lead_v1"}]})

    name: str = Field(examples=["funnelcast-lead-grading"])
    version: str | None = Field(examples=["3"])
    feature_set: str | None = Field(examples=["lead_v1"])


@with_config(ConfigDict(json_schema_extra={"examples": [{"lead_id": "L1", "probability": 0.41, "score": 41.0, "grade": "Hot", "rule_grade": "Warm", "rule_points": 55.0, "reasons": {"positive": [{"feature": "n_demo_request_30d", "value": 1.0, "contribution": 0.41, "text": "number of demo_request events (last 30 days): 1"}], "negative": [{"feature": "days_since_last_touch", "value": 12.0, "contribution": -0.2, "text": "days since the latest touch: 12.0"}]}, "warnings": []}]}))
class LeadScore(TypedDict):
    """The score of one lead."""

    lead_id: str
    probability: Annotated[float | None, Field(description="Calibrated P(convert within the horizon); null under "
                                                           "rules only")]
    score: Annotated[float | None, Field(description="0-100")]
    grade: Literal["Hot", "Warm", "Cold"]
    rule_grade: Literal["Hot", "Warm", "Cold"]
    rule_points: float
    reasons: Reasons
    warnings: list[str]


class LeadScoreResponse(_Out):
    """Scores in request order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"as_of": "2025-06-01T00:00:00Z", "horizon_days": 90, "model": {"name": "funnelcast-lead-grading", "version": "3", "feature_set": "lead_v1"}, "results": [{"lead_id": "L1", "probability": 0.41, "score": 41.0, "grade": "Hot", "rule_grade": "Warm", "rule_points": 55.0, "reasons": {"positive": [{"feature": "n_demo_request_30d", "value": 1.0, "contribution": 0.41, "text": "number of demo_request events (last 30 days): 1"}], "negative": [{"feature": "days_since_last_touch", "value": 12.0, "contribution": -0.2, "text": "days since the latest touch: 12.0"}]}, "warnings": []}]}]})

    as_of: datetime
    horizon_days: int
    model: ModelRef
    results: list[LeadScore]


class RiskFlag(_Out):
    """A reason to look at a deal now."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "close_date_pushed", "message": "expected close date pushed 2 times"}]})

    code: Literal["stalled", "over_sla", "no_recent_activity", "close_date_pushed", "overdue", "skipped_stages",
                  "first_stage_jump", "regression", "single_contact", "no_decision_maker"]
    message: str


class OpportunityScore(_Out):
    """The win probabilities, health and risk flags of one deal."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"opportunity_id": "O1", "stage": "明确需求", "p_won": 0.52, "p_won_30d": 0.12, "p_won_60d": 0.25, "p_won_90d": 0.33, "stage_weight": 0.5, "historical_stage_win_rate": 0.61, "health_score": 44.0, "health": "at_risk", "risk_flags": [{"code": "close_date_pushed", "message": "expected close date pushed 2 times"}], "reasons": {"positive": [{"feature": "stage_win_rate", "value": 0.61, "contribution": 0.3, "text": "share of closed deals that passed this stage and were won: 0.61"}], "negative": [{"feature": "days_since_last_touch", "value": 12.0, "contribution": -0.2, "text": "days since the latest touch: 12.0"}]}, "warnings": []}]})

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
    """Scores in request order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"as_of": "2025-06-01T00:00:00Z", "model": {"name": "funnelcast-win-probability", "version": "3", "feature_set": "opportunity_v1"}, "results": [{"opportunity_id": "O1", "stage": "明确需求", "p_won": 0.52, "p_won_30d": 0.12, "p_won_60d": 0.25, "p_won_90d": 0.33, "stage_weight": 0.5, "historical_stage_win_rate": 0.61, "health_score": 44.0, "health": "at_risk", "risk_flags": [{"code": "close_date_pushed", "message": "expected close date pushed 2 times"}], "reasons": {"positive": [{"feature": "stage_win_rate", "value": 0.61, "contribution": 0.3, "text": "share of closed deals that passed this stage and were won: 0.61"}], "negative": [{"feature": "days_since_last_touch", "value": 12.0, "contribution": -0.2, "text": "days since the latest touch: 12.0"}]}, "warnings": []}]}]})

    as_of: datetime
    model: ModelRef
    results: list[OpportunityScore]


class LoadedModelInfo(_Out):
    """A loaded model: where it came from and how it tested."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"kind": "lead", "name": "funnelcast-lead-grading", "version": "3", "alias": "champion", "source": "registry", "feature_set": "lead_v1", "trained_at": "2025-12-31T10:00:00+00:00", "loaded_at": "2026-01-02T08:00:00+00:00", "test_metrics": {"converted": {"roc_auc": 0.79, "ece": 0.012}}}]})

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

    model_config = ConfigDict(json_schema_extra={"examples": [{"models": [{"kind": "lead", "name": "funnelcast-lead-grading", "version": "3", "alias": "champion", "source": "registry", "feature_set": "lead_v1", "trained_at": "2025-12-31T10:00:00+00:00", "loaded_at": "2026-01-02T08:00:00+00:00", "test_metrics": {"converted": {"roc_auc": 0.79, "ece": 0.012}}}], "lead_fallback": "bant-rule-grade"}]})

    models: list[LoadedModelInfo]
    lead_fallback: str | None = Field(description="What leads get when no lead model is loaded")


class ReloadResult(_Out):
    """What a reload did for one model kind."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"kind": "lead", "result": "swapped", "version": "4", "message": "serving version 4"}]})

    kind: str
    result: Literal["swapped", "unchanged", "refused", "missing"]
    version: str | None
    message: str


class ReloadResponse(_Out):
    """Reload results per model kind."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"results": [{"kind": "lead", "result": "swapped", "version": "4", "message": "serving version 4"}]}]})

    results: list[ReloadResult]


class ErrorDetail(_Out):
    """One problem: where (a dotted field path into the request) and what."""

    field: str = Field(examples=["leads.0.lead.created_at"])
    message: str = Field(examples=["Input should be a valid datetime"])


class ErrorBody(_Out):
    """What went wrong: a stable code, a message for people, and every problem found."""

    code: str = Field(examples=["invalid_input"], description="unauthorized, forbidden, not_found, too_large, "
                      "invalid_input, not_ready or internal_error")
    message: str = Field(examples=["1 field(s) are invalid"])
    details: list[ErrorDetail] = Field(examples=[[{"field": "leads.0.lead.created_at",
                                                   "message": "Input should be a valid datetime"}]])


class ErrorResponse(_Out):
    """The one shape of every error (4xx and 5xx); never a traceback."""

    error: ErrorBody = Field(examples=[{"code": "invalid_input", "message": "1 field(s) are invalid",
                                        "details": [{"field": "leads.0.lead.created_at",
                                                     "message": "Input should be a valid datetime"}]}])


def error_responses(*statuses: int) -> dict:
    """OpenAPI `responses` for routes: each listed status documented with the error shape."""
    meaning = {401: "No API key, or an unknown one", 403: "A scoring key on an admin route",
               413: "Too many records (MAX_RECORDS / MAX_ANALYTICS_RECORDS) or a body over MAX_BODY_BYTES",
               422: "A field breaks the schema or a rule; every problem is listed with its field path",
               503: "Models are not loaded and checked yet"}
    return {s: {"model": ErrorResponse, "description": meaning[s]} for s in statuses}
