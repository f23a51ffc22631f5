"""Deal scoring pieces: health against the stage's usual win rate, and its bands."""

import numpy as np
import pytest

from funnelcast.core.config import HealthConfig
from funnelcast.serving.scoring.deals import health

RULES = HealthConfig()


def _health(p, stage_rate, overall):
    score, band = health(
        np.array([p], float), np.array([np.nan if stage_rate is None else stage_rate]), overall, RULES
    )
    return float(score[0]), str(band[0])


@pytest.mark.parametrize("base", [0.1, 0.3, 0.6, 0.9])
def test_health_is_50_at_the_stage_rate_and_monotone(base):
    assert _health(base, base, 0.4)[0] == pytest.approx(50, abs=0.1)
    scores = [_health(p / 20, base, 0.4)[0] for p in range(21)]
    assert scores == sorted(scores) and scores[0] == 0 and scores[-1] == 100


def test_health_bands():
    assert _health(0.95, 0.5, 0.4)[1] == "healthy"
    assert _health(0.45, 0.5, 0.4)[1] == "at_risk"
    assert _health(0.05, 0.5, 0.4)[1] == "critical"
    assert _health(0.5, None, 0.5)[0] == pytest.approx(50, abs=0.1)  # unknown stage rate: overall rate


def test_bands_follow_the_configured_thresholds():
    strict = HealthConfig(healthy_min=90, at_risk_min=80)
    score, band = health(np.array([0.45]), np.array([0.5]), 0.4, strict)
    assert 35 < score[0] < 80 and band[0] == "critical"


def _deal(**changes):
    opportunity = {
        "opportunity_id": "O1",
        "account_id": "A1",
        "owner": "w",
        "pipeline": "default",
        "product": "crm_suite",
        "amount": 100000,
        "currency": "CNY",
        "created_at": "2025-03-01T00:00:00Z",
    }
    opportunity.update(changes)
    return {
        "opportunity": opportunity,
        "stage_history": [{"stage": "待沟通", "entered_at": opportunity["created_at"]}],
    }


def _score(deals: list[dict], model, config):
    import json

    import pandas as pd

    from funnelcast.serving.scoring.body import parse_deal_request
    from funnelcast.serving.scoring.deals import score_opportunities

    request = parse_deal_request(json.dumps({"opportunities": deals}).encode())
    return score_opportunities(request, model, config, pd.Timestamp("2025-06-01T00:00:00Z"))


def test_a_deal_created_after_as_of_is_refused_by_field(deal_model, config):
    from funnelcast.core.errors import InvalidInput

    late = _deal(opportunity_id="O2", created_at="2025-08-01T00:00:00Z")
    with pytest.raises(InvalidInput) as err:
        _score([_deal(), late], deal_model, config)
    assert {d["field"] for d in err.value.details} == {"opportunities.1.opportunity.created_at"}


def test_an_amount_in_a_currency_without_a_rate_is_said_on_the_record(deal_model, config):
    first, second = _score([_deal(currency="XYZ"), _deal(opportunity_id="O2")], deal_model, config).results
    assert any("currency 'XYZ' has no rate" in w for w in first["warnings"])
    assert not any("currency" in w for w in second["warnings"])
