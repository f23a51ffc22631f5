"""Training end to end on generated data: reproducibility, gates, the leakage report, drift warnings,
grades and the evaluation where the model is used (leads of every age)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from funnelcast.features.io import load_crm_data
from funnelcast.synthetic import generate, write_dataset
from funnelcast.training.train import TrainingRefused, train_model


@pytest.fixture(scope="module")
def small(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("gate") / "data"
    write_dataset(generate(6000, seed=5, config=config), out)
    data, _ = load_crm_data(out, config.funnel)
    return data


def _with_training(config, **changes):
    return config.model_copy(update={"training": config.training.model_copy(update=changes)})


def _with_custom_lead_column(data, name: str, values: np.ndarray, leaky: str = "false"):
    """The data with a declared numeric custom attribute on every lead."""
    leads = data.leads.assign(**{f"custom.{name}": values})
    decl = pd.DataFrame(
        [{"entity": "leads", "name": name, "kind": "number", "leaky": leaky, "meaning": name}]
    )
    return dataclasses.replace(data, leads=leads, custom_attributes=decl)


def test_same_data_and_seed_give_the_same_metrics(small, config):
    cfg = _with_training(config, min_positive=50, min_negative=50)
    first = train_model("lead", small, cfg).metrics
    second = train_model("lead", small, cfg).metrics
    pd.testing.assert_frame_equal(first, second)


def test_cold_start_refuses_with_the_counts(small, config):
    cfg = _with_training(config, min_positive=100_000)
    with pytest.raises(TrainingRefused, match=r"\d+ positive and \d+ negative .* need at least 100000"):
        train_model("lead", small, cfg)


def test_a_planted_post_outcome_column_is_named_in_a_warning(small, config):
    """The length of the call that converted: filled in after the outcome, strong but not perfect
    (single-feature ROC AUC about 0.8), so the 0.95 block does not stop it: the report must."""
    rng = np.random.default_rng(3)
    converted = small.leads["converted_at"].notna().to_numpy()
    minutes = np.where(converted, rng.normal(12, 6, len(converted)), rng.normal(4, 6, len(converted)))
    data = _with_custom_lead_column(small, "converting_call_minutes", minutes)
    outcome = train_model("lead", data, _with_training(config, min_positive=50, min_negative=50))
    leak = outcome.leakage.set_index("feature").loc["custom:converting_call_minutes"]
    assert 0.75 <= leak["single_auc"] < 0.95
    named = [w for w in outcome.warnings if "custom:converting_call_minutes" in w]
    assert named and "leaky: true" in named[0]
    assert outcome.leakage.iloc[0]["feature"] == "custom:converting_call_minutes"


def test_clean_data_raises_no_leakage_warning(small, config):
    outcome = train_model("lead", small, _with_training(config, min_positive=50, min_negative=50))
    assert not [w for w in outcome.warnings if w.startswith("leakage")]
    assert {"feature", "single_auc", "gain_share"} <= set(outcome.leakage.columns)
    assert outcome.leakage["gain_share"].sum() == pytest.approx(1.0)


def test_a_perfect_leak_stops_registration_unless_allowed(small, config):
    converted = small.leads["converted_at"].notna().to_numpy().astype(float)
    data = _with_custom_lead_column(small, "won_flag", converted * 100.0)
    cfg = _with_training(config, min_positive=50, min_negative=50)
    with pytest.raises(TrainingRefused, match=r"custom:won_flag: single-feature ROC AUC 0\.9\d\d"):
        train_model("lead", data, cfg)
    allowed = train_model("lead", data, _with_training(cfg, allow_leaky=["custom:won_flag"]))
    assert "custom:won_flag" in allowed.bundle.columns


def test_a_drifting_base_rate_gets_the_drift_warning(config, tmp_path):
    write_dataset(generate(6000, seed=5, config=config, drift=4.0), tmp_path / "d")
    data, _ = load_crm_data(tmp_path / "d", config.funnel)
    outcome = train_model("lead", data, _with_training(config, min_positive=50, min_negative=50))
    drift = [w for w in outcome.warnings if w.startswith("drift")]
    assert drift and "above the model's mean prediction" in drift[0]
    assert (outcome.by_month["odds_ratio"] > 1.25).any()


def test_stable_data_gets_no_drift_warning(small, config):
    outcome = train_model("lead", small, _with_training(config, min_positive=50, min_negative=50))
    assert not [w for w in outcome.warnings if w.startswith("drift")]


def test_the_headline_is_the_decision_point_and_every_age_is_reported(small, config):
    outcome = train_model("lead", small, _with_training(config, min_positive=50, min_negative=50))
    methods = set(outcome.metrics["method"])
    assert {"model", "model every age", "bant_rule_grade", "logistic_regression"} <= methods
    decision = outcome.metrics[outcome.metrics["method"] == "model"].iloc[0]
    every = outcome.metrics[outcome.metrics["method"] == "model every age"].iloc[0]
    assert decision["n"] < every["n"]  # creation snapshots only
    ages = outcome.by_age[outcome.by_age["method"] == "model"]["lead_age"].tolist()
    assert ages[:3] == ["0-30 d", "30-90 d", "90-180 d"]
    meta = outcome.bundle.metadata
    assert meta["split_method"] == "time" and "creation" in meta["snapshot_policy"]
    assert set(meta["grades"]["expected"]) == {"Hot", "Warm", "Cold"}
    assert meta["stale_days"]["default"] > 0
