"""Scoring request bodies, parsed fast: one helper for lead and deal requests.

A batch of 1,000 leads carries some 50,000 activities (1,000 deals some 10,000 history rows and
activities), and pydantic building and validating a model per row was a large share of a request's
time (docs/benchmarks.md). Here msgspec decodes those rows into structs, while pydantic still
validates everything else: the body minus its rows is put back together from msgspec's raw bytes and
validated as the schema's own models. Times stay text: every time of a request is checked against
the ISO pattern and converted together, by `funnelcast.core.times`.

`serving.schemas` stays the one definition of the contract (OpenAPI, error messages): the structs
here mirror `schemas.Activity`, `StageEntry`, `CloseDateChange` and `AmountChange` field for field,
and tests hold the two parsers to accepting the same bodies with the same values
(tests/serving/scoring/test_body.py). Whenever msgspec or the lean validation refuses a body,
pydantic parses the body as sent, and its answer is the one that counts: every problem at once (a
422), or the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from pydantic import Field

from funnelcast.serving import schemas


class Activity(msgspec.Struct, forbid_unknown_fields=True, gc=False):  # gc: no references, no cycles
    """`schemas.Activity`, as msgspec decodes it (text taken as sent, as pydantic takes it)."""

    activity_id: Annotated[str, msgspec.Meta(min_length=1)]
    occurred_at: str  # ISO_INSTANT: checked by funnelcast.core.times with every other time of the request
    type: schemas.ActivityType
    value: Annotated[float, msgspec.Meta(ge=0)] | None = None  # JSON has no NaN; out-of-range numbers fail
    contact_id: str | None = None
    contact_role: schemas.ContactRole | None = None


# the history rows are `_In` models: pydantic strips their text, so these are stripped after decoding
class StageEntry(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    stage: str
    entered_at: str


class CloseDateChange(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    changed_at: str
    expected_close_date: str


class AmountChange(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    changed_at: str
    amount: Annotated[float, msgspec.Meta(ge=0)]


@dataclass
class LeadRequestItem:
    lead: schemas.Lead
    account: schemas.Account | None
    activities: list[Activity]
    account_activities: list[Activity]


@dataclass
class LeadRequest:
    """A validated lead scoring request (`schemas.LeadScoreRequest`) with its activities as structs."""

    as_of: str | None
    leads: list[LeadRequestItem]


@dataclass
class DealRequestItem:
    opportunity: schemas.Opportunity
    account: schemas.Account | None
    stage_history: list[StageEntry]
    close_date_history: list[CloseDateChange]
    amount_history: list[AmountChange]
    activities: list[Activity]
    account_activities: list[Activity]


@dataclass
class DealRequest:
    """A validated deal scoring request (`schemas.OpportunityScoreRequest`) with its rows as structs."""

    as_of: str | None
    opportunities: list[DealRequestItem]


_NULL = msgspec.Raw(b"null")  # (msgspec takes `Raw | None` for None alone: absent is spelled as null)


class _LeadItem(msgspec.Struct, forbid_unknown_fields=True):
    lead: msgspec.Raw
    activities: list[Activity] = []
    account: msgspec.Raw = _NULL
    account_activities: list[Activity] = []


class _LeadBody(msgspec.Struct, forbid_unknown_fields=True):
    leads: list[_LeadItem]
    as_of: msgspec.Raw = _NULL


class _DealItem(msgspec.Struct, forbid_unknown_fields=True):
    opportunity: msgspec.Raw
    stage_history: Annotated[list[StageEntry], msgspec.Meta(min_length=1)]
    activities: list[Activity] = []
    close_date_history: list[CloseDateChange] = []
    amount_history: list[AmountChange] = []
    account: msgspec.Raw = _NULL
    account_activities: list[Activity] = []


class _DealBody(msgspec.Struct, forbid_unknown_fields=True):
    opportunities: list[_DealItem]
    as_of: msgspec.Raw = _NULL


class _LeanDeal(schemas._In):
    opportunity: schemas.Opportunity
    account: schemas.Account | None = None


class _LeanDeals(schemas._In):  # what pydantic validates of a deal request on the fast path
    as_of: schemas.InstantText | None = None
    opportunities: list[_LeanDeal] = Field(min_length=1)


_LEADS, _DEALS = msgspec.json.Decoder(_LeadBody), msgspec.json.Decoder(_DealBody)


def _decoded(decoder: msgspec.json.Decoder, body: bytes):
    try:
        return decoder.decode(body)
    # malformed, invalid UTF-8 inside a string (UnicodeDecodeError), nested past msgspec's depth, or a
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None  # row msgspec refuses: pydantic decides, with its own message


def _lean(model, key: str, raw_name: str, items: list, as_of: msgspec.Raw):
    """pydantic's validation of the body without its rows, put back together from the raw bytes."""
    parts = [b'{"' + key.encode() + b'":[']
    for i, item in enumerate(items):
        parts += [
            b',{"' if i else b'{"',
            raw_name.encode(),
            b'":',
            getattr(item, raw_name),
            b',"account":',
            item.account,
            b"}",
        ]
    parts += [b'],"as_of":', as_of, b"}"]
    try:
        return model.model_validate_json(b"".join(parts))
    except ValueError:  # pydantic's ValidationError: report on the body as sent
        return None


