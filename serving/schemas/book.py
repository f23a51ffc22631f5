"""The book's contract: what a CRM sends to keep the book (records as the data model names them,
with their outcome fields), what it reads back (the latest score with who it is, pages of them, and
the history of changes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from funnelcast.serving.schemas.common import (
    Account,
    ActivityType,
    ContactRole,
    InstantText,
    LossReason,
    Money,
    Reasons,
    _In,
    _Out,
)
from funnelcast.serving.schemas.leads import Lead, LeadScore
from funnelcast.serving.schemas.opportunities import Opportunity, OpportunityScore

AS_OF = Field(
    None,
    description="Score what this batch touches as of this time (default: now). A replay of history sends "
    "the time of its events",
    examples=["2025-06-01T00:00:00Z"],
)


class BookLead(Lead):
    """A lead as the CRM holds it, with how it ended (if it has)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "L0000042",
                    "created_at": "2025-05-01T08:00:00Z",
                    "source": "webinar",
                    "company": "星辰科技有限公司",
                    "owner": "张伟",
                    "contact_title": "采购总监",
                    "budget_amount": 200000,
                    "budget_currency": "CNY",
                }
            ]
        }
    )

    converted_at: InstantText | None = Field(None, description="When it became an opportunity")
    disqualified_at: InstantText | None = Field(None, description="When it was disqualified")
    disqualify_reason: str | None = Field(None, examples=["no_budget"])


class BookOpportunity(Opportunity):
    """A deal as the CRM holds it, with its outcome (open until won or lost)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "O000017",
                    "account_id": "A000123",
                    "owner": "王芳",
                    "pipeline": "default",
                    "product": "crm_suite",
                    "amount": 180000,
                    "currency": "CNY",
                    "created_at": "2025-03-01T00:00:00Z",
                    "outcome": "open",
                }
            ]
        }
    )

    outcome: Literal["open", "won", "lost"] = Field("open", examples=["open"])
    closed_at: InstantText | None = Field(None, description="When it was won or lost")
    loss_reason: LossReason | None = Field(None, examples=["competitor_won"])


class BookActivity(_In):
    """One activity of a lead, deal or account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "activity_id": "E00000001",
                    "entity_type": "lead",
                    "entity_id": "L0000042",
                    "occurred_at": "2025-05-20T09:30:00Z",
                    "type": "demo_request",
                }
            ]
        }
    )

    activity_id: str = Field(min_length=1, examples=["E00000001"])
    entity_type: Literal["lead", "opportunity", "account"] = Field(examples=["lead"])
    entity_id: str = Field(min_length=1, examples=["L0000042"])
    occurred_at: InstantText = Field(examples=["2025-05-20T09:30:00Z"])
    type: ActivityType = Field(examples=["demo_request"])
    value: float | None = Field(None, ge=0, examples=[95])
    contact_id: str | None = Field(None, examples=["O000017-c2"])
    contact_role: ContactRole | None = Field(None, examples=["champion"])


class StageChange(_In):
    """A deal entered a stage (replaying the same deal, stage and time is a no-op)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"opportunity_id": "O000017", "stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"}
            ]
        }
    )

    opportunity_id: str = Field(min_length=1, examples=["O000017"])
    stage: str = Field(min_length=1, examples=["明确需求"])
    entered_at: InstantText = Field(examples=["2025-03-20T00:00:00Z"])


class CloseDateChangeIn(_In):
    """The expected close date of a deal was changed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "O000017",
                    "changed_at": "2025-04-16T00:00:00Z",
                    "expected_close_date": "2025-05-30T00:00:00Z",
                }
            ]
        }
    )

    opportunity_id: str = Field(min_length=1, examples=["O000017"])
    changed_at: InstantText = Field(examples=["2025-04-16T00:00:00Z"])
    expected_close_date: InstantText = Field(examples=["2025-05-30T00:00:00Z"])


class AmountChangeIn(_In):
    """The amount of a deal was changed (deal currency)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"opportunity_id": "O000017", "changed_at": "2025-04-20T00:00:00Z", "amount": 165000}
            ]
        }
    )

    opportunity_id: str = Field(min_length=1, examples=["O000017"])
    changed_at: InstantText = Field(examples=["2025-04-20T00:00:00Z"])
    amount: Money = Field(ge=0, examples=[165000])


def _batch(name: str, item: type, doc: str) -> type[_In]:
    example = item.model_config["json_schema_extra"]["examples"][0]
    return type(
        f"Book{name.title().replace('_', '')}Batch",
        (_In,),
        {
            "__doc__": doc,
            "__annotations__": {"as_of": InstantText | None, name: list[item]},
            "as_of": AS_OF,
            name: Field(min_length=1, examples=[[example]]),
            "model_config": ConfigDict(json_schema_extra={"examples": [{name: [example]}]}),
        },
    )


AccountBatch = _batch("accounts", Account, "Accounts to keep (upserted by account_id).")
LeadBatch = _batch("leads", BookLead, "Leads to keep (upserted by lead_id).")
OpportunityBatch = _batch("opportunities", BookOpportunity, "Deals to keep (upserted by opportunity_id).")
ActivityBatch = _batch(
    "activities", BookActivity, "Activities to append (a replayed activity_id is a no-op)."
)
StageChangeBatch = _batch("stage_changes", StageChange, "Stage entries to append.")
CloseDateChangeBatch = _batch("close_date_changes", CloseDateChangeIn, "Close-date changes to append.")
AmountChangeBatch = _batch("amount_changes", AmountChangeIn, "Amount changes to append.")


class IngestResult(_Out):
    """What a batch did, and how many leads and deals were scored anew because of it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entity": "activities",
                    "received": 3,
                    "inserted": 2,
                    "updated": 0,
                    "unchanged": 1,
                    "rescored": {"lead": 2, "opportunity": 0},
                    "queued": 0,
                    "as_of": "2025-06-01T00:00:00Z",
                }
            ]
        }
    )

    entity: str
    received: int
    inserted: int
    updated: int
    unchanged: int = Field(description="Replays: the book already held exactly this")
    rescored: dict[str, int] = Field(description="Leads and deals scored anew, by kind")
    queued: int = Field(description="Touched but not scored yet (no model loaded): scored once one is")
    as_of: str | None


