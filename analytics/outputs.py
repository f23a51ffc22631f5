"""Files for people and machines: JSON, a Markdown summary and PNG charts, UTF-8 throughout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.analytics import charts
from funnelcast.analytics.forecast import Forecast
from funnelcast.analytics.funnel import FunnelReport, to_markdown
from funnelcast.core.config import AppConfig

METHOD_NAMES = {
    "stage_weighted": "stage-weighted (configured weights, all open deals)",
    "stage_weighted_in_period": "stage-weighted, expected to close by the period end",
    "historical": "historical stage win rates",
    "model": "model P(won by the period end)",
}


def _write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def write_funnel(report: FunnelReport, config: AppConfig, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "funnel.json", "markdown": out / "funnel.md"}
    _write_json(report.to_dict(), paths["json"])
    paths["markdown"].write_text(to_markdown(report, config), encoding="utf-8")
    for pipeline in config.funnel.pipelines:
        chart = charts.funnel_chart(report, config, pipeline.key, out / f"funnel_{pipeline.key}.png")
        if chart is not None:
            paths[f"chart_{pipeline.key}"] = chart
    return paths


def forecast_markdown(result: Forecast) -> str:
    lines = [
        f"# Forecast of won revenue from {result.as_of:%Y-%m-%d} to {result.period_end:%Y-%m-%d}",
        "",
        f"{len(result.deals):,} open deals, pipeline {result.deals['amount'].sum():,.0f} (base currency).",
        "",
        "| method | expected won revenue |",
        "|---|---:|",
    ]
    for method, value in result.expected.items():
        lines.append(f"| {METHOD_NAMES.get(method, method)} | {value:,.0f} |")
    q = result.quantiles
    lines += [
        "",
        f"Distribution ({result.distribution_method} probabilities, {len(result.draws):,} seeded draws): "
        f"P10 {q['p10']:,.0f} · P50 {q['p50']:,.0f} · P90 {q['p90']:,.0f}.",
    ]
    if result.target is not None:
        lines.append(f"P(reaching the target {result.target:,.0f}) = {result.p_target:.0%}.")
    if result.run_rate is not None:
        lines.append(f"Run rate from deals not yet created (history, shown apart): {result.run_rate:,.0f}.")
    if result.by_group is not None:
        frame = result.by_group
        cols = [c for c in frame.columns]
        lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, r in frame.iterrows():
            lines.append(
                "| "
                + " | ".join(
                    f"{v:,.0f}" if isinstance(v, float | np.floating) else str(v) for v in r.to_numpy()
                )
                + " |"
            )
    for warning in result.warnings:
        lines.append(f"\nWarning: {warning}")
    return "\n".join(lines) + "\n"


def write_forecast(result: Forecast, fan: pd.DataFrame | None, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "forecast.json",
        "markdown": out / "forecast.md",
        "chart": out / "forecast.png",
        "deals": out / "forecast_deals.csv",
    }
    data = result.to_dict()
    if fan is not None:
        data["fan"] = [{**r, "date": r["date"].isoformat()} for r in fan.to_dict(orient="records")]
    _write_json(data, paths["json"])
    paths["markdown"].write_text(forecast_markdown(result), encoding="utf-8")
    charts.forecast_chart(result, fan, paths["chart"])
    result.deals.to_csv(paths["deals"], index=False, encoding="utf-8")
    return paths


def backtest_markdown(periods: pd.DataFrame, summary: pd.DataFrame, freq: str) -> str:
    lines = [
        f"# Forecast backtest by {freq}",
        "",
        "| period | open deals | stage-weighted | in period | historical | model | P10 | P90 | actual |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, r in periods.iterrows():
        lines.append(
            f"| {r['period_start']:%Y-%m-%d} | {r['open_deals']} | {r['stage_weighted']:,.0f} | "
            f"{r['stage_weighted_in_period']:,.0f} | {r['historical']:,.0f} | {r['model']:,.0f} | "
            f"{r['p10']:,.0f} | {r['p90']:,.0f} | {r['actual']:,.0f} |"
        )
    lines += [
        "",
        "| method | WAPE | bias | P10–P90 coverage | pinball P10 / P50 / P90 |",
        "|---|---:|---:|---:|---:|",
    ]
    for _, r in summary.iterrows():
        cover = "" if pd.isna(r["p10_p90_coverage"]) else f"{r['p10_p90_coverage']:.0%}"
        pin = (
            ""
            if pd.isna(r["pinball_p50"])
            else (f"{r['pinball_p10']:,.0f} / {r['pinball_p50']:,.0f} / {r['pinball_p90']:,.0f}")
        )
        lines.append(f"| {r['method']} | {r['wape']:.3f} | {r['bias']:+.1%} | {cover} | {pin} |")
    return "\n".join(lines) + "\n"
