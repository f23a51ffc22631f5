"""Forecast backtest on generated data: only what was known at each period start, a win model
retrained per period; the model must beat the configured stage weights and its P10–P90 band
must be honest. Logged to a real MLflow store."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from funnelcast.features.known import known_at
from funnelcast.training.backtest import actual_won, backtest, period_starts, write_and_log


@pytest.fixture(scope="module")
def result(d20_data, config):
    return backtest(d20_data[0], config, "month")


@pytest.mark.slow
def test_model_forecast_beats_stage_weights_and_its_interval_is_calibrated(result):
    summary = result.summary.set_index("method")
    assert len(result.periods) >= 10 and not result.skipped
    model = summary.loc["model", "wape"]
    # acceptance: model WAPE <= 0.8 x the stage-weighted WAPE, whichever stage-weighted view is better
    assert model <= 0.8 * min(
        summary.loc["stage_weighted", "wape"], summary.loc["stage_weighted_in_period", "wape"]
    )
    assert model < summary.loc["historical", "wape"]
    assert 0.7 <= result.coverage() <= 0.9
    assert summary.loc["model", "p10_p90_coverage"] == pytest.approx(result.coverage())


def test_each_period_only_uses_what_was_known_at_its_start(d20_data, config, result):
    data = d20_data[0]
    first = result.periods.iloc[0]
    start = first["period_start"]
    # the model of a period was trained on data that ended before the period began
    assert all(
        pd.Timestamp(t) <= p
        for t, p in zip(
            result.periods["model_version_trained_until"], result.periods["period_start"], strict=True
        )
    )
    known = known_at(data, start)
    open_ids = known.opportunities.loc[known.opportunities["outcome"] == "open", "opportunity_id"]
    assert first["open_deals"] == len(open_ids)
    actual, _ = actual_won(data, open_ids, start, first["period_end"], config)
    assert first["actual"] == pytest.approx(actual)


def test_period_starts_cover_whole_periods_after_the_warmup(d20_data):
    spans = period_starts(d20_data[0], "quarter", 270)
    assert all(e - s >= pd.Timedelta(days=89) for s, e in spans)
    assert all(s.month in (1, 4, 7, 10) and s.day == 1 for s, _ in spans)
    with pytest.raises(ValueError, match="freq"):
        period_starts(d20_data[0], "week", 270)


def test_backtest_is_logged_to_mlflow_with_table_and_chart(result, config, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    paths, run_id = write_and_log(result, "month", tmp_path / "out", config)
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id)
    assert run.data.metrics["model_wape"] == pytest.approx(
        result.summary.set_index("method").loc["model", "wape"]
    )
    assert "p10_p90_coverage" in run.data.metrics and run.data.params["freq"] == "month"
    assert paths["chart"].stat().st_size > 10_000 and "| model |" in paths["markdown"].read_text(
        encoding="utf-8"
    )
