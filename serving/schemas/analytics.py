"""Request and response models of the funnel and forecast routes (/v1/funnel, /v1/forecast)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from funnelcast.serving.schemas.common import Account, InstantText, LossReason, ModelRef, _In, _Out
from funnelcast.serving.schemas.opportunities import Opportunity, OpportunityItem, StageEntry

FunnelGrouping = Literal["owner", "pipeline", "source", "segment"]
ForecastGrouping = Literal["owner", "pipeline"]


class FunnelDeal(_In):
    """A deal, open or closed, with its stage history (closing stage rows included when closed)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity": {
                        "opportunity_id": "O9",
                        "account_id": "A1",
                        "owner": "王芳",
                        "pipeline": "default",
                        "product": "crm_suite",
                        "amount": 180000,
                        "currency": "CNY",
                        "created_at": "2025-03-01T00:00:00Z",
                        "expected_close_date": "2025-06-30T00:00:00Z",
                    },
                    "outcome": "lost",
                    "closed_at": "2025-05-02T00:00:00Z",
                    "loss_reason": "competitor_won",
                    "stage_history": [
                        {"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"},
                        {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"},
                        {"stage": "输单", "entered_at": "2025-05-02T00:00:00Z"},
                    ],
                }
            ]
        }
    )

    opportunity: Opportunity
    outcome: Literal["open", "won", "lost"] = Field(examples=["lost"])
    closed_at: InstantText | None = Field(None, description="When it was won or lost (required unless open)")
    loss_reason: LossReason | None = Field(None, examples=["competitor_won"])
    stage_history: list[StageEntry] = Field(min_length=1)
    account: Account | None = Field(None, description="For the segment (company size) grouping")


class FunnelLead(_In):
    """A lead, for lead → opportunity conversion (other lead fields are not needed here)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "L1",
                    "created_at": "2025-02-01T00:00:00Z",
                    "source": "webinar",
                    "owner": "张伟",
                    "converted_at": "2025-03-01T00:00:00Z",
                }
            ]
        }
    )

    lead_id: str = Field(min_length=1, examples=["L0000042"])
    created_at: InstantText
    source: str = Field(min_length=1, examples=["webinar"])
    owner: str | None = Field(None, examples=["张伟"])
    employees: float | None = Field(None, ge=0, examples=[120])
    converted_at: InstantText | None = None
    disqualified_at: InstantText | None = None


class FunnelRequest(_In):
    """The deals (and optionally leads) to analyse; only what happened at or before as_of counts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-30T00:00:00Z",
                    "by": "owner",
                    "opportunities": [
                        {
                            "opportunity": {
                                "opportunity_id": "O9",
                                "account_id": "A1",
                                "owner": "王芳",
                                "pipeline": "default",
                                "product": "crm_suite",
                                "amount": 180000,
                                "currency": "CNY",
                                "created_at": "2025-03-01T00:00:00Z",
                                "expected_close_date": "2025-06-30T00:00:00Z",
                            },
                            "outcome": "lost",
                            "closed_at": "2025-05-02T00:00:00Z",
                            "loss_reason": "competitor_won",
                            "stage_history": [
                                {"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"},
                                {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"},
                                {"stage": "输单", "entered_at": "2025-05-02T00:00:00Z"},
                            ],
                        }
                    ],
                    "leads": [
                        {
                            "lead_id": "L1",
                            "created_at": "2025-02-01T00:00:00Z",
                            "source": "webinar",
                            "owner": "张伟",
                            "converted_at": "2025-03-01T00:00:00Z",
                        }
                    ],
                }
            ]
        }
    )

    as_of: InstantText | None = Field(None, description="Default: now (UTC)")
    by: FunnelGrouping | None = Field(None, description="Break every table down by this")
    opportunities: list[FunnelDeal] = Field(min_length=1)
    leads: list[FunnelLead] = Field(default_factory=list)


