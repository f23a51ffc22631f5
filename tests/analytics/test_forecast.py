"""Forecast arithmetic, the Monte Carlo against exact results, and the horizon interpolation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from funnelcast.analytics.forecast import forecast, logit_shock_sd, pinball, probability_by, wape
from funnelcast.analytics.simulate import simulate_won

AS_OF = pd.Timestamp("2025-01-01", tz="UTC")
END = pd.Timestamp("2025-03-31", tz="UTC")


def test_simulation_matches_the_exact_distribution_of_a_small_pipeline():
    amounts, p = np.array([100.0, 250.0, 400.0]), np.array([0.2, 0.5, 0.7])
    exact = {}
    for wins in itertools.product((0, 1), repeat=3):
        value = float(np.dot(wins, amounts))
        exact[value] = exact.get(value, 0.0) + float(np.prod(np.where(wins, p, 1 - p)))
    draws = 40_000
    sims = simulate_won(amounts, p, draws=draws, seed=3)
    for value, prob in exact.items():
        observed = float(np.isclose(sims, value).mean())
        assert abs(observed - prob) < 5 * np.sqrt(prob * (1 - prob) / draws)  # five standard errors
    assert set(np.unique(sims)) <= set(exact)


def test_simulation_mean_and_spread_match_theory_on_many_deals():
    rng = np.random.default_rng(0)
    amounts, p = rng.lognormal(11, 1, 5_000), rng.beta(1, 3, 5_000)
    draws = 20_000
    sims = simulate_won(amounts, p, draws=draws, seed=1)
    sd = np.sqrt(np.sum(amounts**2 * p * (1 - p)))
    assert abs(sims.mean() - np.sum(amounts * p)) < 5 * sd / np.sqrt(draws)
    assert sims.std() == pytest.approx(sd, rel=5 * np.sqrt(2 / draws) + 1e-3)


def test_simulation_is_seeded_and_independent_of_threads_and_certain_deals_are_certain():
    amounts, p = np.array([10.0, 20.0, 30.0, 40.0]), np.array([0.0, 1.0, 0.3, 0.6])
    one = simulate_won(amounts, p, draws=3_000, seed=9, threads=1)
    two = simulate_won(amounts, p, draws=3_000, seed=9, threads=2)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, simulate_won(amounts, p, draws=3_000, seed=10))
    assert one.min() >= 20.0 and one.max() <= 90.0  # the sure deal always, the hopeless one never
    grouped = simulate_won(amounts, p, draws=3_000, seed=9, groups=np.array([0, 1, 0, 1]))
    np.testing.assert_allclose(grouped.sum(axis=1), one)


def test_simulation_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        simulate_won(np.array([1.0, np.nan]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="same length"):
        simulate_won(np.array([1.0]), np.array([0.5, 0.5]))


def test_a_shared_shock_widens_the_distribution_but_keeps_it_centred_near_the_mean():
    rng = np.random.default_rng(1)
    amounts, p = rng.lognormal(10, 0.5, 2_000), rng.uniform(0.1, 0.6, 2_000)
    plain = simulate_won(amounts, p, draws=10_000, seed=2)
    shocked = simulate_won(amounts, p, draws=10_000, seed=2, logit_sd=0.4)
    assert len(shocked) == 10_000
    assert shocked.std() > 2 * plain.std()
    assert abs(np.median(shocked) - np.median(plain)) < 0.1 * plain.mean()


def test_logit_shock_estimate_is_zero_without_shock_and_recovers_a_planted_one():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(300), 400)
    p = rng.uniform(0.05, 0.6, len(groups))
    calm = rng.random(len(p)) < p
    assert logit_shock_sd(p, calm, groups) < 0.1
    shock = rng.normal(0, 0.5, 300)[groups]
    z = np.log(p / (1 - p)) + shock
    shaken = rng.random(len(p)) < 1 / (1 + np.exp(-z))
    assert logit_shock_sd(p, shaken, groups) == pytest.approx(0.5, rel=0.3)


def test_probability_by_passes_through_the_model_horizons():
    p30, p60, p90, p = (np.array([v]) for v in (0.1, 0.2, 0.3, 0.5))
    for days, expected in (
        (0, 0.0),
        (15, 0.05),
        (30, 0.1),
        (60, 0.2),
        (90, 0.3),
        (135, 0.4),
        (180, 0.5),
        (400, 0.5),
    ):
        assert probability_by(np.array([days]), p30, p60, p90, p)[0] == pytest.approx(expected)


@given(st.lists(st.floats(0, 1), min_size=4, max_size=4), st.floats(0, 500), st.floats(0, 500))
def test_probability_by_is_monotone_in_days_and_stays_a_probability(ps, d1, d2):
    p30, p60, p90, p = (np.array([v]) for v in sorted(ps))
    lo, hi = sorted((d1, d2))
    a, b = (
        probability_by(np.array([lo]), p30, p60, p90, p)[0],
        probability_by(np.array([hi]), p30, p60, p90, p)[0],
    )
    assert 0 <= a <= b + 1e-12 <= 1 + 1e-12


def _deals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "opportunity_id": ["a", "b", "c", "d"],
            "owner": ["王芳", "王芳", "Li", "Li"],
            "amount": [100.0, 200.0, 300.0, np.nan],
            "expected_close": pd.to_datetime(["2025-02-01", "2025-06-01", None, "2025-02-01"], utc=True),
            "stage_weight": [0.25, 0.5, 0.75, 0.5],
            "historical_rate": [0.4, 0.5, 0.6, 0.5],
            "p_period": [0.1, 0.2, 0.9, 0.5],
        }
    )


def test_forecast_methods_are_the_weighted_sums_and_missing_amounts_are_reported():
    result = forecast(_deals(), AS_OF, END, target=250.0, group="owner")
    assert result.expected["stage_weighted"] == pytest.approx(100 * 0.25 + 200 * 0.5 + 300 * 0.75)
    # b closes after the period end; c has no expected close date and counts
    assert result.expected["stage_weighted_in_period"] == pytest.approx(100 * 0.25 + 300 * 0.75)
    assert result.expected["historical"] == pytest.approx(40 + 100 + 180)
    assert result.expected["model"] == pytest.approx(10 + 40 + 270)
    assert len(result.deals) == 3 and "1 deal(s) without an amount" in result.warnings[0]
    assert result.distribution_method == "model" and len(result.draws) == 10_000
    assert result.quantiles["p10"] <= result.quantiles["p50"] <= result.quantiles["p90"]
    # P(total >= 250) exactly: c (300) wins with 0.9, or a and b both (300) without c: 0.1 * 0.02
    assert result.p_target == pytest.approx(0.9 + 0.1 * 0.1 * 0.2, abs=5 * np.sqrt(0.09 / 10_000))
    groups = result.by_group.set_index("owner")
    assert groups.loc["王芳", "model"] == pytest.approx(50.0) and groups.loc["Li", "open_deals"] == 1


def test_forecast_without_model_probabilities_uses_historical_rates():
    result = forecast(_deals().drop(columns="p_period"), AS_OF, END)
    assert "model" not in result.expected and result.distribution_method == "historical"


def test_forecast_period_must_end_after_as_of():
    with pytest.raises(ValueError, match="must be after"):
        forecast(_deals(), END, AS_OF)


def test_wape_and_pinball():
    assert wape(np.array([90.0, 120.0]), np.array([100.0, 100.0])) == pytest.approx(30 / 200)
    assert pinball(0.9, np.array([80.0]), np.array([100.0])) == pytest.approx(18.0)
    assert pinball(0.9, np.array([120.0]), np.array([100.0])) == pytest.approx(2.0)


def test_an_empty_pipeline_forecasts_zero_instead_of_failing(data_dir, config):
    from funnelcast.analytics.pipeline_inputs import deal_inputs
    from funnelcast.features.io import load_crm_data
    from funnelcast.features.known import known_at

    data, _ = load_crm_data(data_dir, config.funnel)
    before_any_deal = data.opportunities["created_at"].min() - pd.Timedelta(days=1)
    deals = deal_inputs(
        known_at(data, before_any_deal), before_any_deal, before_any_deal + pd.Timedelta(days=30), config
    )
    result = forecast(deals, before_any_deal, before_any_deal + pd.Timedelta(days=30), target=1.0)
    assert (
        len(deals) == 0
        and result.quantiles == {"p10": 0.0, "p50": 0.0, "p90": 0.0}
        and result.p_target == 0.0
    )
    assert all(v == 0.0 for v in result.expected.values())
