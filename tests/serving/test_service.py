"""Pure parts of the service: health mapping and bulk scoring on the same model as the API."""

import pytest

from serving.service import health


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
