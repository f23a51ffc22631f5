"""Forecast backtest: at each period start, only what was known then, forecast the period and
compare with what closed.

For every period (month or quarter) the data is cut to what a CRM export at its start would hold
(`features.known.known_at`), a win model is trained on that cut alone (same code, same gates as
`funnelcast train`), and the deals open at the start are forecast with stage weights, point-in-time
historical stage rates and the model. The actual is the revenue (amount at close, base currency)
of those deals won inside the period; revenue from deals created during the period is reported
beside it with the run-rate estimate, not mixed into the comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from funnelcast.analytics.charts import backtest_chart
from funnelcast.analytics.forecast import METHODS, base_amounts, forecast, pinball, run_rate, wape
from funnelcast.analytics.outputs import backtest_markdown
from funnelcast.analytics.pipeline_inputs import deal_inputs, period_logit_sd
from funnelcast.core.config import AppConfig
from funnelcast.features.history import Rates
from funnelcast.features.io import CRMData
from funnelcast.features.known import known_at
from funnelcast.training.snapshots import observed_until
from funnelcast.training.tracking import data_fingerprint, git_commit, owner_tags, use_store
from funnelcast.training.train import TrainingRefused, train_model

logger = logging.getLogger(__name__)
FREQS = {"month": "MS", "quarter": "QS"}


@dataclass
class BacktestResult:
    periods: pd.DataFrame  # one row per period: forecasts per method, quantiles, actuals
    summary: pd.DataFrame  # one row per method: WAPE, bias; the model's coverage and pinball losses
    skipped: list[str]

    def coverage(self) -> float:
        inside = (self.periods["p10"] <= self.periods["actual"]) & (
            self.periods["actual"] <= self.periods["p90"]
        )
        return float(inside.mean()) if len(self.periods) else float("nan")


def period_starts(data: CRMData, freq: str, warmup_days: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(start, end) of every whole period after the warm-up that ends within the data."""
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {sorted(FREQS)}, got {freq!r}")
    first = data.opportunities["created_at"].min() + pd.Timedelta(days=warmup_days)
    until = observed_until(data)
    starts = pd.date_range(first.normalize(), until, freq=FREQS[freq], tz="UTC")
    spans = [(s, s + pd.tseries.frequencies.to_offset(FREQS[freq])) for s in starts]
    return [(s, e) for s, e in spans if e <= until + pd.Timedelta(days=1)]


def actual_won(
    data: CRMData, ids: pd.Series, start: pd.Timestamp, end: pd.Timestamp, config: AppConfig
) -> tuple[float, float]:
    """Won revenue in (start, end]: from the given (open at start) deals, and from deals created later."""
    opps = data.opportunities
    won = opps[(opps["outcome"] == "won") & (opps["closed_at"] > start) & (opps["closed_at"] <= end)]
    amounts = base_amounts(won, config)
    from_open = won["opportunity_id"].isin(ids).to_numpy()
    new = (won["created_at"] > start).to_numpy() & ~from_open
    return float(np.nansum(amounts[from_open])), float(np.nansum(amounts[new]))