def _full(model, body: bytes):
    """pydantic's parse of the whole body: the request, or its ValidationError with every problem."""
    return model.model_validate_json(body)


def parse_lead_request(body: bytes) -> LeadRequest:
    """The lead request in `body` (JSON), validated. An invalid body raises pydantic's ValidationError
    with every problem, as `schemas.LeadScoreRequest.model_validate_json` would."""
    fast = _decoded(_LEADS, body)
    lean = None if fast is None else _lean(schemas.LeadScoreRequest, "leads", "lead", fast.leads, fast.as_of)
    if lean is None:
        request = _full(schemas.LeadScoreRequest, body)
        return LeadRequest(
            request.as_of,
            [
                LeadRequestItem(
                    item.lead,
                    item.account,
                    msgspec.convert(item.activities, list[Activity]),
                    msgspec.convert(item.account_activities, list[Activity]),
                )
                for item in request.leads
            ],
        )
    return LeadRequest(
        lean.as_of,
        [
            LeadRequestItem(item.lead, item.account, decoded.activities, decoded.account_activities)
            for item, decoded in zip(lean.leads, fast.leads, strict=True)
        ],
    )


def _stripped(items: list[_DealItem]) -> bool:
    """Strip the history rows' text as pydantic does; False when a stage is then empty (pydantic's
    min_length refuses it, with its own message)."""
    for item in items:
        for row in item.stage_history:
            row.stage, row.entered_at = row.stage.strip(), row.entered_at.strip()
            if not row.stage:
                return False
        for row in item.close_date_history:
            row.changed_at, row.expected_close_date = row.changed_at.strip(), row.expected_close_date.strip()
        for row in item.amount_history:
            row.changed_at = row.changed_at.strip()
    return True


def parse_deal_request(body: bytes) -> DealRequest:
    """The deal request in `body` (JSON), validated. An invalid body raises pydantic's ValidationError
    with every problem, as `schemas.OpportunityScoreRequest.model_validate_json` would."""
    fast = _decoded(_DEALS, body)
    lean = None
    if fast is not None and _stripped(fast.opportunities):
        lean = _lean(_LeanDeals, "opportunities", "opportunity", fast.opportunities, fast.as_of)
    if lean is None:
        request = _full(schemas.OpportunityScoreRequest, body)
        return DealRequest(
            request.as_of,
            [
                DealRequestItem(
                    item.opportunity,
                    item.account,
                    msgspec.convert([r.model_dump() for r in item.stage_history], list[StageEntry]),
                    msgspec.convert([r.model_dump() for r in item.close_date_history], list[CloseDateChange]),
                    msgspec.convert([r.model_dump() for r in item.amount_history], list[AmountChange]),
                    msgspec.convert(item.activities, list[Activity]),
                    msgspec.convert(item.account_activities, list[Activity]),
                )
                for item in request.opportunities
            ],
        )
    return DealRequest(
        lean.as_of,
        [
            DealRequestItem(
                item.opportunity,
                item.account,
                decoded.stage_history,
                decoded.close_date_history,
                decoded.amount_history,
                decoded.activities,
                decoded.account_activities,
            )
            for item, decoded in zip(lean.opportunities, fast.opportunities, strict=True)
        ],
    )
