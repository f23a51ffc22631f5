"""Revenue forecasts for the deals open at a date, three ways side by side, and the distribution.

- stage-weighted: Σ amount × the configured weight of the deal's stage (what most CRMs show);
  also restricted to deals whose expected close date (as known then) is on or before the period
  end, the usual "weighted pipeline this quarter" view;
- historical: Σ amount × the win rate deals from that stage really achieved (deals closed before
  the date, smoothed towards the overall rate);
- model: Σ amount × P(won by the period end) from the win model's 30 / 60 / 90-day and eventual
  probabilities (see `probability_by`).
Stage weights and historical rates are eventual win probabilities used as period forecasts, which
is how they are used in practice. The distribution of won revenue treats deals as independent
Bernoulli wins (Monte Carlo, seeded), giving P10 / P50 / P90 and P(reaching a target).
Pure functions: data and probabilities come in, tables come out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from funnelcast.analytics.simulate import simulate_won
from funnelcast.core.config import AppConfig
from funnelcast.features.io import CRMData

HORIZON_DAYS = (30, 60, 90)
EVENTUAL_DAYS = 180  # P(won) counts as reached by then: the maturity used to label it in training
QUANTILES = (0.1, 0.5, 0.9)
METHODS = ("stage_weighted", "stage_weighted_in_period", "historical", "model")


def probability_by(
    days: np.ndarray, p30: np.ndarray, p60: np.ndarray, p90: np.ndarray, p_won: np.ndarray
) -> np.ndarray:
    """P(won within `days`): linear between the model's horizons (0 at day 0, P30, P60, P90, and
    P(won) at EVENTUAL_DAYS), flat after that. Monotone in days because the horizons are."""
    knots = np.array([0.0, *HORIZON_DAYS, EVENTUAL_DAYS])
    values = np.column_stack([np.zeros(len(p30)), p30, p60, p90, p_won])
    values = np.maximum.accumulate(values, axis=1)
    d = np.clip(np.asarray(days, dtype=float), 0.0, EVENTUAL_DAYS)
    pos = np.clip(np.searchsorted(knots, d, side="right") - 1, 0, len(knots) - 2)
    left, right = knots[pos], knots[pos + 1]
    rows = np.arange(len(d))
    w = (d - left) / (right - left)
    return values[rows, pos] * (1 - w) + values[rows, pos + 1] * w


def logit_shock_sd(p: np.ndarray, y: np.ndarray, groups: np.ndarray, min_groups: int = 4) -> float:
    """How far whole periods stray from the model beyond coin-flip noise, as the standard deviation
    of a log-odds shift shared by all deals of a period (method of moments, per group of rows
    scored at the same time): Var(O − E) ≈ V + V²·τ², with O the wins, E = Σp and V = Σp(1−p).
    Deals are not independent in practice (a market, a quarter, a model's blind spot moves them
    together); ignoring that makes P10–P90 intervals too narrow."""
    frame = pd.DataFrame({"g": groups, "p": p, "y": y, "v": p * (1 - p)})
    agg = frame.groupby("g").agg(o=("y", "sum"), e=("p", "sum"), v=("v", "sum"))
    agg = agg[agg["v"] >= 1.0]
    if len(agg) < min_groups:
        return 0.0
    excess = ((agg["o"] - agg["e"]) ** 2 - agg["v"]) / agg["v"] ** 2
    return float(np.sqrt(max(0.0, excess.mean())))


def base_amounts(opportunities: pd.DataFrame, config: AppConfig) -> np.ndarray:
    """Amounts in the base currency (missing where the currency has no configured rate)."""
    rates = opportunities["currency"].astype(str).str.upper().map(config.leads.currency_rates)
    return opportunities["amount"].to_numpy(dtype=float) * rates.to_numpy(dtype=float)


@dataclass
class Forecast:
    as_of: pd.Timestamp
    period_end: pd.Timestamp
    deals: pd.DataFrame  # one row per open deal: amount, probabilities, group
    expected: dict[str, float]  # method -> Σ amount × probability
    quantiles: dict[str, float]  # p10, p50, p90 of won revenue (distribution method)
    distribution_method: str
    draws: np.ndarray = field(repr=False)
    target: float | None = None
    p_target: float | None = None
    run_rate: float | None = None  # revenue from deals not yet created, estimated from history
    by_group: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)

    def with_target(self, target: float | None) -> Forecast:
        """The same forecast asked about another target: P(reaching it) from the same draws."""
        return replace(self, target=target, p_target=share_reaching(self.draws, target))

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "period_end": self.period_end.isoformat(),
            "open_deals": len(self.deals),
            "pipeline_amount": float(self.deals["amount"].sum()),
            "expected": {k: round(v, 2) for k, v in self.expected.items()},
            "distribution": {
                "method": self.distribution_method,
                "draws": int(len(self.draws)),
                **{k: round(v, 2) for k, v in self.quantiles.items()},
                "mean": round(float(self.draws.mean()), 2) if len(self.draws) else 0.0,
            },
            "target": self.target,
            "p_reaching_target": self.p_target,
            "run_rate": None if self.run_rate is None else round(self.run_rate, 2),
            "by_group": None if self.by_group is None else self.by_group.round(4).to_dict(orient="records"),
            "warnings": self.warnings,
        }


def share_reaching(draws: np.ndarray, target: float | None) -> float | None:
    """P(won revenue >= target) over the simulated draws (None without a target)."""
    return None if target is None else float((draws >= target).mean())


def forecast(
    deals: pd.DataFrame,
    as_of: pd.Timestamp,
    period_end: pd.Timestamp,
    *,
    target: float | None = None,
    draws: int = 10_000,
    seed: int = 0,
    run_rate: float | None = None,
    group: str | None = None,
    logit_sd: float = 0.0,
    threads: int = 2,
) -> Forecast:
    """Forecast won revenue in (as_of, period_end] from open deals.

    `deals` columns: amount (base currency), stage_weight, historical_rate, expected_close (may be
    NaT), p_period (model P(won by period end), may be missing when no model is loaded) and, when
    `group` is given, that column. The distribution uses the model where it exists, else the
    historical rates; `logit_sd` is the period-level log-odds shock of the model (see
    `logit_shock_sd`), 0 for independent deals."""
    if period_end <= as_of:
        raise ValueError(f"period end {period_end.isoformat()} must be after as_of {as_of.isoformat()}")
    warnings: list[str] = []
    bad = ~np.isfinite(deals["amount"].to_numpy(dtype=float))
    if bad.any():
        warnings.append(
            f"{int(bad.sum())} deal(s) without an amount in the base currency (unknown currency or "
            "missing amount) are left out of every method"
        )
    d = deals[~bad].copy()
    in_period = d["expected_close"].isna() | (d["expected_close"] <= period_end)
    has_model = "p_period" in d and d["p_period"].notna().all() and len(d) > 0
    expected = {
        "stage_weighted": float((d["amount"] * d["stage_weight"].fillna(0)).sum()),
        "stage_weighted_in_period": float((d["amount"] * d["stage_weight"].fillna(0) * in_period).sum()),
        "historical": float((d["amount"] * d["historical_rate"].fillna(0)).sum()),
    }
    if has_model:
        expected["model"] = float((d["amount"] * d["p_period"]).sum())
    method = "model" if has_model else "historical"
    p = (d["p_period"] if has_model else d["historical_rate"].fillna(0)).to_numpy(dtype=float)
    codes, labels = pd.factorize(d[group].fillna("(none)"), sort=True) if group else (None, None)
    sims = simulate_won(
        d["amount"].to_numpy(dtype=float),
        p,
        draws=draws,
        seed=seed,
        groups=codes,
        threads=threads,
        logit_sd=logit_sd if has_model else 0.0,
    )
    total = sims.sum(axis=1) if group else sims
    quantiles = dict(zip(("p10", "p50", "p90"), np.quantile(total, QUANTILES).tolist(), strict=True))
    by_group = None
    if group:
        by_group = pd.DataFrame({group: labels, "open_deals": np.bincount(codes, minlength=len(labels))})
        for name, col in (
            ("stage_weighted", d["stage_weight"].fillna(0)),
            ("historical", d["historical_rate"].fillna(0)),
        ):
            by_group[name] = np.bincount(codes, weights=d["amount"] * col, minlength=len(labels))
        if has_model:
            by_group["model"] = np.bincount(codes, weights=d["amount"] * d["p_period"], minlength=len(labels))
        for q, name in zip(QUANTILES, ("p10", "p50", "p90"), strict=True):
            by_group[name] = np.quantile(sims, q, axis=0)[: len(labels)] if len(labels) else []
    p_target = share_reaching(total, target)
    return Forecast(
        as_of,
        period_end,
        d,
        expected,
        quantiles,
        method,
        total,
        target,
        p_target,
        run_rate,
        by_group,
        warnings,
    )


def open_deals(data: CRMData, as_of: pd.Timestamp) -> pd.DataFrame:
    """Deals created at or before as_of and not closed by then (data should be as known at as_of)."""
    opps = data.opportunities
    keep = (opps["created_at"] <= as_of) & ~(opps["closed_at"] <= as_of)
    return opps[keep].reset_index(drop=True)


def run_rate(
    data: CRMData, as_of: pd.Timestamp, period_end: pd.Timestamp, config: AppConfig, lookback_periods: int = 4
) -> float | None:
    """Revenue from deals created and won inside a period, averaged over the `lookback_periods`
    windows of the same length before as_of (only deals closed by as_of count). None without history."""
    won, first_created = won_history(data, as_of, config)
    return run_rate_of(won, first_created, as_of, period_end, lookback_periods)


def won_history(data: CRMData, as_of: pd.Timestamp, config: AppConfig) -> tuple[pd.DataFrame, pd.Timestamp]:
    """What `run_rate` reads of the data, for any period: the deals won by as_of (created_at,
    closed_at, amount in the base currency) and when the first deal was created."""
    opps = data.opportunities
    won = opps[(opps["outcome"] == "won") & (opps["closed_at"] <= as_of)]
    frame = won[["created_at", "closed_at"]].reset_index(drop=True)
    frame["amount"] = base_amounts(won, config)
    return frame, opps["created_at"].min()


def run_rate_of(
    won: pd.DataFrame,
    first_created: pd.Timestamp,
    as_of: pd.Timestamp,
    period_end: pd.Timestamp,
    lookback_periods: int = 4,
) -> float | None:
    """`run_rate` from `won_history`."""
    length = period_end - as_of
    amounts = won["amount"].to_numpy(dtype=float)
    totals = []
    for k in range(1, lookback_periods + 1):
        start, end = as_of - k * length, as_of - (k - 1) * length
        if start < first_created:
            break
        inside = ((won["created_at"] > start) & (won["closed_at"] <= end)).to_numpy()
        totals.append(float(np.nansum(amounts[inside])))
    return float(np.mean(totals)) if totals else None


def wape(forecasts: np.ndarray, actuals: np.ndarray) -> float:
    """Σ|forecast − actual| / Σ actual."""
    total = float(np.sum(actuals))
    return (
        float(np.sum(np.abs(np.asarray(forecasts) - np.asarray(actuals))) / total)
        if total > 0
        else float("nan")
    )


def pinball(quantile: float, predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean pinball (quantile) loss."""
    diff = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))


