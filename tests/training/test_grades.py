"""Grade thresholds: lift targets where the data meets them, and three non-empty grades on any data
that allows them (ties, high and low base rates, lumpy calibrated probabilities), or the reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelcast.training.grades import GRADES, grade_thresholds, hot_target


def _calibrated(base: float, n: int = 20_000, seed: int = 0, spread: float = 1.5):
    rng = np.random.default_rng(seed)
    z = rng.normal(np.log(base / (1 - base)), spread, n)
    p = 1 / (1 + np.exp(-z))
    return p, (rng.random(n) < p).astype(int)


def _grades(cut, p):
    return np.where(p >= cut.hot, "Hot", np.where(p >= cut.warm, "Warm", "Cold"))


def test_hot_target_triples_low_base_rates_and_cuts_failures_for_high_ones():
    assert hot_target(0.19, 3.0) == pytest.approx(0.57)
    assert hot_target(0.38, 3.0) == pytest.approx(1 - 0.62 / 3)
    assert hot_target(0.25, 3.0) == pytest.approx(0.75)  # where the two rules meet


@pytest.mark.parametrize("base", [0.036, 0.1, 0.2, 0.385, 0.6])
def test_three_grades_each_holding_a_share_and_hot_at_its_target(base):
    p, y = _calibrated(base)
    cut = grade_thresholds(p, y, 3.0, 0.5, min_share=0.05)
    g = _grades(cut, p)
    for grade in GRADES:
        assert (g == grade).mean() >= 0.05 - 1e-9, (grade, cut.to_dict())
    assert y[g == "Hot"].mean() > y[g == "Warm"].mean() > y[g == "Cold"].mean()
    if not any("no top group" in n for n in cut.notes):
        assert y[g == "Hot"].mean() >= hot_target(y.mean(), 3.0)
    assert cut.expected["Hot"] == pytest.approx(y[g == "Hot"].mean())


def test_ties_grade_alike_and_lumpy_probabilities_still_give_three_grades():
    """Isotonic calibration gives plateaus: a boundary never splits leads of equal probability."""
    rng = np.random.default_rng(1)
    p = rng.choice([0.02, 0.05, 0.3, 0.31, 0.9], size=5_000, p=[0.5, 0.3, 0.1, 0.05, 0.05])
    y = (rng.random(5_000) < p).astype(int)
    cut = grade_thresholds(p, y, 3.0, 0.5)
    g = _grades(cut, p)
    for level in np.unique(p):
        assert len(set(g[p == level])) == 1
    assert set(g) == set(GRADES)


def test_two_distinct_probabilities_cannot_make_three_grades_and_say_so():
    p = np.repeat([0.1, 0.6], 500)
    y = (np.arange(1000) % 10 < np.where(p > 0.5, 6, 1)).astype(int)
    cut = grade_thresholds(p, y, 3.0, 0.5)
    assert any("cannot be told apart" in note for note in cut.notes)


def test_overlapping_targets_leave_warm_between_them():
    """A high base rate (X Education's 38 %) once gave Hot and Cold meeting with no Warm in between."""
    p, y = _calibrated(0.385, spread=3.0)
    cut = grade_thresholds(p, y, 3.0, 0.5)
    assert cut.warm < cut.hot and cut.shares["Warm"] >= 0.05


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 40), st.floats(0.01, 0.6), st.integers(0, 2**16))
def test_any_data_with_three_levels_gets_three_non_empty_grades(levels, base, seed):
    rng = np.random.default_rng(seed)
    values = np.sort(rng.uniform(0.001, 0.999, levels))
    p = rng.choice(values, size=2_000)
    y = (rng.random(2_000) < np.clip(p * base / p.mean(), 0, 1)).astype(int)
    cut = grade_thresholds(p, y, 3.0, 0.5, weight=rng.uniform(0.2, 1, 2_000))
    assert set(_grades(cut, p)) == set(GRADES) or any("cannot" in n for n in cut.notes)
    assert len(np.unique(p)) < 3 or set(_grades(cut, p)) == set(GRADES)
