"""Charts people would rather look at than read: the funnel, the forecast fan, the backtest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import Forecast
from funnelcast.analytics.funnel import ALL, FunnelReport
from funnelcast.core.config import AppConfig
from funnelcast.core.numbers import axis_formatter
from funnelcast.core.plotting import pyplot


def funnel_chart(report: FunnelReport, config: AppConfig, pipeline: str, path: Path) -> Path | None:
    """Deals that entered each stage as centred bars, with cohort and snapshot conversion and the
    win rate from the stage beside its configured weight. None when the pipeline has no deals."""
    plt = pyplot()
    frame = report.stages[(report.stages["pipeline"] == pipeline) & (report.stages["group"] == ALL)]
    if frame.empty:
        frame = (
            report.stages[report.stages["pipeline"] == pipeline]
            .groupby(["stage_index", "stage_name", "weight"], as_index=False)[["entered", "closed"]]
            .sum()
        )
        frame["cohort_conversion"] = frame["snapshot_conversion"] = frame["win_rate"] = np.nan
    if frame.empty or frame["entered"].sum() == 0:
        return None
    frame = frame.sort_values("stage_index")
    name = config.funnel.pipeline(pipeline).name or pipeline
    fig, ax = plt.subplots(figsize=(8, 0.9 * len(frame) + 1.6))
    widest = float(frame["entered"].max())
    y = np.arange(len(frame))[::-1]
    ax.barh(y, frame["entered"], left=(widest - frame["entered"]) / 2, color="#4C78A8", height=0.7)
    for yi, (_, r) in zip(y, frame.iterrows(), strict=True):
        ax.text(
            widest / 2,
            yi,
            f"{r['stage_name']}  {int(r['entered']):,}",
            ha="center",
            va="center",
            color="white",
            fontsize=10,
        )
        ax.text(
            widest * 1.02,
            yi,
            f"→ next {_pct(r['cohort_conversion'])} (cohort), {_pct(r['snapshot_conversion'])}"
            f" (snapshot)\nwin rate {_pct(r['win_rate'])} vs weight {r['weight']:.0%}",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, widest * 1.75)
    ax.set_yticks([])
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Funnel: {name}, deals that entered each stage (as of {report.as_of:%Y-%m-%d})")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def forecast_chart(result: Forecast, fan: pd.DataFrame | None, path: Path) -> Path:
    """Left: cumulative won revenue through the period as a fan (P10–P90, P50); right: the
    distribution at the period end with every method's expected value."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[1.4, 1])
    if fan is not None and len(fan):
        left.fill_between(fan["date"], fan["p10"], fan["p90"], color="#4C78A8", alpha=0.3, label="P10–P90")
        left.plot(fan["date"], fan["p50"], color="#4C78A8", label="P50")
        left.plot(fan["date"], fan["expected"], color="#4C78A8", ls=":", label="expected")
        if result.target is not None:
            left.axhline(result.target, color="#E45756", ls="--", lw=1, label="target")
        left.legend(fontsize=8, loc="upper left")
        left.yaxis.set_major_formatter(axis_formatter())
        left.set(title="Won revenue through the period", ylabel="cumulative won revenue")
        left.tick_params(axis="x", labelrotation=30, labelsize=8)
    else:
        left.axis("off")
    right.hist(result.draws, bins=60, color="#4C78A8", alpha=0.7)
    colours = {
        "stage_weighted": "#E45756",
        "stage_weighted_in_period": "#F58518",
        "historical": "#54A24B",
        "model": "#000000",
    }
    for method, value in result.expected.items():
        right.axvline(value, color=colours.get(method, "grey"), lw=1.5, label=f"{method}: {value:,.0f}")
    for q, v in result.quantiles.items():
        right.axvline(v, color="#4C78A8", ls="--", lw=1)
        right.text(v, right.get_ylim()[1] * 0.95, q.upper(), fontsize=7, ha="center")
    right.set(
        title=f"Won revenue by {result.period_end:%Y-%m-%d} ({result.distribution_method})",
        xlabel="won revenue",
        ylabel="draws",
    )
    right.xaxis.set_major_formatter(axis_formatter())  # 12,345,678: never 1e7
    right.tick_params(axis="x", labelrotation=20, labelsize=7)
    # below the plot, every line listed: a legend inside hid two of them behind the histogram
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def backtest_chart(periods: pd.DataFrame, path: Path, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.2))
    x = periods["period_start"]
    ax.fill_between(x, periods["p10"], periods["p90"], color="#4C78A8", alpha=0.25, label="model P10–P90")
    ax.plot(x, periods["model"], color="#4C78A8", marker="o", label="model")
    for method, colour in (
        ("stage_weighted", "#E45756"),
        ("stage_weighted_in_period", "#F58518"),
        ("historical", "#54A24B"),
    ):
        if method in periods:
            ax.plot(x, periods[method], color=colour, marker=".", lw=1, label=method)
    ax.plot(x, periods["actual"], color="black", marker="s", lw=2, label="actual")
    ax.set(title=title, ylabel="won revenue in the period (base currency)")
    ax.yaxis.set_major_formatter(axis_formatter())
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _pct(v: float) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.0%}"
