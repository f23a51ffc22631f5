"""What every route shares: the base models (unknown fields and NaN refused), accounts, activities and
their times, reasons, the model reference and the one error shape."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from funnelcast.core.times import ISO_INSTANT
from funnelcast.core.vocabulary import ACTIVITY_TYPES, CONTACT_ROLES, LOSS_REASONS

ActivityType = Literal[tuple(ACTIVITY_TYPES)]  # type: ignore[valid-type]
ContactRole = Literal[tuple(CONTACT_ROLES)]  # type: ignore[valid-type]
LossReason = Literal[tuple(LOSS_REASONS)]  # type: ignore[valid-type]
Money = float


class _In(BaseModel):
    # strict: a number is a JSON number (not `false`, not "95"), a time is text of the documented shapes
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True, strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class Account(_In):
    """The company a lead or deal belongs to (optional; fills company fields the lead leaves empty)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "A000123",
                    "name": "星辰科技有限公司",
                    "industry": "manufacturing",
                    "employees": 250,
                    "region": "华东",
                }
            ]
        }
    )

    account_id: str = Field(min_length=1, examples=["A000123"])
    name: str = Field(min_length=1, examples=["星辰科技有限公司"])
    industry: str | None = Field(None, examples=["manufacturing"])
    employees: float | None = Field(None, ge=0, examples=[250])
    annual_revenue: float | None = Field(None, ge=0, examples=[48_000_000])
    region: str | None = Field(None, examples=["华东"])
    custom: dict[str, str | float | None] = Field(
        default_factory=dict,
        description="Custom attributes by name (as declared when the model was trained); "
        "unknown names are ignored, missing ones are missing",
        examples=[{"segment": "smb"}],
    )


# Every time in a request is ISO 8601 text of the documented shapes (funnelcast.core.times.ISO_INSTANT),
# converted to seconds in bulk with the request's other times, and refused outside 1970..2099: a number
# or a boolean is not a time. Activities arrive by the tens of thousands in a batch; a datetime object
# per value would cost more than the rest of scoring.
InstantText = Annotated[
    str,
    StringConstraints(pattern=ISO_INSTANT),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601; without an offset it is taken as UTC",
        }
    ),
]


# Activity text is taken as sent (no whitespace stripping), so that the fast decoder of lead
# requests (serving.lead_body) and pydantic accept exactly the same activities.
@with_config(
    ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "activity_id": "E1",
                    "occurred_at": "2025-05-20T09:30:00Z",
                    "type": "demo_request",
                    "value": 1,
                    "contact_id": "c1",
                    "contact_role": "decision_maker",
                }
            ]
        },
    )
)
class Activity(TypedDict):
    """One behaviour or sales event. Events after `as_of` are ignored."""

    activity_id: Annotated[str, Field(min_length=1, examples=["E1"])]
    occurred_at: Annotated[InstantText, Field(examples=["2025-05-20T09:30:00Z"])]
    type: Annotated[ActivityType, Field(examples=["demo_request"])]
    value: NotRequired[
        Annotated[float | None, Field(ge=0, description="seconds on page, call minutes ...", examples=[95])]
    ]
    contact_id: NotRequired[str | None]
    contact_role: NotRequired[ContactRole | None]


# Reasons and lead scores are built by the thousand per batch: plain typed dicts (validated when a
# model is built from them, serialised by pydantic-core) instead of a model instance each.
@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "feature": "n_demo_request_30d",
                    "value": 1.0,
                    "contribution": 0.41,
                    "text": "number of demo_request events (last 30 days): 1",
                }
            ]
        }
    )
)
class Reason(TypedDict):
    """One feature's push on the score: its value and its contribution to the log-odds."""

    feature: Annotated[str, Field(examples=["n_demo_request_30d"])]
    value: Annotated[float | str | None, Field(examples=[2])]
    contribution: Annotated[float, Field(examples=[0.41])]
    text: Annotated[str, Field(examples=["number of demo_request events (last 30 days) is 2"])]


@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
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
                }
            ]
        }
    )
)
class Reasons(TypedDict):
    """Up to three features that pushed the score up and three that pushed it down."""

    positive: list[Reason]
    negative: list[Reason]


class ModelRef(_Out):
    """The model that produced the scores."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "funnelcast-lead-grading", "version": "3", "feature_set": "lead_v1"}]
        }
    )

    name: str = Field(examples=["funnelcast-lead-grading"])
    version: str | None = Field(examples=["3"])
    feature_set: str | None = Field(examples=["lead_v1"])


_DETAIL = {"field": "leads.0.lead.created_at", "message": "Input should be a valid datetime"}
_BODY = {"code": "invalid_input", "message": "1 invalid field(s)", "details": [_DETAIL]}


class ErrorDetail(_Out):
    """One problem: where (a dotted field path into the request) and what."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DETAIL]})

    field: str = Field(examples=["leads.0.lead.created_at"])
    message: str = Field(examples=["Input should be a valid datetime"])


class ErrorBody(_Out):
    """What went wrong: a stable code, a message for people, and every problem found."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BODY]})

    code: str = Field(
        examples=["invalid_input"],
        description="unauthorized, forbidden, not_found, too_large, "
        "invalid_input, not_ready or internal_error",
    )
    message: str = Field(examples=["1 field(s) are invalid"])
    details: list[ErrorDetail] = Field(
        examples=[[{"field": "leads.0.lead.created_at", "message": "Input should be a valid datetime"}]]
    )


class ErrorResponse(_Out):
    """The one shape of every error (4xx and 5xx); never a traceback."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": _BODY}]})

    error: ErrorBody = Field(
        examples=[
            {
                "code": "invalid_input",
                "message": "1 field(s) are invalid",
                "details": [
                    {"field": "leads.0.lead.created_at", "message": "Input should be a valid datetime"}
                ],
            }
        ]
    )


def error_responses(*statuses: int) -> dict:
    """OpenAPI `responses` for routes: each listed status documented with the error shape."""
    meaning = {
        401: "No API key, or an unknown one",
        403: "A scoring key on an admin route",
        404: "The book holds no such record (or no score for it: the details say why)",
        413: "Too many records (MAX_RECORDS / MAX_ANALYTICS_RECORDS / MAX_BOOK_RECORDS) or a body over "
        "MAX_BODY_BYTES",
        422: "A field breaks the schema or a rule; every problem is listed with its field path",
        429: "The key's rate limit; Retry-After says when to try again",
        503: "Models are not loaded and checked yet, or the book is not open",
    }
    return {s: {"model": ErrorResponse, "description": meaning[s]} for s in statuses}
