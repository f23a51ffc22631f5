"""The fast lead-request parser answers as pydantic does: the same requests, the same values, the same
errors (activity times: the same fields, reported by the request's time check where pydantic's
pattern would have caught them)."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from funnelcast.core.errors import InvalidInput
from funnelcast.features.schema import ACTIVITY_TYPES, CONTACT_ROLES
from funnelcast.serving import schemas
from funnelcast.serving.scoring.body import Activity, LeadRequest, parse_lead_request
from funnelcast.serving.scoring.inputs import activity_times

LEAD = {"lead_id": "L1", "created_at": "2025-05-01T08:00:00Z", "source": "webinar"}


def test_the_struct_has_the_schema_fields():
    fields = {f.name: f for f in msgspec.structs.fields(Activity)}
    contract = TypeAdapter(schemas.Activity).json_schema()  # pydantic's reading of the TypedDict
    assert list(fields) == list(contract["properties"])
    assert {name for name, f in fields.items() if f.required} == set(contract["required"])


ids = st.sampled_from(["E1", "E2", " E3 ", "星辰"])
good_times = st.sampled_from(
    [
        "2025-05-20T09:30:00Z",
        "2025-05-20",
        "2025-05-20 09:30",
        "2025-05-20T09:30:00+0800",
        "2025-05-20T09:30:00.123456789+08:00",
        "2025-02-30T00:00:00Z",
    ]
)
numbers = st.one_of(st.none(), st.floats(0, 1e300), st.integers(0, 10**30))
activity = st.fixed_dictionaries(
    {"activity_id": ids, "occurred_at": good_times, "type": st.sampled_from(sorted(ACTIVITY_TYPES))},
    optional={
        "value": numbers,
        "contact_id": st.one_of(st.none(), ids),
        "contact_role": st.sampled_from([None, *sorted(CONTACT_ROLES)]),
    },
)
lead = st.fixed_dictionaries(
    {
        "lead_id": st.sampled_from(["L1", " L2 "]),
        "created_at": st.sampled_from(["2025-05-01T08:00:00Z", "2025-05-01"]),
        "source": st.sampled_from(["web", " web "]),
    },
    optional={
        "employees": numbers,
        "custom": st.dictionaries(st.sampled_from(["a", " b"]), numbers, max_size=2),
    },
)
item = st.fixed_dictionaries(
    {"lead": lead},
    optional={
        "activities": st.lists(activity, max_size=4),
        "account_activities": st.lists(activity, max_size=2),
        "account": st.sampled_from([None, {"account_id": "A1", "name": " 星辰 "}]),
    },
)
# one problem, or none, put into a valid body: (where, field, value); "times" are the time texts
# pydantic's pattern refuses
BAD_VALUES = {
    "activity": {
        "activity_id": ["", 7],
        "type": [" call", "Call", "nope", 3],
        "value": [-1, -0.5, "95", True, [1]],
        "contact_role": ["boss"],
        "extra": [1],
        "occurred_at": [
            " 2025-05-20T09:30:00Z",
            "2025-05-20T09:30:00Z\n",
            "last tuesday",
            "٢٠٢٥-05-20",
            "2025-5-20",
            "2025-05-20T09:30:00+08",
            None,
        ],
    },
    "lead": {"lead_id": [""], "created_at": ["soon"], "employees": [-1, "many"], "extra": [1]},
    "item": {"account": [{"account_id": ""}], "extra": [1], "activities": [{}]},
    "body": {"as_of": ["today"], "leads": [[]], "extra": [1]},
}


@st.composite
def body(draw):
    payload = {"leads": draw(st.lists(item, min_size=1, max_size=3))}
    if draw(st.booleans()):
        payload["as_of"] = draw(st.sampled_from([None, "2025-06-01T00:00:00Z"]))
    if draw(st.booleans()):  # valid as it is
        return payload
    where = draw(
        st.sampled_from(["activity", "activity", "lead", "item", "body"])
    )  # activities: most of a body
    field = draw(
        st.sampled_from(sorted(BAD_VALUES[where]) + (["occurred_at"] * 3 if where == "activity" else []))
    )
    if where == "body":
        target = payload
    else:
        target = draw(st.sampled_from(payload["leads"]))
        if where == "lead":
            target = target["lead"]
        elif where == "activity":
            group = draw(st.sampled_from(["activities", "account_activities"]))
            target = target.setdefault(group, [])
            if not target:
                target.append(draw(activity))
            target = draw(st.sampled_from(target))
    if field == "occurred_at" and draw(st.booleans()):
        target[field] = draw(st.text(alphabet="0123456789-:TZ +.", max_size=26))
    else:
        target[field] = draw(st.sampled_from(BAD_VALUES[where][field]))
    return payload


def _as_pydantic_reads_it(request: LeadRequest) -> dict:
    """The parsed request in the shape pydantic's model_dump gives (activities as dicts; an absent
    optional field and null are one thing to both)."""

    def acts(structs):
        return [{k: v for k, v in msgspec.structs.asdict(a).items() if v is not None} for a in structs]

    return {
        "as_of": request.as_of,
        "leads": [
            {
                "lead": i.lead.model_dump(),
                "account": None if i.account is None else i.account.model_dump(),
                "activities": acts(i.activities),
                "account_activities": acts(i.account_activities),
            }
            for i in request.leads
        ],
    }


def _pydantic_dump(request: schemas.LeadScoreRequest) -> dict:
    def acts(dicts):
        return [{k: v for k, v in a.items() if v is not None} for a in dicts]

    dumped = request.model_dump()
    for i in dumped["leads"]:
        i["activities"], i["account_activities"] = acts(i["activities"]), acts(i["account_activities"])
    return dumped


def _time_field(loc) -> bool:
    return (
        len(loc) == 5
        and loc[0] == "leads"
        and loc[2] in ("activities", "account_activities")
        and loc[4] == "occurred_at"
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body())
def test_parses_as_pydantic_does(payload):
    raw = json.dumps(payload, ensure_ascii=False).encode()
    try:
        expected = schemas.LeadScoreRequest.model_validate_json(raw)
        errors = None
    except ValidationError as exc:
        expected, errors = None, exc.errors()
    try:
        parsed = parse_lead_request(raw)
    except ValidationError as exc:  # refused: with exactly pydantic's errors
        assert errors is not None and exc.errors() == errors
        event("refused")
        return
    # accepted: times are checked in bulk next, as the service does
    time_errors = set()
    for group in ("activities", "account_activities"):
        try:
            activity_times(
                [getattr(i, group) for i in parsed.leads], f"leads.{{i}}.{group}.{{j}}.occurred_at"
            )
        except InvalidInput as exc:
            time_errors |= {d["field"] for d in exc.details if "ISO 8601 date-time" in d["message"]}
    event("accepted" if errors is None else "only the times refused")
    if errors is None:
        assert not time_errors
        assert _as_pydantic_reads_it(parsed) == _pydantic_dump(expected)
    else:  # what pydantic refused is only the activity times' shape, and the time check names them all
        assert all(e["type"] == "string_pattern_mismatch" and _time_field(e["loc"]) for e in errors)
        assert time_errors == {".".join(map(str, e["loc"])) for e in errors}


def test_a_large_valid_request_takes_the_fast_path(monkeypatch):
    """(The property above mostly meets small, often invalid bodies.)"""
    from funnelcast.serving.scoring import body

    def refuse(model, raw):
        raise AssertionError("pydantic parsed the whole body")

    monkeypatch.setattr(body, "_full", refuse)
    acts = [
        {
            "activity_id": f"E{k}",
            "occurred_at": f"2025-05-{1 + k % 28:02d}T09:30:00Z",
            "type": "web_visit",
            "value": 12.5,
        }
        for k in range(40)
    ]
    payload = {
        "as_of": "2025-06-01T00:00:00Z",
        "leads": [
            {
                "lead": {**LEAD, "lead_id": f"L{n}", "source": " web "},
                "activities": acts,
                "account": {"account_id": "A1", "name": "星辰"},
            }
            for n in range(300)
        ],
    }
    parsed = parse_lead_request(json.dumps(payload).encode())
    assert len(parsed.leads) == 300 and parsed.leads[7].lead.source == "web"  # stripped, as pydantic does
    assert parsed.leads[7].activities[3] == Activity("E3", "2025-05-04T09:30:00Z", "web_visit", 12.5)
    assert parsed.leads[0].account.name == "星辰" and parsed.as_of == "2025-06-01T00:00:00Z"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"leads": []}',
        b'{"leads": [{}]}',
        b'{"leads": [{"lead":'
        b' {"lead_id": "x", "created_at": "2025-01-01", "source": "w"}, "activities": [{'
        b'"activity_id": "a", "occurred_at": "2025-01-01", "type": "call", "extra": 1}]}]}',
        b'{"leads": [{"lead": {"lead_id": "x", "created_at": "2025-01-01", "source": "w",'
        b' "employees": NaN}}]}',
        b'{"leads": [{"lead": 1e999}]}',
        b'{"leads": [{"lead": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
        b"\xff",
    ],
)
def test_malformed_bodies_get_pydantics_errors(raw):
    with pytest.raises(ValidationError) as expected:
        schemas.LeadScoreRequest.model_validate_json(raw)
    with pytest.raises(ValidationError) as got:
        parse_lead_request(raw)
    assert got.value.errors(include_input=False) == expected.value.errors(include_input=False)  # (NaN != NaN)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["leads", "lead", "activities", "as_of", "type", "x"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=40), json_values.map(lambda v: json.dumps(v).encode())))
def test_anything_is_a_request_or_pydantics_errors(raw):
    """Whatever a client sends, the parser answers with a request or a ValidationError (a 422), never
    anything else (which would be a 500)."""
    try:
        parsed = parse_lead_request(raw)
    except ValidationError as exc:
        assert exc.errors()
    else:
        assert isinstance(parsed, LeadRequest) and parsed.leads


# ------------------------------------------------------------------ deal requests
opportunity = st.fixed_dictionaries(
    {
        "opportunity_id": st.sampled_from(["O1", " O2 "]),
        "account_id": st.just("A1"),
        "owner": st.sampled_from(["王芳", " w "]),
        "pipeline": st.just("default"),
        "product": st.just("crm_suite"),
        "amount": st.sampled_from([0, 1.5, 180000]),
        "currency": st.just("CNY"),
        "created_at": st.sampled_from(["2025-03-01T00:00:00Z", "2025-03-01"]),
    },
    optional={"expected_close_date": good_times},
)
stage = st.fixed_dictionaries({"stage": st.sampled_from(["待沟通", " 明确需求 "]), "entered_at": good_times})
close = st.fixed_dictionaries({"changed_at": good_times, "expected_close_date": good_times})
amount = st.fixed_dictionaries({"changed_at": good_times, "amount": st.sampled_from([0, 2.5, 10**6])})
deal_item = st.fixed_dictionaries(
    {"opportunity": opportunity, "stage_history": st.lists(stage, min_size=1, max_size=3)},
    optional={
        "close_date_history": st.lists(close, max_size=2),
        "amount_history": st.lists(amount, max_size=2),
        "activities": st.lists(activity, max_size=3),
        "account_activities": st.lists(activity, max_size=2),
        "account": st.sampled_from([None, {"account_id": "A1", "name": " 星辰 "}]),
    },
)
DEAL_BAD = {
    "stage": {"stage": ["", "  ", 3], "entered_at": ["soon", " 2025-05-20 ", 0, None], "extra": [1]},
    "amount": {"amount": [-1, "95", True], "changed_at": [0, "2025-5-1"]},
    "opportunity": {"amount": [-1, False, "1"], "created_at": [0, "later"], "extra": [1]},
    "item": {"stage_history": [[]], "extra": [1]},
}


@st.composite
def deal_body(draw):
    payload = {"opportunities": draw(st.lists(deal_item, min_size=1, max_size=3))}
    if draw(st.booleans()):
        return payload
    where = draw(st.sampled_from(sorted(DEAL_BAD)))
    field = draw(st.sampled_from(sorted(DEAL_BAD[where])))
    target = draw(st.sampled_from(payload["opportunities"]))
    if where == "stage":
        target = draw(st.sampled_from(target["stage_history"]))
    elif where == "amount":
        target = target.setdefault("amount_history", [])
        if not target:
            target.append(draw(amount))
        target = target[0]
    elif where == "opportunity":
        target = target["opportunity"]
    target[field] = draw(st.sampled_from(DEAL_BAD[where][field]))
    return payload


def _deal_as_pydantic_reads_it(request) -> dict:
    def rows(structs):
        return [{k: v for k, v in msgspec.structs.asdict(a).items() if v is not None} for a in structs]

    return {
        "as_of": request.as_of,
        "opportunities": [
            {
                "opportunity": i.opportunity.model_dump(),
                "account": None if i.account is None else i.account.model_dump(),
                **{
                    name: rows(getattr(i, name))
                    for name in (
                        "stage_history",
                        "close_date_history",
                        "amount_history",
                        "activities",
                        "account_activities",
                    )
                },
            }
            for i in request.opportunities
        ],
    }


def _deal_pydantic_dump(request) -> dict:
    dumped = request.model_dump()
    for i in dumped["opportunities"]:
        for name in (
            "stage_history",
            "close_date_history",
            "amount_history",
            "activities",
            "account_activities",
        ):
            i[name] = [{k: v for k, v in row.items() if v is not None} for row in i[name]]
    return dumped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deal_body())
def test_deal_requests_parse_as_pydantic_does(payload):
    from funnelcast.serving.scoring.body import parse_deal_request
    from funnelcast.serving.scoring.inputs import deal_inputs

    raw = json.dumps(payload, ensure_ascii=False).encode()
    try:
        expected, errors = schemas.OpportunityScoreRequest.model_validate_json(raw), None
    except ValidationError as exc:
        expected, errors = None, exc.errors()
    try:
        parsed = parse_deal_request(raw)
    except ValidationError as exc:  # refused: with exactly pydantic's errors
        assert errors is not None and exc.errors() == errors
        event("refused")
        return
    time_errors: dict[str, str] = {}
    try:
        deal_inputs(parsed.opportunities, 1_750_000_000, [])
    except InvalidInput as exc:
        time_errors = {d["field"]: d["message"] for d in exc.details}
    if errors is None:
        event("accepted")  # the pattern passed; only impossible dates (30 February) are left to refuse
        assert all("not a real date-time" in message for message in time_errors.values())
        assert _deal_as_pydantic_reads_it(parsed) == _deal_pydantic_dump(expected)
    else:  # pydantic refused only time texts: the request's time check names every one of them
        event("only the times refused")
        assert all(e["type"] == "string_pattern_mismatch" for e in errors)
        assert {".".join(map(str, e["loc"])) for e in errors} <= set(time_errors)
