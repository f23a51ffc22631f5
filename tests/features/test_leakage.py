import numpy as np
import pandas as pd

from funnelcast.features.leakage import leakage_alarm, single_feature_auc


def test_a_planted_leaky_column_is_flagged_and_honest_ones_are_not():
    rnd = np.random.default_rng(0)
    y = rnd.random(4000) < 0.3
    frame = pd.DataFrame(
        {
            "honest": y * 0.8 + rnd.normal(0, 1, len(y)),  # real but imperfect signal
            "filled_after_outcome": np.where(y, rnd.uniform(5, 9, len(y)), rnd.uniform(0, 5.2, len(y))),
            "lead_number": np.arange(len(y)).astype(str),  # high-cardinality, no signal
            "sales_tag": np.where(
                y, "closed-won", np.where(rnd.random(len(y)) < 0.5, "ringing", "no answer")
            ),
        }
    )
    flagged = [s.feature for s in leakage_alarm(frame, y)]
    assert set(flagged) == {"filled_after_outcome", "sales_tag"}
    assert "honest" not in flagged and "lead_number" not in flagged


def test_direction_does_not_matter_and_missing_labels_are_ignored():
    y = np.array([0, 0, 1, 1, np.nan, 1])
    x = pd.Series([5.0, 4.0, 1.0, 0.0, 99.0, np.nan])
    assert single_feature_auc(x[~np.isnan(y)].reset_index(drop=True), y[~np.isnan(y)].astype(int)) >= 0.95
    assert [s.feature for s in leakage_alarm(pd.DataFrame({"x": x}), y, threshold=0.9)] == ["x"]


def test_constant_feature_is_not_suspect():
    assert leakage_alarm(pd.DataFrame({"c": [1.0] * 10}), np.array([0, 1] * 5)) == []