class FunnelStage(_Out):
    """One open stage of one pipeline (and group): conversion both ways, dwell, win rate vs weight."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pipeline": "default",
                    "group": "(all)",
                    "stage_index": 2,
                    "stage": "明确需求",
                    "stage_name": "明确需求",
                    "weight": 0.5,
                    "sla_days": 30.0,
                    "open_now": 93,
                    "snapshot_conversion": 1.5,
                    "entered": 1550,
                    "progressed": 1100,
                    "dropped": 390,
                    "still_open": 60,
                    "cohort_conversion": 0.74,
                    "implied_conversion": 0.67,
                    "conversion_vs_weights": 1.1,
                    "conversion_recent": 0.72,
                    "conversion_before": 0.74,
                    "dwell_median_days": 22.0,
                    "dwell_p90_days": 48.0,
                    "stall_threshold_days": 48.0,
                    "finished_visits": 1490,
                    "win_rate": 0.62,
                    "closed": 1416,
                }
            ]
        }
    )

    pipeline: str
    group: str = Field(description="'(all)' without a grouping")
    stage_index: int
    stage: str = Field(examples=["明确需求"])
    stage_name: str
    weight: float = Field(description="Configured stage weight")
    sla_days: float | None
    open_now: int = Field(description="Open deals currently in the stage")
    snapshot_conversion: float | None = Field(
        description="Open now in this stage ÷ open now in the previous one"
    )
    entered: int
    progressed: int = Field(description="Entered and later reached a further stage (won included)")
    dropped: int = Field(description="Entered and lost without progressing")
    still_open: int
    cohort_conversion: float | None = Field(description="progressed ÷ (progressed + dropped)")
    implied_conversion: float | None = Field(description="What the weights assume: weight ÷ next weight")
    conversion_vs_weights: float | None
    conversion_recent: float | None = Field(description="Cohort conversion of entries in the last 90 days")
    conversion_before: float | None
    dwell_median_days: float | None
    dwell_p90_days: float | None
    stall_threshold_days: float | None = Field(description="Learned: p90 of dwell")
    finished_visits: int
    win_rate: float | None = Field(description="Won ÷ closed among closed deals that entered the stage")
    closed: int


class LeadConversion(_Out):
    """Lead → opportunity conversion (per group)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "group": "(all)",
                    "leads": 20000,
                    "converted": 3800,
                    "conversion": 0.19,
                    "mature_leads": 18900,
                    "conversion_within_horizon": 0.19,
                    "days_to_convert_median": 33.0,
                    "days_to_convert_p90": 75.0,
                }
            ]
        }
    )

    group: str
    leads: int
    converted: int
    conversion: float | None
    mature_leads: int = Field(description="Leads older than the conversion horizon")
    conversion_within_horizon: float | None
    days_to_convert_median: float | None
    days_to_convert_p90: float | None


class LossReasonCount(_Out):
    """Lost deals by their last open stage and reason."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pipeline": "default",
                    "group": "(all)",
                    "stage": "发现机会",
                    "loss_reason": "no_budget",
                    "deals": 137,
                }
            ]
        }
    )

    pipeline: str
    group: str
    stage: str = Field(description="Last open stage before the loss")
    loss_reason: str
    deals: int


class Bottleneck(_Out):
    """The weakest stage of a pipeline (and group), two ways."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pipeline": "default",
                    "group": "(all)",
                    "vs_weights": "购买决策",
                    "vs_weights_ratio": 1.12,
                    "vs_history": "发现机会",
                    "vs_history_ratio": 0.96,
                }
            ]
        }
    )

    pipeline: str
    group: str
    vs_weights: str | None = Field(description="Stage converting lowest against what the weights assume")
    vs_weights_ratio: float | None
    vs_history: str | None = Field(description="Stage whose recent conversion fell most against its history")
    vs_history_ratio: float | None


class DealOnList(_Out):
    """A deal on one of the lists (stalled, skipped stages, hidden deals, regressions); fields that do not
    apply to a list are null."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "O2120",
                    "pipeline": "default",
                    "group": "(all)",
                    "owner": "Anna Müller",
                    "stage": "购买决策",
                    "days_in_stage": 234.7,
                    "stall_threshold_days": 33.7,
                    "sla_days": 30.0,
                    "amount": 303000.0,
                }
            ]
        }
    )

    opportunity_id: str
    pipeline: str | None
    group: str | None
    owner: str | None = None
    outcome: str | None = None
    stage: str | None = None
    moves: int | None = None
    stages_skipped: int | None = None
    first_at: str | None = None
    days_in_stage: float | None = None
    stall_threshold_days: float | None = None
    sla_days: float | None = None
    amount: float | None = None


class FunnelResponse(_Out):
    """Funnel analytics as of a date (definitions in docs/forecasting.md)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-30T00:00:00+00:00",
                    "by": None,
                    "stages": [
                        {
                            "pipeline": "default",
                            "group": "(all)",
                            "stage_index": 2,
                            "stage": "明确需求",
                            "stage_name": "明确需求",
                            "weight": 0.5,
                            "sla_days": 30.0,
                            "open_now": 93,
                            "snapshot_conversion": 1.5,
                            "entered": 1550,
                            "progressed": 1100,
                            "dropped": 390,
                            "still_open": 60,
                            "cohort_conversion": 0.74,
                            "implied_conversion": 0.67,
                            "conversion_vs_weights": 1.1,
                            "conversion_recent": 0.72,
                            "conversion_before": 0.74,
                            "dwell_median_days": 22.0,
                            "dwell_p90_days": 48.0,
                            "stall_threshold_days": 48.0,
                            "finished_visits": 1490,
                            "win_rate": 0.62,
                            "closed": 1416,
                        }
                    ],
                    "leads": [
                        {
                            "group": "(all)",
                            "leads": 20000,
                            "converted": 3800,
                            "conversion": 0.19,
                            "mature_leads": 18900,
                            "conversion_within_horizon": 0.19,
                            "days_to_convert_median": 33.0,
                            "days_to_convert_p90": 75.0,
                        }
                    ],
                    "loss_reasons": [
                        {
                            "pipeline": "default",
                            "group": "(all)",
                            "stage": "发现机会",
                            "loss_reason": "no_budget",
                            "deals": 137,
                        }
                    ],
                    "bottlenecks": [
                        {
                            "pipeline": "default",
                            "group": "(all)",
                            "vs_weights": "购买决策",
                            "vs_weights_ratio": 1.12,
                            "vs_history": "发现机会",
                            "vs_history_ratio": 0.96,
                        }
                    ],
                    "stalled": [
                        {
                            "opportunity_id": "O2120",
                            "pipeline": "default",
                            "group": "(all)",
                            "owner": "Anna Müller",
                            "stage": "购买决策",
                            "days_in_stage": 234.7,
                            "stall_threshold_days": 33.7,
                            "sla_days": 30.0,
                            "amount": 303000.0,
                        }
                    ],
                    "skipped_stages": [],
                    "hidden_deals": [],
                    "regressions": [],
                    "notes": [],
                }
            ]
        }
    )

    as_of: str
    by: str | None
    stages: list[FunnelStage]
    leads: list[LeadConversion]
    loss_reasons: list[LossReasonCount]
    bottlenecks: list[Bottleneck]
    stalled: list[DealOnList]
    skipped_stages: list[DealOnList]
    hidden_deals: list[DealOnList] = Field(description="First stage straight to won")
    regressions: list[DealOnList]
    notes: list[str]


