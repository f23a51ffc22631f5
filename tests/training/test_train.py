"""Gates and reproducibility."""

import numpy as np
import pandas as pd
import pytest

from funnelcast.features.io import load_crm_data
from funnelcast.synthetic import generate, write_dataset
from funnelcast.training.train import TrainingRefused, _gate_leakage, train_model


@pytest.fixture(scope="module")
def small(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("gate") / "data"
    write_dataset(generate(6000, seed=5, config=config), out)
    data, _ = load_crm_data(out, config.funnel)
    return data


def _with_training(config, **changes):
    return config.model_copy(update={"training": config.training.model_copy(update=changes)})


def test_same_data_and_seed_give_the_same_metrics(small, config):
    cfg = _with_training(config, min_positive=50, min_negative=50)
    first = train_model("lead", small, cfg).metrics
    second = train_model("lead", small, cfg).metrics
    pd.testing.assert_frame_equal(first, second)


def test_cold_start_refuses_with_the_counts(small, config):
    cfg = _with_training(config, min_positive=100_000)
    with pytest.raises(TrainingRefused, match=r"\d+ positive and \d+ negative .* need at least 100000"):
        train_model("lead", small, cfg)


def test_leakage_gate_stops_a_planted_leak_unless_allowed(config):
    rnd = np.random.default_rng(1)
    y = (rnd.random(2000) < 0.3).astype(int)
    frame = pd.DataFrame({"honest": y + rnd.normal(0, 2, len(y)), "closed_value": y * 100.0})
    with pytest.raises(TrainingRefused, match="closed_value: single-feature ROC AUC 1.000"):
        _gate_leakage(frame, y, config)
    _gate_leakage(frame, y, _with_training(config, allow_leaky=["closed_value"]))
