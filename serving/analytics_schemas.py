"""Request and response models of the funnel and forecast routes (/v1/funnel, /v1/forecast)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from serving.schemas import (
    Account,
    Activity,
    AmountChange,
    CloseDateChange,
    LossReason,
    ModelRef,
    Opportunity,
    StageEntry,
    _In,
    _Out,
)

FunnelGrouping = Literal["owner", "pipeline", "source", "segment"]
ForecastGrouping = Literal["owner", "pipeline"]


class FunnelDeal(_In):
    """A deal, open or closed, with its stage history (closing stage rows included when closed)."""

    opportunity: Opportunity
    outcome: Literal["open", "won", "lost"] = Field(examples=["lost"])
    closed_at: datetime | None = Field(None, description="When it was won or lost (required unless open)")
    loss_reason: LossReason | None = Field(None, examples=["competitor_won"])
    stage_history: list[StageEntry] = Field(min_length=1)
    account: Account | None = Field(None, description="For the segment (company size) grouping")


class FunnelLead(_In):
    """A lead, for lead → opportunity conversion (other lead fields are not needed here)."""

    lead_id: str = Field(min_length=1, examples=["L0000042"])
    created_at: datetime
    source: str = Field(min_length=1, examples=["webinar"])
    owner: str | None = Field(None, examples=["张伟"])
    employees: float | None = Field(None, ge=0, examples=[120])
    converted_at: datetime | None = None
    disqualified_at: datetime | None = None


class FunnelRequest(_In):
    """The deals (and optionally leads) to analyse; only what happened at or before as_of counts."""

    as_of: datetime | None = Field(None, description="Default: now (UTC)")
    by: FunnelGrouping | None = Field(None, description="Break every table down by this")
    opportunities: list[FunnelDeal] = Field(min_length=1)
    leads: list[FunnelLead] = Field(default_factory=list)


class FunnelStage(_Out):
    """One open stage of one pipeline (and group): conversion both ways, dwell, win rate vs weight."""

    pipeline: str
    group: str = Field(description="'(all)' without a grouping")
    stage_index: int
    stage: str = Field(examples=["明确需求"])
    stage_name: str
    weight: float = Field(description="Configured stage weight")
    sla_days: float | None
    open_now: int = Field(description="Open deals currently in the stage")
    snapshot_conversion: float | None = Field(description="Open now in this stage ÷ open now in the previous one")
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
    group: str
    leads: int
    converted: int
    conversion: float | None
    mature_leads: int = Field(description="Leads older than the conversion horizon")
    conversion_within_horizon: float | None
    days_to_convert_median: float | None
    days_to_convert_p90: float | None


class LossReasonCount(_Out):
    pipeline: str
    group: str
    stage: str = Field(description="Last open stage before the loss")
    loss_reason: str
    deals: int


class Bottleneck(_Out):
    pipeline: str
    group: str
    vs_weights: str | None = Field(description="Stage converting lowest against what the weights assume")
    vs_weights_ratio: float | None
    vs_history: str | None = Field(description="Stage whose recent conversion fell most against its history")
    vs_history_ratio: float | None


class DealOnList(_Out):
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


class ForecastDeal(_In):
    """An open deal with what the win model needs (same shape as /v1/opportunities/score)."""

    opportunity: Opportunity
    stage_history: list[StageEntry] = Field(min_length=1)
    activities: list[Activity] = Field(default_factory=list)
    close_date_history: list[CloseDateChange] = Field(default_factory=list)
    amount_history: list[AmountChange] = Field(default_factory=list)
    account: Account | None = None


class ForecastRequest(_In):
    as_of: datetime | None = Field(None, description="Default: now (UTC)")
    period_end: datetime = Field(examples=["2026-03-31T23:59:59Z"])
    target: float | None = Field(None, ge=0, description="Revenue target in the base currency")
    by: ForecastGrouping | None = None
    draws: int = Field(10_000, ge=10_000, le=200_000, description="Monte Carlo draws")
    seed: int = Field(0, ge=0, description="Same seed, same draws")
    opportunities: list[ForecastDeal] = Field(min_length=1, description="The deals open at as_of")


class Distribution(_Out):
    method: Literal["model", "historical"]
    draws: int
    p10: float
    p50: float
    p90: float
    mean: float


class GroupForecast(_Out):
    group: str
    open_deals: int
    stage_weighted: float
    historical: float
    model: float | None
    p10: float
    p50: float
    p90: float


class ForecastResponse(_Out):
    as_of: datetime
    period_end: datetime
    model: ModelRef | None
    open_deals: int
    pipeline_amount: float = Field(description="Σ amount in the base currency")
    expected: dict[str, float] = Field(description="Method → expected won revenue in the period",
                                       examples=[{"stage_weighted": 1.2e6, "stage_weighted_in_period": 9.0e5,
                                                  "historical": 1.5e6, "model": 1.1e6}])
    distribution: Distribution
    target: float | None
    p_reaching_target: float | None
    by_group: list[GroupForecast] | None
    warnings: list[str]