def backtest(
    data: CRMData,
    config: AppConfig,
    freq: str = "month",
    *,
    warmup_days: int = 270,
    draws: int = 10_000,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> BacktestResult:
    step = progress or (lambda _d, _t, _m: None)
    rows, skipped = [], []
    spans = period_starts(data, freq, warmup_days)
    for i, (start, end) in enumerate(spans, 1):
        step(i - 1, len(spans), f"{start:%Y-%m-%d}: training on the data known then")
        known = known_at(data, start)
        try:
            outcome = train_model("opportunity", known, config)
        except TrainingRefused as exc:
            skipped.append(f"{start:%Y-%m-%d}: {exc}")
            logger.info("backtest period %s skipped: %s", start, exc)
            continue
        bundle = outcome.bundle
        deals = deal_inputs(known, start, end, config, bundle.predict, Rates.from_dict(bundle.rates))
        spread = period_logit_sd(bundle.metadata, (end - start) / pd.Timedelta(days=1))
        result = forecast(
            deals,
            start,
            end,
            draws=draws,
            seed=seed,
            run_rate=run_rate(known, start, end, config),
            logit_sd=spread,
        )
        actual, new_revenue = actual_won(data, deals["opportunity_id"], start, end, config)
        rows.append(
            {
                "period_start": start,
                "period_end": end,
                "open_deals": len(deals),
                "pipeline": float(deals["amount"].sum()),
                **result.expected,
                **result.quantiles,
                "actual": actual,
                "run_rate": result.run_rate,
                "actual_new_deals": new_revenue,
                "logit_sd": spread,
                "model_version_trained_until": bundle.metadata["data_until"],
            }
        )
    step(len(spans), len(spans), "done")
    periods = pd.DataFrame(rows)
    return BacktestResult(periods, summarise(periods), skipped)


def summarise(periods: pd.DataFrame) -> pd.DataFrame:
    if periods.empty:
        return pd.DataFrame(columns=["method", "wape", "bias", "periods"])
    actual = periods["actual"].to_numpy()
    rows = []
    for method in METHODS:
        if method not in periods:
            continue
        f = periods[method].to_numpy()
        rows.append(
            {
                "method": method,
                "wape": wape(f, actual),
                "bias": float((f - actual).sum() / actual.sum()),
                "periods": len(periods),
            }
        )
    summary = pd.DataFrame(rows)
    inside = (periods["p10"] <= periods["actual"]) & (periods["actual"] <= periods["p90"])
    summary["p10_p90_coverage"] = np.where(summary["method"] == "model", inside.mean(), np.nan)
    for q, name in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90")):
        loss = pinball(q, periods[name].to_numpy(), actual)
        summary[f"pinball_{name}"] = np.where(summary["method"] == "model", loss, np.nan)
    return summary


def write_and_log(
    result: BacktestResult, freq: str, out: Path, config: AppConfig, files: dict[str, Path] | None = None
) -> tuple[dict[str, Path], str]:
    """Table (CSV, Markdown) and chart into `out`, and one MLflow run with the per-method metrics
    and those files as artefacts. Returns the paths and the run id."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "periods": out / "backtest_periods.csv",
        "summary": out / "backtest_summary.csv",
        "markdown": out / "backtest.md",
        "chart": out / "backtest.png",
    }
    result.periods.to_csv(paths["periods"], index=False, encoding="utf-8")
    result.summary.to_csv(paths["summary"], index=False, encoding="utf-8")
    paths["markdown"].write_text(backtest_markdown(result.periods, result.summary, freq), encoding="utf-8")
    if len(result.periods):
        backtest_chart(
            result.periods, paths["chart"], f"Forecast backtest by {freq}: won revenue of the open pipeline"
        )
    else:
        paths.pop("chart")
    use_store(config.training.experiment)
    with mlflow.start_run(run_name=f"forecast-backtest-{freq}", tags=owner_tags()) as run:
        mlflow.set_tags(
            {
                "funnelcast.kind": "forecast_backtest",
                "git_commit": git_commit(),
                **(data_fingerprint(files) if files else {}),
            }
        )
        mlflow.log_params(
            {"freq": freq, "periods": len(result.periods), "skipped_periods": len(result.skipped)}
        )
        for _, row in result.summary.iterrows():
            mlflow.log_metric(f"{row['method']}_wape", float(row["wape"]))
            mlflow.log_metric(f"{row['method']}_bias", float(row["bias"]))
        model = result.summary[result.summary["method"] == "model"]
        if len(model):
            for col in ("p10_p90_coverage", "pinball_p10", "pinball_p50", "pinball_p90"):
                mlflow.log_metric(col, float(model.iloc[0][col]))
        for path in paths.values():
            mlflow.log_artifact(str(path), artifact_path="backtest")
    return paths, run.info.run_id
