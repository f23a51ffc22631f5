"""Charts of the workspace as inline SVG, drawn from the same data the API returns: a lead's score over
time with its grade changes and their triggers, a pipeline's stages, the forecast's fan. Amounts read
as people write them (thousands separators, or 万 / 亿), never in scientific notation."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from funnelcast.core.numbers import amount, axis_formatter
from funnelcast.core.plotting import pyplot

COLOURS = {
    "Hot": "#E45756",
    "Warm": "#F58518",
    "Cold": "#4C78A8",
    "healthy": "#54A24B",
    "at_risk": "#F58518",
    "critical": "#E45756",
}


def _svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    pyplot().close(fig)
    text = out.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML prolog


def score_history(changes: list[dict], title: str) -> str | None:
    """The score after each recorded change; a dot coloured by grade where the grade changed, labelled
    with its trigger."""
    rows = [c for c in changes if c["to_score"] is not None]
    if not rows:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    x = pd.to_datetime([c["at"] for c in rows])
    y = [c["to_score"] for c in rows]
    ax.step(x, y, where="post", color="#4C78A8", lw=1.5)
    for c, xi, yi in zip(rows, x, y, strict=True):
        if c["from_grade"] != c["to_grade"]:
            ax.scatter([xi], [yi], color=COLOURS.get(c["to_grade"], "#333333"), zorder=3, s=30)
            ax.annotate(
                f"{c['to_grade']} ({c['trigger']})",
                (xi, yi),
                textcoords="offset points",
                xytext=(4, 6),
                fontsize=7,
            )
    if len(x) == 1 or x.max() - x.min() < pd.Timedelta(days=2):  # one score: a readable window around it
        ax.set_xlim(x.min() - pd.Timedelta(days=15), x.max() + pd.Timedelta(days=15))
    ax.set(ylim=(0, 100), ylabel="score (0-100)", title=title)
    ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    ax.grid(alpha=0.3)
    return _svg(fig)


def funnel_stages(stages: pd.DataFrame, title: str, locale: str = "en") -> str | None:
    """A bar per stage (deals that entered it), with its conversion to the next stage and to won."""
    if stages is None or not len(stages):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(stages) + 1.0))
    y = np.arange(len(stages))[::-1]
    ax.barh(y, stages["entered"], color="#4C78A8", alpha=0.85)
    ax.set_yticks(y, stages["stage_name"])
    top = max(float(stages["entered"].max()), 1.0)
    for yi, (_, r) in zip(y, stages.iterrows(), strict=True):
        nxt = "–" if pd.isna(r["cohort_conversion"]) else f"{r['cohort_conversion']:.0%}"
        won = "–" if pd.isna(r["win_rate"]) else f"{r['win_rate']:.0%}"
        ax.text(
            float(r["entered"]) + top * 0.01,
            yi,
            f"{amount(r['entered'], locale)} entered · next {nxt} · won {won}",
            va="center",
            fontsize=8,
        )
    ax.set(xlim=(0, top * 1.6), title=title, xlabel="deals that entered the stage")
    ax.xaxis.set_major_formatter(axis_formatter(locale))
    return _svg(fig)


def forecast_fan(
    fan: pd.DataFrame | None, expected: dict, target: float | None, currency: str, locale: str = "en"
) -> str | None:
    """Cumulative won revenue through the period: P10-P90 band and P50, beside the stage-weighted and
    historical expectations at the period end, and the target."""
    if fan is None or not len(fan):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.fill_between(fan["date"], fan["p10"], fan["p90"], color="#4C78A8", alpha=0.25, label="model P10-P90")
    ax.plot(fan["date"], fan["p50"], color="#4C78A8", label="model P50")
    end = fan["date"].iloc[-1]
    for method, colour, label in (
        ("stage_weighted", "#E45756", "stage-weighted"),
        ("historical", "#54A24B", "historical stage rates"),
    ):
        if method in expected:
            ax.scatter(
                [end],
                [expected[method]],
                color=colour,
                zorder=3,
                label=f"{label}: {amount(expected[method], locale)}",
            )
    if target:
        ax.axhline(target, color="#333333", ls="--", lw=1, label=f"target {amount(target, locale)}")
    ax.yaxis.set_major_formatter(axis_formatter(locale, currency))
    ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    ax.set(title="Won revenue through the period", ylabel="cumulative won revenue")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return _svg(fig)