def fan_table(
    deals: pd.DataFrame,
    as_of: pd.Timestamp,
    period_end: pd.Timestamp,
    points: int = 8,
    draws: int = 2_000,
    seed: int = 0,
    logit_sd: float = 0.0,
) -> pd.DataFrame | None:
    """Cumulative won revenue from as_of to each of `points` dates up to period_end (model
    probabilities needed): expected, P10, P50, P90. None without model probabilities."""
    needed = ["p_won", "p_won_30d", "p_won_60d", "p_won_90d"]
    if not set(needed) <= set(deals.columns) or not len(deals):
        return None
    d = deals[np.isfinite(deals["amount"].to_numpy(dtype=float))]
    rows = [{"date": as_of, "expected": 0.0, "p10": 0.0, "p50": 0.0, "p90": 0.0}]
    for t in pd.date_range(as_of, period_end, periods=points + 1)[1:]:
        days = np.full(len(d), (t - as_of) / pd.Timedelta(days=1))
        p = probability_by(
            days,
            d["p_won_30d"].to_numpy(),
            d["p_won_60d"].to_numpy(),
            d["p_won_90d"].to_numpy(),
            d["p_won"].to_numpy(),
        )
        sims = simulate_won(d["amount"].to_numpy(dtype=float), p, draws=draws, seed=seed, logit_sd=logit_sd)
        q10, q50, q90 = np.quantile(sims, QUANTILES)
        rows.append(
            {"date": t, "expected": float((d["amount"] * p).sum()), "p10": q10, "p50": q50, "p90": q90}
        )
    return pd.DataFrame(rows)
