"""Requests as feature inputs: the API builds the same inputs as the frames edge, so one feature
definition gives the same numbers for a request and for bulk scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from payloads import lead_payload

from funnelcast.core.errors import InvalidInput
from funnelcast.features.frames import build_lead_features
from funnelcast.features.lead import lead_features
from funnelcast.features.sets import feature_set
from funnelcast.serving.scoring.body import parse_lead_request
from funnelcast.serving.scoring.inputs import lead_inputs
from funnelcast.training.register import example_rows

AS_OF = pd.Timestamp("2025-09-01T12:00:00Z")


def _request(body: dict):
    return parse_lead_request(json.dumps(body).encode())


def test_custom_attributes_a_model_declares_are_read_and_typed(config):
    decl = [
        {"entity": "leads", "name": "visits", "kind": "number", "leaky": "false", "meaning": None},
        {"entity": "leads", "name": "origin", "kind": "category", "leaky": "false", "meaning": None},
    ]
    lead = {"lead_id": "L1", "created_at": "2025-01-01T00:00:00Z", "source": "web"}
    body = {
        "leads": [
            {"lead": {**lead, "custom": {"visits": 3, "origin": "API"}}},
            {"lead": {**lead, "lead_id": "L2", "custom": {"visits": "many"}}},
        ]
    }
    values = lead_features(lead_inputs(_request(body), int(AS_OF.timestamp()), decl).inputs, config.leads)
    assert values["custom:visits"][0] == 3.0 and np.isnan(values["custom:visits"][1])
    assert values["custom:origin"].tolist() == ["API", None]


def test_request_features_equal_the_frames_features_of_the_same_records(d20_data, lead_outcome, config):
    """The two edges (request models, CRM frames) feed one definition: every feature of 200 test leads
    with their activities and accounts agrees exactly."""
    data = d20_data[0]
    ids = lead_outcome.test_frame["lead_id"].drop_duplicates().head(200).tolist()
    body = lead_payload(example_rows(data, "lead", ids, AS_OF), AS_OF.isoformat(), account_activities=True)
    from_request = lead_features(lead_inputs(_request(body), int(AS_OF.timestamp()), []).inputs, config.leads)
    snaps = pd.DataFrame({"lead_id": [item["lead"]["lead_id"] for item in body["leads"]], "as_of": AS_OF})
    from_frames = build_lead_features(data, snaps, config)
    fset = feature_set("lead_v1", config)
    for name in fset.columns:
        got, want = from_request[name], from_frames[name].to_numpy()
        if name in fset.categorical:
            assert [None if pd.isna(v) else v for v in want] == got.tolist(), name
        else:
            np.testing.assert_array_equal(np.asarray(got, float), want.astype(float), err_msg=name)


def test_every_bad_time_is_named(config):
    lead = {"lead_id": "L1", "created_at": "1969-12-31T00:00:00Z", "source": "web"}
    acts = [
        {"activity_id": "a", "occurred_at": "9999-01-01T00:00:00Z", "type": "call"},
        {"activity_id": "b", "occurred_at": "2025-02-30T00:00:00Z", "type": "call"},
    ]
    with pytest.raises(InvalidInput) as err:
        lead_inputs(_request({"leads": [{"lead": lead, "activities": acts}]}), int(AS_OF.timestamp()), [])
    messages = {d["field"]: d["message"] for d in err.value.details}  # all at once
    assert set(messages) == {
        "leads.0.lead.created_at",
        "leads.0.activities.0.occurred_at",
        "leads.0.activities.1.occurred_at",
    }
    assert "outside the supported range" in messages["leads.0.activities.0.occurred_at"]
    assert "not a real date-time" in messages["leads.0.activities.1.occurred_at"]
