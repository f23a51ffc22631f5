"""Reasons: the strongest contributions each way, never a zero one."""

import numpy as np
import pytest

from funnelcast.model.reasons import MIN_CONTRIBUTION, reasons, top_contributions


@pytest.mark.parametrize("columns", [2, 3, 40])
def test_top_contributions_are_the_strongest_each_way(columns):
    contrib = np.random.default_rng(columns).normal(size=(50, columns))
    (up, up_values), (down, down_values) = top_contributions(contrib, 3)
    for i, row in enumerate(contrib):
        k = min(3, columns)
        assert (
            up[i].tolist() == np.argsort(-row)[:k].tolist()
            and down[i].tolist() == np.argsort(row)[:k].tolist()
        )
        assert (
            up_values[i].tolist() == row[up[i]].tolist() and down_values[i].tolist() == row[down[i]].tolist()
        )


def test_a_push_too_small_to_show_is_no_reason():
    contrib = np.array([[0.5, 0.001, -0.002, -0.3, 0.0]])
    said = reasons(
        contrib, dict.fromkeys("abcde", np.ones(1)), list("abcde"), lambda name, value: f"{name}={value}"
    )
    assert [r["feature"] for r in said[0]["positive"]] == ["a"]
    assert [r["feature"] for r in said[0]["negative"]] == ["d"]
    assert all(abs(r["contribution"]) >= MIN_CONTRIBUTION for side in said[0].values() for r in side)


def test_one_pass_gives_the_same_probabilities_and_contributions(lead_outcome):
    """Serving takes probability and reasons from one pass over the trees; it must equal the two calls."""
    bundle = lead_outcome.bundle
    target = bundle.targets[bundle.primary]
    x = bundle.matrix(lead_outcome.test_frame[bundle.columns].head(500))
    p, contrib = target.predict_and_contributions(x)
    np.testing.assert_allclose(p, target.predict(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(contrib, target.contributions(x), rtol=0, atol=1e-12)
