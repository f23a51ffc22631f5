"""Grade thresholds from lift targets, including base rates too high to multiply."""

from __future__ import annotations

import numpy as np
import pytest

from funnelcast.training.fit import grade_thresholds, hot_target


def _calibrated(base: float, n: int = 20_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.normal(np.log(base / (1 - base)), 1.5, n)
    p = 1 / (1 + np.exp(-z))
    return p, (rng.random(n) < p).astype(int)


def test_hot_target_triples_low_base_rates_and_cuts_failures_for_high_ones():
    assert hot_target(0.19, 3.0) == pytest.approx(0.57)
    assert hot_target(0.38, 3.0) == pytest.approx(1 - 0.62 / 3)
    assert hot_target(0.25, 3.0) == pytest.approx(0.75)  # where the two rules meet


@pytest.mark.parametrize("base", [0.1, 0.2, 0.38, 0.6])
def test_hot_converts_at_its_target_and_is_never_empty(base):
    p, y = _calibrated(base)
    t = grade_thresholds(p, y, 3.0, 0.5)
    hot = p >= t["hot"]
    assert hot.sum() >= 30
    assert y[hot].mean() >= hot_target(y.mean(), 3.0)
    cold = p < t["warm"]
    assert y[cold].mean() <= 0.5 * y.mean() + 1e-12


def test_one_pass_gives_the_same_probabilities_and_contributions(lead_outcome):
    """Serving takes probability and reasons from one pass over the trees; it must equal the two calls."""
    bundle = lead_outcome.bundle
    target = bundle.targets[bundle.primary]
    x = bundle.matrix(lead_outcome.test_frame[bundle.columns].head(500))
    p, contrib = target.predict_and_contributions(x)
    np.testing.assert_allclose(p, target.predict(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(contrib, target.contributions(x), rtol=0, atol=1e-12)