class BookLeadScore(LeadScore):
    """A lead's latest score in the book, with who it is and since when its grade holds."""

    __pydantic_config__ = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "L0000042",
                    "probability": 0.41,
                    "score": 41.0,
                    "grade": "Hot",
                    "rule_grade": "Warm",
                    "rule_points": 55.0,
                    "stale": False,
                    "stale_reason": None,
                    "reasons": {"positive": [], "negative": []},
                    "warnings": [],
                    "owner": "张伟",
                    "source": "webinar",
                    "company": "星辰科技有限公司",
                    "contact_title": "采购总监",
                    "created_at": "2025-05-01T08:00:00Z",
                    "grade_since": "2025-05-20T09:30:00Z",
                    "as_of": "2025-06-01T00:00:00Z",
                    "scored_at": "2025-06-01T00:00:03Z",
                    "model_version": "funnelcast-lead-grading:3",
                    "duplicates": 0,
                }
            ]
        }
    )

    owner: str | None
    source: str | None
    company: str | None
    contact_title: str | None
    created_at: str
    grade_since: Annotated[str, Field(description="When the lead took its current grade")]
    as_of: Annotated[str, Field(description="The time the score is as of")]
    scored_at: Annotated[str, Field(description="When it was computed")]
    model_version: str | None
    duplicates: Annotated[int, Field(description="Open leads and accounts of the same customer (撞单)")]


class LeadPage(_Out):
    """A page of scored open leads, highest priority first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [], "next_cursor": None}]})

    items: list[BookLeadScore]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class BookDealScore(OpportunityScore):
    """A deal's latest score in the book, with its account and owner and since when its health holds."""

    __pydantic_config__ = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "O000017",
                    "p_won": 0.62,
                    "p_won_30d": 0.2,
                    "p_won_60d": 0.38,
                    "p_won_90d": 0.5,
                    "stage": "明确需求",
                    "stage_weight": 0.5,
                    "historical_stage_win_rate": 0.55,
                    "health_score": 58.0,
                    "health": "at_risk",
                    "risk_flags": [],
                    "reasons": {"positive": [], "negative": []},
                    "warnings": [],
                    "account": "星辰科技有限公司",
                    "owner": "王芳",
                    "pipeline": "default",
                    "amount": 180000.0,
                    "health_since": "2025-05-20T00:00:00Z",
                    "as_of": "2025-06-01T00:00:00Z",
                    "scored_at": "2025-06-01T00:00:03Z",
                    "model_version": "funnelcast-win-probability:2",
                }
            ]
        }
    )

    account: str | None
    owner: str | None
    pipeline: str | None
    amount: Annotated[
        float | None, Field(description="In the base currency; null when its currency has no rate")
    ]
    health_since: str
    as_of: str
    scored_at: str
    model_version: str | None


class DealPage(_Out):
    """A page of scored open deals, most at risk x amount first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [], "next_cursor": None}]})

    items: list[BookDealScore]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class Change(TypedDict):
    """One change of a grade (health band) or score, and what made it."""

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        json_schema_extra={
            "examples": [
                {
                    "at": "2025-05-20T09:30:00Z",
                    "from_grade": "Warm",
                    "to_grade": "Hot",
                    "from_score": 31.0,
                    "to_score": 44.5,
                    "trigger": "event",
                    "cause": "activity E00000001 (demo_request, 2025-05-20T09:30:00Z)",
                    "model_version": "funnelcast-lead-grading:3",
                    "reasons": {"positive": [], "negative": []},
                }
            ]
        }
    )

    at: Annotated[str, Field(description="The time of the new score (its as_of)")]
    from_grade: Annotated[str | None, Field(description="null for the first score")]
    to_grade: Annotated[
        str, Field(description="Hot/Warm/Cold (deals: health band); converted, won ... when it ended")
    ]
    from_score: float | None
    to_score: float | None
    trigger: Annotated[
        Literal["event", "clock", "model", "load", "handover"],
        Field(
            description="event: records the CRM sent; clock: time passing; model: a new model; "
            "load: the book's initial load; handover: a new owner"
        ),
    ]
    cause: Annotated[str | None, Field(description="Which events, or which model change")]
    model_version: str | None
    reasons: Reasons | None


class History(_Out):
    """Every recorded change of one lead's grade (one deal's health), oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "L0000042", "changes": []}]})

    id: str
    changes: list[Change]
