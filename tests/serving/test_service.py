"""The service in process: health mapping, and a batch request scored like its leads one by one."""

import json

import joblib
import pandas as pd
import pytest
from payloads import lead_payload

from funnelcast.scoring import TABLE_ROWS
from serving.lead_body import parse_lead_request
from serving.registry import NAMES, ModelRegistry
from serving.schemas import LeadScoreResponse
from serving.service import health, score_leads
from serving.settings import ServingSettings
from training.train import example_rows


@pytest.mark.parametrize("base", [0.1, 0.3, 0.6, 0.9])
def test_health_is_50_at_the_stage_rate_and_monotone(base):
    assert health(base, base, 0.4)[0] == pytest.approx(50, abs=0.1)
    scores = [health(p / 20, base, 0.4)[0] for p in range(21)]
    assert scores == sorted(scores) and scores[0] == 0 and scores[-1] == 100


def test_health_bands():
    assert health(0.95, 0.5, 0.4)[1] == "healthy"
    assert health(0.45, 0.5, 0.4)[1] == "at_risk"
    assert health(0.05, 0.5, 0.4)[1] == "critical"
    assert health(0.5, None, 0.5)[0] == pytest.approx(50, abs=0.1)  # unknown stage rate: overall rate


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
    """600 leads in one request take the batch paths (behaviour features from arrays over all their
    activities, contributions from the per-tree tables); one lead at a time takes the single-lead
    path and LightGBM's own pred_contrib. Scores, grades and reasons must agree."""
    ids = lead_outcome.test_frame["lead_id"].drop_duplicates().head(600).tolist()
    rows = example_rows(d20_data[0], "lead", ids, pd.Timestamp(AS_OF))
    body = lead_payload(rows, AS_OF, account_activities=True)
    assert sum(len(item.get("account_activities", [])) for item in body["leads"]) > 0  # visits are exercised
    as_of = pd.Timestamp(AS_OF)
    batch = score_leads(parse_lead_request(json.dumps(body).encode()), local_registry, as_of)
    alone = [score_leads(parse_lead_request(json.dumps({**body, "leads": [item]}).encode()), local_registry,
                         as_of).results[0] for item in body["leads"]]
    assert len(batch.results) == len(alone) >= TABLE_ROWS
    for b, a in zip(batch.results, alone, strict=True):
        assert b["lead_id"] == a["lead_id"] and b["grade"] == a["grade"] and b["warnings"] == a["warnings"]
        assert b["probability"] == pytest.approx(a["probability"], abs=2e-6)
        for side in ("positive", "negative"):
            assert [r["feature"] for r in b["reasons"][side]] == [r["feature"] for r in a["reasons"][side]]
            assert [r["value"] for r in b["reasons"][side]] == [r["value"] for r in a["reasons"][side]]
            assert [r["contribution"] for r in b["reasons"][side]] == pytest.approx(
                [r["contribution"] for r in a["reasons"][side]], abs=2e-4)
    # the response is what the contract says (it is built without re-validation)
    LeadScoreResponse.model_validate_json(batch.model_dump_json())


@pytest.mark.parametrize("columns", [2, 3, 40])
def test_top_contributions_are_the_strongest_each_way(columns):
    import numpy as np

    from serving.service import top_contributions

    contrib = np.random.default_rng(columns).normal(size=(50, columns))
    (up, up_values), (down, down_values) = top_contributions(contrib, 3)
    for i, row in enumerate(contrib):
        k = min(3, columns)
        assert up[i].tolist() == np.argsort(-row)[:k].tolist() and down[i].tolist() == np.argsort(row)[:k].tolist()
        assert up_values[i].tolist() == row[up[i]].tolist() and down_values[i].tolist() == row[down[i]].tolist()
