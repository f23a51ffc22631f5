"""Lead scoring in process: a batch request scored like its leads one by one."""

import json

import joblib
import pandas as pd
import pytest
from payloads import lead_payload

from funnelcast.model.bundle import TABLE_ROWS
from funnelcast.serving.models import NAMES
from funnelcast.serving.registry import ModelRegistry
from funnelcast.serving.schemas import LeadScoreResponse
from funnelcast.serving.scoring.body import parse_lead_request
from funnelcast.serving.scoring.leads import score_leads
from funnelcast.serving.settings import ServingSettings
from funnelcast.training.register import example_rows

AS_OF = "2025-09-01T12:00:00Z"


@pytest.fixture(scope="module")
def local_registry(lead_outcome, config, tmp_path_factory):
    """A registry serving the session's lead model from a local export (the real loading path)."""
    folder = tmp_path_factory.mktemp("models")
    (folder / NAMES["lead"]).mkdir()
    joblib.dump(lead_outcome.bundle, folder / NAMES["lead"] / "bundle.joblib")
    (folder / NAMES["lead"] / "model_card.json").write_text(json.dumps({"version": "7"}), encoding="utf-8")
    registry = ModelRegistry(ServingSettings(model_source="local", models_dir=str(folder)), config)
    assert registry.reload("lead")["result"] == "swapped"
    return registry


def test_a_batch_scores_each_lead_as_it_would_alone(local_registry, lead_outcome, d20_data):
    """600 leads in one request take the batch path of the contributions (per-tree tables); one lead at
    a time LightGBM's own pred_contrib. The features come from one definition either way. Scores,
    grades and reasons must agree."""
    ids = lead_outcome.test_frame["lead_id"].drop_duplicates().head(600).tolist()
    rows = example_rows(d20_data[0], "lead", ids, pd.Timestamp(AS_OF))
    body = lead_payload(rows, AS_OF, account_activities=True)
    assert sum(len(item.get("account_activities", [])) for item in body["leads"]) > 0  # visits are exercised
    as_of = pd.Timestamp(AS_OF)
    model, config = local_registry.get("lead"), local_registry.config
    batch = score_leads(parse_lead_request(json.dumps(body).encode()), model, config, as_of)
    alone = [
        score_leads(
            parse_lead_request(json.dumps({**body, "leads": [item]}).encode()), model, config, as_of
        ).results[0]
        for item in body["leads"]
    ]
    assert len(batch.results) == len(alone) >= TABLE_ROWS
    for b, a in zip(batch.results, alone, strict=True):
        assert b["lead_id"] == a["lead_id"] and b["grade"] == a["grade"] and b["warnings"] == a["warnings"]
        assert b["probability"] == pytest.approx(a["probability"], abs=2e-6)
        for side in ("positive", "negative"):
            assert [r["feature"] for r in b["reasons"][side]] == [r["feature"] for r in a["reasons"][side]]
            assert [r["value"] for r in b["reasons"][side]] == [r["value"] for r in a["reasons"][side]]
            assert [r["contribution"] for r in b["reasons"][side]] == pytest.approx(
                [r["contribution"] for r in a["reasons"][side]], abs=2e-4
            )
    # the response is what the contract says (it is built without re-validation)
    LeadScoreResponse.model_validate_json(batch.model_dump_json())


LEAD = {"lead_id": "L1", "created_at": "2025-05-01T08:00:00Z", "source": "webinar"}


def _score(body: dict, model, config, as_of="2025-06-01T00:00:00Z"):
    return score_leads(parse_lead_request(json.dumps(body).encode()), model, config, pd.Timestamp(as_of))


def test_a_lead_created_after_as_of_is_refused_by_field(lead_model, config):
    from funnelcast.core.errors import InvalidInput

    body = {"leads": [{"lead": LEAD}, {"lead": {**LEAD, "lead_id": "L2", "created_at": "2025-07-01"}}]}
    with pytest.raises(InvalidInput) as err:
        _score(body, lead_model, config)
    assert [d["field"] for d in err.value.details] == ["leads.1.lead.created_at"]


def test_a_budget_in_a_currency_without_a_rate_is_said_on_the_record(lead_model, config):
    body = {
        "leads": [
            {"lead": {**LEAD, "budget_amount": 200000, "budget_currency": "XYZ"}},
            {"lead": {**LEAD, "lead_id": "L2", "budget_amount": 200000, "budget_currency": "cny"}},
        ]
    }
    first, second = _score(body, lead_model, config).results
    assert any("budget currency 'XYZ' has no rate" in w for w in first["warnings"])
    assert not any("currency" in w for w in second["warnings"])  # a known currency, any case


def test_an_old_lead_is_flagged_stale_with_what_to_do(lead_model, config):
    learned = lead_model.bundle.metadata["stale_days"]
    limit = learned["values"].get("webinar", learned["default"])
    old = pd.Timestamp("2025-06-01T00:00:00Z") - pd.Timedelta(days=limit + 30)
    body = {"leads": [{"lead": LEAD}, {"lead": {**LEAD, "lead_id": "L2", "created_at": old.isoformat()}}]}
    young, stale = _score(body, lead_model, config).results
    assert not young["stale"] and young["stale_reason"] is None
    assert (
        stale["stale"] and "recycle" in stale["stale_reason"] and f"{limit:.0f} days" in stale["stale_reason"]
    )
