"""The table-based contributions are LightGBM's own: equal to `pred_contrib` up to the order of
floating-point additions, for numbers, zeros, missing values, categories (seen, unseen, missing)
and every missing-value mode LightGBM has."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelcast.model.contributions import TreeContributions


def _data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.column_stack(
        [
            rng.normal(size=n),  # plain numbers
            np.where(rng.random(n) < 0.3, np.nan, rng.exponential(size=n)),  # with missing values
            np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n)),  # many exact zeros
            rng.integers(0, 12, n).astype(float),  # a category code
            np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 5, n)),  # a category with missing
            rng.integers(0, 3, n).astype(float),  # a small count
        ]
    )
    logit = (
        x[:, 0]
        + np.nan_to_num(x[:, 1])
        - 0.8 * x[:, 2]
        + (x[:, 3] % 3 == 0)
        - 0.7 * np.isnan(x[:, 4])
        + 0.3 * x[:, 5]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def _booster(
    zero_as_missing: bool = False, use_missing: bool = True, num_leaves: int = 8, max_depth: int = 3
) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(4)
    x, y = _data(rng, 4000)
    params = {
        "objective": "binary",
        "num_leaves": num_leaves,
        "max_depth": max_depth,
        "learning_rate": 0.1,
        "min_data_in_leaf": 20,
        "min_data_per_group": 10,
        "cat_smooth": 1,
        "verbose": -1,
        "zero_as_missing": zero_as_missing,
        "use_missing": use_missing,
        "num_threads": 1,
        "seed": 1,
    }
    booster = lgb.train(params, lgb.Dataset(x, y, categorical_feature=[3, 4]), num_boost_round=60)
    return booster, _data(np.random.default_rng(9), 3000)[0]


def _probe(x: np.ndarray) -> np.ndarray:
    """Rows the training data never had: unseen and negative categories, NaN everywhere, zeros."""
    extra = x[:200].copy()
    extra[:50, 3] = 17.0  # unseen category
    extra[50:100, 3] = -1.0  # negative code
    extra[100:150, :] = np.nan
    extra[150:175, [0, 1, 2]] = 0.0
    extra[175:, 3] = [-0.5, 2.7, 1e12, -1e12, 0.999] * 5  # how LightGBM truncates a category code
    return np.vstack([x, extra])


@pytest.mark.parametrize(
    "options", [{}, {"zero_as_missing": True}, {"use_missing": False}, {"num_leaves": 15, "max_depth": 6}]
)
def test_equal_to_lightgbm_pred_contrib(options):
    booster, x = _booster(**options)
    x = _probe(x)
    fast = TreeContributions(booster)
    assert fast.supported
    expected = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(fast(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast(x[::-1]), expected[::-1], rtol=1e-12, atol=1e-12)  # tables reused
    raw = booster.predict(x, raw_score=True)
    np.testing.assert_allclose(fast(x).sum(axis=1), raw, rtol=1e-12, atol=1e-12)


def test_best_iteration_bounds_the_trees():
    booster, x = _booster()
    booster.best_iteration = 25
    np.testing.assert_allclose(
        TreeContributions(booster)(x), booster.predict(x, pred_contrib=True), rtol=1e-12, atol=1e-12
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(-3, 3),
                st.just(0.0),
                st.just(float("nan")),
                st.sampled_from([0.0, 1.0, 4.0, 11.0, 30.0, -2.0, -0.5, 2.7, 1e12]),
            ),
            min_size=6,
            max_size=6,
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_rows(rows):
    booster, fast = _SHARED
    x = np.array(rows, dtype=float)
    np.testing.assert_allclose(fast(x), booster.predict(x, pred_contrib=True), rtol=1e-12, atol=1e-12)


_booster_for_property = _booster()[0]
_SHARED = (_booster_for_property, TreeContributions(_booster_for_property))


def test_blocks_and_both_paths_give_the_same_values(monkeypatch):
    """Batches up to STACKED_ROWS take all trees at once, larger ones go tree by tree in blocks;
    one instance serves both, sharing its tables."""
    import funnelcast.model.contributions as module

    booster, x = _booster()
    assert len(x) > module.STACKED_ROWS
    expected = booster.predict(x, pred_contrib=True)
    fast = TreeContributions(booster)
    np.testing.assert_allclose(fast(x[:500]), expected[:500], rtol=1e-12, atol=1e-12)  # stacked, fills
    np.testing.assert_allclose(fast(x), expected, rtol=1e-12, atol=1e-12)  # tree by tree, more fills
    np.testing.assert_allclose(fast(x[-700:]), expected[-700:], rtol=1e-12, atol=1e-12)  # stacked, filled
    monkeypatch.setattr(module, "BLOCK_ROWS", 701)
    np.testing.assert_allclose(TreeContributions(booster)(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tables", [True, False])
@pytest.mark.parametrize(
    "options", [{}, {"num_leaves": 15, "max_depth": 6}]
)  # all trees at once; tree by tree
def test_concurrent_requests_on_one_model_get_lightgbm_values(options, tables, monkeypatch):
    """Concurrent requests share one loaded model: small ones call LightGBM, large ones read (and
    fill) the tables, from several threads at once (`tables=False`: every call goes to LightGBM).
    Unguarded, LightGBM's per-call state in the booster made concurrent contribution calls return
    wrong values or crash the process."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    import funnelcast.model.bundle as scoring

    if not tables:
        monkeypatch.setattr(scoring, "TABLE_ROWS", 10**9)
    booster, x = _booster(**options)
    x = _probe(x)
    parts = [x[i::6] for i in range(6)] + [x[i * 120 : (i + 1) * 120] for i in range(6)]  # large and small
    expected = [booster.predict(part, pred_contrib=True) for part in parts]
    model = scoring.TargetModel(
        "converted", "lightgbm", SimpleNamespace(booster_=booster), scoring.Calibrator("identity")
    )
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: model._tree_contributions(parts[i % 12], 2), range(120)))
    for i, got in enumerate(results):
        np.testing.assert_allclose(got, expected[i % 12], rtol=1e-12, atol=1e-12)
