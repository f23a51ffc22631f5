"""Lead scoring request bodies, parsed fast.

A batch of 1,000 leads carries some 50,000 activities, and pydantic building and validating a dict
for each was a third of the request's time (benchmarks/serving.py). Here msgspec decodes the
activities into `Activity` structs, about four times faster, while pydantic still validates
everything else: the body minus its activities is put back together from msgspec's raw bytes and
validated as the usual `schemas.LeadScoreRequest`. Activity times are checked against the ISO pattern
and converted later, in bulk, by `funnelcast.core.times`.

`serving.schemas` stays the one definition of the contract (OpenAPI, error messages): `Activity`
here mirrors `schemas.Activity` field for field, and tests hold the two to accepting the same
activities with the same values (tests/serving/test_lead_body.py). Whenever msgspec or the lean
validation refuses a body, pydantic parses the body as sent, and its answer is the one that counts:
every problem at once (a 422), or the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec

from funnelcast.serving import schemas


class Activity(msgspec.Struct, forbid_unknown_fields=True, gc=False):  # gc: no references, no cycles
    """`schemas.Activity`, as msgspec decodes it (text taken as sent, as pydantic takes it)."""

    activity_id: Annotated[str, msgspec.Meta(min_length=1)]
    occurred_at: str  # ISO_INSTANT: checked by funnelcast.core.times with every other time of the request
    type: schemas.ActivityType
    value: Annotated[float, msgspec.Meta(ge=0)] | None = None  # JSON has no NaN; out-of-range numbers fail
    contact_id: str | None = None
    contact_role: schemas.ContactRole | None = None


@dataclass
class LeadRequestItem:
    lead: schemas.Lead
    account: schemas.Account | None
    activities: list[Activity]
    account_activities: list[Activity]


@dataclass
class LeadRequest:
    """A validated lead scoring request (`schemas.LeadScoreRequest`) with its activities as structs."""

    as_of: datetime | None
    leads: list[LeadRequestItem]


_NULL = msgspec.Raw(b"null")  # (msgspec takes `Raw | None` for None alone: absent is spelled as null)


class _Item(msgspec.Struct, forbid_unknown_fields=True):
    lead: msgspec.Raw
    activities: list[Activity] = []
    account: msgspec.Raw = _NULL
    account_activities: list[Activity] = []


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    leads: list[_Item]
    as_of: msgspec.Raw = _NULL


_DECODER = msgspec.json.Decoder(_Body)
_ACTIVITIES = list[Activity]


def parse_lead_request(body: bytes) -> LeadRequest:
    """The request in `body` (JSON), validated. An invalid body raises pydantic's ValidationError
    with every problem, as `schemas.LeadScoreRequest.model_validate_json` would."""
    try:
        fast = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):  # malformed (or nested past msgspec's depth), or an
        # activity msgspec refuses: pydantic decides
        return _parsed_by_pydantic(body)
    parts = [b'{"leads":[']
    for i, item in enumerate(fast.leads):
        parts += [b',{"lead":' if i else b'{"lead":', item.lead, b',"account":', item.account, b"}"]
    parts += [b'],"as_of":', fast.as_of, b"}"]
    try:
        lean = schemas.LeadScoreRequest.model_validate_json(b"".join(parts))
    except ValueError:  # pydantic's ValidationError: report on the body as sent
        return _parsed_by_pydantic(body)
    return LeadRequest(
        lean.as_of,
        [
            LeadRequestItem(item.lead, item.account, decoded.activities, decoded.account_activities)
            for item, decoded in zip(lean.leads, fast.leads, strict=True)
        ],
    )


def _parsed_by_pydantic(body: bytes) -> LeadRequest:
    request = schemas.LeadScoreRequest.model_validate_json(body)  # raises with every problem
    return LeadRequest(
        request.as_of,
        [
            LeadRequestItem(
                item.lead,
                item.account,
                msgspec.convert(item.activities, _ACTIVITIES),
                msgspec.convert(item.account_activities, _ACTIVITIES),
            )
            for item in request.leads
        ],
    )