class ForecastRequest(_In):
    """Open deals to forecast over (as_of, period_end]."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-01T00:00:00Z",
                    "period_end": "2025-09-30T23:59:59Z",
                    "target": 150000,
                    "by": "owner",
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

    as_of: InstantText | None = Field(None, description="Default: now (UTC)")
    period_end: InstantText = Field(examples=["2026-03-31T23:59:59Z"])
    target: float | None = Field(None, ge=0, description="Revenue target in the base currency")
    by: ForecastGrouping | None = None
    draws: int = Field(10_000, ge=10_000, le=200_000, description="Monte Carlo draws")
    seed: int = Field(0, ge=0, description="Same seed, same draws")
    opportunities: list[OpportunityItem] = Field(
        min_length=1, description="The deals open at as_of (same shape as /v1/opportunities/score)"
    )


class Distribution(_Out):
    """Quantiles of won revenue from seeded Monte Carlo draws."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "method": "model",
                    "draws": 10000,
                    "p10": 26102391.0,
                    "p50": 28342449.0,
                    "p90": 30587872.0,
                    "mean": 28355897.0,
                }
            ]
        }
    )

    method: Literal["model", "historical"]
    draws: int
    p10: float
    p50: float
    p90: float
    mean: float


class GroupForecast(_Out):
    """The forecast of one owner or pipeline."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "group": "default",
                    "open_deals": 251,
                    "stage_weighted": 22570056.0,
                    "historical": 32873504.0,
                    "model": 25186702.0,
                    "p10": 23028750.0,
                    "p50": 25188142.0,
                    "p90": 27348225.0,
                }
            ]
        }
    )

    group: str
    open_deals: int
    stage_weighted: float
    historical: float
    model: float | None
    p10: float
    p50: float
    p90: float


class ForecastResponse(_Out):
    """Won revenue in the period, method by method, and its distribution."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-12-31T00:00:00Z",
                    "period_end": "2026-03-31T23:59:59Z",
                    "model": {
                        "name": "funnelcast-win-probability",
                        "version": "3",
                        "feature_set": "opportunity_v1",
                    },
                    "open_deals": 354,
                    "pipeline_amount": 64359092.0,
                    "expected": {
                        "stage_weighted": 25538231.0,
                        "stage_weighted_in_period": 25538231.0,
                        "historical": 36608000.0,
                        "model": 28355897.0,
                    },
                    "distribution": {
                        "method": "model",
                        "draws": 10000,
                        "p10": 26102391.0,
                        "p50": 28342449.0,
                        "p90": 30587872.0,
                        "mean": 28355897.0,
                    },
                    "target": 30000000,
                    "p_reaching_target": 0.07,
                    "by_group": [
                        {
                            "group": "default",
                            "open_deals": 251,
                            "stage_weighted": 22570056.0,
                            "historical": 32873504.0,
                            "model": 25186702.0,
                            "p10": 23028750.0,
                            "p50": 25188142.0,
                            "p90": 27348225.0,
                        }
                    ],
                    "warnings": [],
                }
            ]
        }
    )

    as_of: datetime
    period_end: datetime
    model: ModelRef | None
    open_deals: int
    pipeline_amount: float = Field(description="Σ amount in the base currency")
    expected: dict[str, float] = Field(
        description="Method → expected won revenue in the period",
        examples=[
            {"stage_weighted": 1.2e6, "stage_weighted_in_period": 9.0e5, "historical": 1.5e6, "model": 1.1e6}
        ],
    )
    distribution: Distribution
    target: float | None
    p_reaching_target: float | None
    by_group: list[GroupForecast] | None
    warnings: list[str]
