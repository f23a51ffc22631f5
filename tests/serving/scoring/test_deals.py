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
