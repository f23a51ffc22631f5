"""Funnel analytics as of a date: conversion two ways, dwell and stall thresholds, win rate from each
stage beside its configured weight, lead → opportunity conversion, loss reasons, the bottleneck,
and the deals that stalled, skipped stages, jumped from the first stage to won or moved backwards.

Definitions (per pipeline, optionally per group; `data` must be as known at as_of):
- snapshot conversion of stage k: open deals now in k ÷ open deals now in k−1 (the common funnel
  report; skipped stages and unequal dwell times distort it);
- cohort conversion of stage k: of the deals that entered k and whose fate there is decided,
  the share that later reached a further stage (won included); decided = progressed or lost
  without progressing; deals still open without progressing are left out (`still_open`);
- implied conversion: what the configured weights assume, weight(k) ÷ weight(k+1) (won = 1);
- dwell: days from entering a stage to the next stage entry (closing included), finished visits
  only; the stall threshold is the p90 of dwell;
- win rate from stage k: won ÷ closed among closed deals that entered k;
- bottleneck: the stage converting furthest below what its weight implies (cohort ÷ implied < 1; none
  when every stage converts at least as its weight implies), and the stage whose conversion in the
  last `recent_days` fell most against its earlier conversion;
- "snapshot conversion" (`snapshot_conversion`) is a ratio of two stocks of open deals, not a
  conversion: it exceeds 100 % whenever a later stage holds more open deals, and reports say so.
Stage moves use the feature pipeline's definitions (features.deal): a regression is a move back
to an earlier open stage; a forward move skips the open stages between (won counts as the stage
after the last open one; entering lost skips nothing); a hidden deal went from the first stage
straight to won.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.core.times import SECONDS_PER_DAY, to_seconds
from funnelcast.features.firmographics import size_band
from funnelcast.features.history import stage_moves, stage_visits
from funnelcast.features.io import CRMData

GROUPINGS = ("owner", "pipeline", "source", "segment")
ALL = "(all)"
DAY = SECONDS_PER_DAY


@dataclass
class FunnelReport:
    as_of: pd.Timestamp
    by: str | None
    stages: pd.DataFrame
    leads: pd.DataFrame
    loss_reasons: pd.DataFrame
    bottlenecks: pd.DataFrame
    stalled: pd.DataFrame
    skipped: pd.DataFrame
    hidden: pd.DataFrame
    regressed: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            out = frame.copy()
            for col in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[col]):
                    out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat())
            out = out.astype(object).where(out.notna(), None)
            return [
                {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
                for row in out.to_dict(orient="records")
            ]

        return {
            "as_of": self.as_of.isoformat(),
            "by": self.by,
            "stages": records(self.stages),
            "leads": records(self.leads),
            "loss_reasons": records(self.loss_reasons),
            "bottlenecks": records(self.bottlenecks),
            "stalled": records(self.stalled),
            "skipped_stages": records(self.skipped),
            "hidden_deals": records(self.hidden),
            "regressions": records(self.regressed),
            "notes": self.notes,
        }


def _deal_groups(data: CRMData, by: str | None) -> pd.Series:
    opps = data.opportunities
    if by is None:
        values = pd.Series(ALL, index=opps.index)
    elif by in ("owner", "pipeline"):
        values = opps[by]
    elif by == "source":
        values = opps["lead_id"].map(data.leads.drop_duplicates("lead_id").set_index("lead_id")["source"])
        values = values.fillna("(no lead)")
    elif by == "segment":
        employees = opps["account_id"].map(
            data.accounts.drop_duplicates("account_id").set_index("account_id")["employees"]
        )
        values = pd.Series(size_band(employees.to_numpy(dtype=float)), index=opps.index)
    else:
        raise ValueError(f"by must be one of {GROUPINGS}, got {by!r}")
    return pd.Series(
        values.fillna("(unknown)").astype(str).to_numpy(), index=opps["opportunity_id"].to_numpy()
    )


def _lead_groups(data: CRMData, by: str | None) -> pd.Series | None:
    leads = data.leads
    if by is None:
        return pd.Series(ALL, index=leads.index)
    if by in ("owner", "source"):
        return leads[by].fillna("(unknown)").astype(str)
    if by == "segment":
        employees = leads["employees"].to_numpy(dtype=float)
        return pd.Series(size_band(employees), index=leads.index).fillna("(unknown)")
    return None  # leads have no pipeline


def _quantiles(values: pd.Series) -> tuple[float, float]:
    if not len(values):
        return np.nan, np.nan
    med, p90 = np.quantile(values.to_numpy(dtype=float), [0.5, 0.9])
    return float(med), float(p90)


def _visits(data: CRMData, config: AppConfig, as_of_s: int) -> pd.DataFrame:
    known = data.stage_history[to_seconds(data.stage_history["entered_at"]) <= as_of_s]
    visits = stage_visits(known, data.opportunities, config.funnel)
    visits = visits[visits["stage_index"].notna()].reset_index(drop=True)
    stage_i, prev_i, n_open = (visits[c].to_numpy() for c in ("stage_index", "prev_index", "n_open"))
    visits["regression"], visits["skipped"] = stage_moves(stage_i, prev_i, n_open)
    visits["first_to_won"] = (prev_i == 0) & (stage_i == n_open)
    return visits


def _progress_table(visits: pd.DataFrame) -> pd.DataFrame:
    """Per (deal, open stage entered): first entry time and whether a later, further stage was reached."""
    open_v = visits[visits["stage_index"] < visits["n_open"]]
    first = open_v.groupby(["opportunity_id", "stage_index"], as_index=False)["entered_s"].min()
    # the furthest non-lost stage reached after each entry: compare with every later visit of the deal
    later = visits[visits["stage_index"] <= visits["n_open"]][["opportunity_id", "stage_index", "entered_s"]]
    pairs = first.merge(later, on="opportunity_id", suffixes=("", "_later"))
    pairs = pairs[
        (pairs["entered_s_later"] > pairs["entered_s"]) & (pairs["stage_index_later"] > pairs["stage_index"])
    ]
    progressed = pairs.groupby(["opportunity_id", "stage_index"]).size().rename("n").reset_index()
    first = first.merge(progressed, on=["opportunity_id", "stage_index"], how="left")
    first["progressed"] = first["n"].notna()
    return first.drop(columns="n")


def funnel_report(
    data: CRMData,
    config: AppConfig,
    as_of: pd.Timestamp,
    by: str | None = None,
    recent_days: int = 90,
    min_decided: int = 20,
) -> FunnelReport:
    """The funnel as of `as_of` from data known then (see `features.known.known_at`)."""
    as_of_s = int(as_of.value // 10**9)
    opps = data.opportunities[data.opportunities["created_at"] <= as_of].drop_duplicates("opportunity_id")
    data = dataclasses.replace(data, opportunities=opps)
    groups = _deal_groups(data, by)
    outcome = opps.set_index("opportunity_id")["outcome"]
    visits = _visits(data, config, as_of_s)
    visits["group"] = visits["opportunity_id"].map(groups)
    visits["outcome"] = visits["opportunity_id"].map(outcome)
    current = visits.groupby("opportunity_id").tail(1).set_index("opportunity_id")
    progress = _progress_table(visits)
    progress["group"] = progress["opportunity_id"].map(groups)
    progress["outcome"] = progress["opportunity_id"].map(outcome)
    progress["pipeline"] = progress["opportunity_id"].map(opps.set_index("opportunity_id")["pipeline"])
    recent_cut = as_of_s - recent_days * DAY

    open_v = visits[visits["stage_index"] < visits["n_open"]]
    finished = open_v[open_v["left_s"].notna()]
    last_open = open_v.sort_values("entered_s", kind="stable").groupby("opportunity_id")["stage"].last()
    lost_deals = opps[opps["outcome"] == "lost"].copy()
    lost_deals["stage"] = lost_deals["opportunity_id"].map(last_open)
    lost_deals["group"] = lost_deals["opportunity_id"].map(groups)

    group_values = [ALL] if by is None else sorted(set(groups.to_numpy()))
    rows, loss_rows, bottlenecks = [], [], []
    for pipeline in config.funnel.pipelines:
        weights = [s.weight for s in pipeline.stages] + [pipeline.won_stage.weight]
        for g in group_values:
            cur = current[
                (current["pipeline"] == pipeline.key)
                & (current["group"] == g)
                & (current["outcome"] == "open")
            ]
            counts = cur["stage_index"].value_counts()
            prog = progress[(progress["pipeline"] == pipeline.key) & (progress["group"] == g)]
            fin = finished[(finished["pipeline"] == pipeline.key) & (finished["group"] == g)]
            stage_rows = []
            for k, stage in enumerate(pipeline.stages):
                p_k = prog[prog["stage_index"] == k]
                progressed = int(p_k["progressed"].sum())
                dropped = int((~p_k["progressed"] & (p_k["outcome"] == "lost")).sum())
                still_open = int(len(p_k) - progressed - dropped)
                closed = p_k[p_k["outcome"].isin(["won", "lost"])]
                recent = p_k[p_k["entered_s"] > recent_cut]
                before = p_k[p_k["entered_s"] <= recent_cut]
                med, p90 = _quantiles(
                    (
                        fin.loc[fin["stage_index"] == k, "left_s"]
                        - fin.loc[fin["stage_index"] == k, "entered_s"]
                    )
                    / DAY
                )
                now = int(counts.get(float(k), 0))
                prev_now = int(counts.get(float(k - 1), 0)) if k else None
                implied = weights[k] / weights[k + 1] if weights[k + 1] > 0 else np.nan
                cohort = progressed / (progressed + dropped) if progressed + dropped else np.nan
                stage_rows.append(
                    {
                        "pipeline": pipeline.key,
                        "group": g,
                        "stage_index": k,
                        "stage": stage.key,
                        "stage_name": stage.display_name,
                        "weight": stage.weight,
                        "sla_days": stage.sla_days,
                        "open_now": now,
                        "snapshot_conversion": (now / prev_now) if prev_now else np.nan,
                        "entered": int(len(p_k)),
                        "progressed": progressed,
                        "dropped": dropped,
                        "still_open": still_open,
                        "cohort_conversion": cohort,
                        "implied_conversion": implied,
                        "conversion_vs_weights": cohort / implied
                        if implied and np.isfinite(cohort)
                        else np.nan,
                        "conversion_recent": _rate(recent),
                        "conversion_before": _rate(before),
                        "dwell_median_days": med,
                        "dwell_p90_days": p90,
                        "stall_threshold_days": p90,
                        "finished_visits": int((fin["stage_index"] == k).sum()),
                        "win_rate": float((closed["outcome"] == "won").mean()) if len(closed) else np.nan,
                        "closed": int(len(closed)),
                    }
                )
            rows += stage_rows
            frame = pd.DataFrame(stage_rows)
            decided = frame["progressed"] + frame["dropped"]
            # a bottleneck converts below what its weight implies: a stage above it is not one, however
            # little above (when every stage beats its weight, the weights are cautious: no bottleneck)
            ok = frame[(decided >= min_decided) & (frame["conversion_vs_weights"] < 1.0)]
            trend = frame["conversion_recent"] / frame["conversion_before"]
            ok_trend = frame[trend.notna() & (decided >= min_decided)]
            bottlenecks.append(
                {
                    "pipeline": pipeline.key,
                    "group": g,
                    "vs_weights": ok.loc[ok["conversion_vs_weights"].idxmin(), "stage"] if len(ok) else None,
                    "vs_weights_ratio": float(ok["conversion_vs_weights"].min()) if len(ok) else np.nan,
                    "vs_history": (
                        ok_trend.loc[trend[ok_trend.index].idxmin(), "stage"] if len(ok_trend) else None
                    ),
                    "vs_history_ratio": float(trend[ok_trend.index].min()) if len(ok_trend) else np.nan,
                }
            )
            lost_g = lost_deals[(lost_deals["pipeline"] == pipeline.key) & (lost_deals["group"] == g)]
            for (stage, reason), n in (
                lost_g.groupby(
                    [lost_g["stage"].fillna("(none)"), lost_g["loss_reason"].fillna("(not given)")]
                )
                .size()
                .items()
            ):
                loss_rows.append(
                    {
                        "pipeline": pipeline.key,
                        "group": g,
                        "stage": stage,
                        "loss_reason": reason,
                        "deals": int(n),
                    }
                )

    return FunnelReport(
        as_of=as_of,
        by=by,
        stages=pd.DataFrame(rows),
        leads=_lead_conversion(data, config, as_of, by),
        loss_reasons=pd.DataFrame(loss_rows, columns=["pipeline", "group", "stage", "loss_reason", "deals"]),
        bottlenecks=pd.DataFrame(bottlenecks),
        stalled=_stalled(current, _stage_thresholds(finished, config), opps, as_of_s, groups),
        skipped=_path_list(visits, "skipped", opps, groups),
        hidden=_path_list(visits, "first_to_won", opps, groups),
        regressed=_path_list(visits, "regression", opps, groups),
    )


def _stage_thresholds(finished: pd.DataFrame, config: AppConfig) -> pd.DataFrame:
    """Stall threshold (dwell p90 over all deals) and SLA per (pipeline, stage)."""
    dwell = (finished["left_s"] - finished["entered_s"]) / DAY
    p90 = dwell.groupby([finished["pipeline"], finished["stage"]]).quantile(0.9)
    rows = [(p.key, s.key, s.sla_days) for p in config.funnel.pipelines for s in p.stages]
    out = pd.DataFrame(rows, columns=["pipeline", "stage", "sla_days"]).set_index(["pipeline", "stage"])
    out["stall_threshold_days"] = p90.reindex(out.index)
    return out


def _rate(frame: pd.DataFrame) -> float:
    decided = frame["progressed"] | (frame["outcome"] == "lost")
    return float(frame.loc[decided, "progressed"].mean()) if decided.any() else np.nan


def _lead_conversion(data: CRMData, config: AppConfig, as_of: pd.Timestamp, by: str | None) -> pd.DataFrame:
    leads = data.leads[data.leads["created_at"] <= as_of]
    groups = _lead_groups(data, by)
    if groups is None:
        groups = pd.Series(ALL, index=data.leads.index)
    horizon = pd.Timedelta(days=config.leads.horizon_days)
    converted = leads["converted_at"].notna() & (leads["converted_at"] <= as_of)
    days = (leads["converted_at"] - leads["created_at"]).dt.total_seconds() / DAY
    mature = leads["created_at"] <= as_of - horizon
    in_horizon = converted & (days <= config.leads.horizon_days)
    frame = pd.DataFrame(
        {
            "group": groups.reindex(leads.index).to_numpy(),
            "converted": converted,
            "days": days.where(converted),
            "mature": mature,
            "in_horizon": in_horizon & mature,
        }
    )
    rows = []
    for g, part in frame.groupby("group", sort=True):
        med, p90 = _quantiles(part["days"].dropna())
        n_mature = int(part["mature"].sum())
        rows.append(
            {
                "group": g,
                "leads": int(len(part)),
                "converted": int(part["converted"].sum()),
                "conversion": float(part["converted"].mean()),
                "mature_leads": n_mature,
                "conversion_within_horizon": float(part["in_horizon"].sum() / n_mature)
                if n_mature
                else np.nan,
                "days_to_convert_median": med,
                "days_to_convert_p90": p90,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "group",
            "leads",
            "converted",
            "conversion",
            "mature_leads",
            "conversion_within_horizon",
            "days_to_convert_median",
            "days_to_convert_p90",
        ],
    )


def _stalled(
    current: pd.DataFrame, stall: pd.DataFrame, opps: pd.DataFrame, as_of_s: int, groups: pd.Series
) -> pd.DataFrame:
    """Open deals in an open stage longer than its stall threshold or its SLA. With a grouping the
    threshold is still the stage's over all deals: a property of the stage, not of a group's few."""
    cur = current[(current["outcome"] == "open") & (current["stage_index"] < current["n_open"])].reset_index()
    thresholds = stall.reindex(pd.MultiIndex.from_arrays([cur["pipeline"], cur["stage"]]))
    days = (as_of_s - cur["entered_s"].to_numpy()) / DAY
    p90 = thresholds["stall_threshold_days"].to_numpy(dtype=float)
    sla = thresholds["sla_days"].to_numpy(dtype=float)
    late = (days > np.nan_to_num(p90, nan=np.inf)) | (days > np.nan_to_num(sla, nan=np.inf))
    info = opps.set_index("opportunity_id")
    out = pd.DataFrame(
        {
            "opportunity_id": cur["opportunity_id"],
            "pipeline": cur["pipeline"],
            "stage": cur["stage"],
            "days_in_stage": np.round(days, 1),
            "stall_threshold_days": np.round(p90, 1),
            "sla_days": sla,
            "owner": cur["opportunity_id"].map(info["owner"]).to_numpy(),
            "amount": cur["opportunity_id"].map(info["amount"]).to_numpy(),
            "group": cur["opportunity_id"].map(groups).to_numpy(),
        }
    )[late]
    return out.sort_values("days_in_stage", ascending=False, kind="stable").reset_index(drop=True)


def _path_list(visits: pd.DataFrame, flag: str, opps: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Deals with at least one move of the kind `flag`, with how many and when the first happened."""
    hits = visits[visits[flag].astype(float) > 0]
    agg = hits.groupby("opportunity_id").agg(
        moves=(flag, "size"), stages_skipped=("skipped", "sum"), first_at=("entered_s", "min")
    )
    info = opps.set_index("opportunity_id")
    out = pd.DataFrame(
        {
            "opportunity_id": agg.index,
            "pipeline": info["pipeline"].reindex(agg.index).to_numpy(),
            "outcome": info["outcome"].reindex(agg.index).to_numpy(),
            "owner": info["owner"].reindex(agg.index).to_numpy(),
            "moves": agg["moves"].to_numpy(),
            "first_at": pd.to_datetime(agg["first_at"].to_numpy(), unit="s", utc=True),
            "group": groups.reindex(agg.index).to_numpy(),
        }
    )
    if flag == "skipped":
        out.insert(5, "stages_skipped", agg["stages_skipped"].astype(int).to_numpy())
    return out.sort_values("first_at", kind="stable").reset_index(drop=True)


def to_markdown(report: FunnelReport, config: AppConfig) -> str:
    """A short human summary: one table per pipeline (overall group), bottlenecks and the lists' sizes."""
    lines = [f"# Funnel as of {report.as_of:%Y-%m-%d %H:%M} UTC", ""]
    for pipeline in config.funnel.pipelines:
        part = report.stages[(report.stages["pipeline"] == pipeline.key)]
        if part.empty or part["entered"].sum() == 0:
            continue
        for g, frame in part.groupby("group", sort=True):
            title = pipeline.name or pipeline.key
            lines += [
                f"## {title}" + ("" if g == ALL else f" — {report.by} {g}"),
                "",
                "| stage | weight | open now | open now ÷ previous stage* | entered | to next stage "
                "| implied by weights | to won | dwell median / p90 (days) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for _, r in frame.iterrows():
                lines.append(
                    f"| {r['stage_name']} | {r['weight']:.0%} | {r['open_now']} "
                    f"| {_pct(r['snapshot_conversion'])} "
                    f"| {r['entered']} | {_pct(r['cohort_conversion'])} | {_pct(r['implied_conversion'])} "
                    f"| {_pct(r['win_rate'])} (n={r['closed']}) | {_num(r['dwell_median_days'])} / "
                    f"{_num(r['dwell_p90_days'])} |"
                )
            b = report.bottlenecks[
                (report.bottlenecks["pipeline"] == pipeline.key) & (report.bottlenecks["group"] == g)
            ]
            lines += [
                "",
                "*a ratio of open-deal counts between neighbouring stages, not a conversion: it exceeds "
                '100 % when a later stage holds more open deals. "to next stage" and "to won" are shares of '
                "the deals that entered the stage (never above 100 %).",
            ]
            if len(b):
                r = b.iloc[0]
                lines.append(
                    f"Bottleneck against the configured weights: **{r['vs_weights']}** "
                    f"(converts at {r['vs_weights_ratio']:.0%} of what the weights assume)."
                    if r["vs_weights"]
                    else "No stage converts below what the configured weights assume (no bottleneck against "
                    "the weights)."
                )
                if r["vs_history"]:
                    lines.append(
                        f"Largest recent drop against its own history: **{r['vs_history']}** "
                        f"({r['vs_history_ratio']:.0%} of its earlier conversion)."
                    )
            lines.append("")
    leads = report.leads
    if len(leads):
        lines += [
            "## Lead → opportunity",
            "",
            "| group | leads | converted | conversion | within horizon (mature) "
            "| days to convert median / p90 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for _, r in leads.iterrows():
            lines.append(
                f"| {r['group']} | {r['leads']} | {r['converted']} | {_pct(r['conversion'])} | "
                f"{_pct(r['conversion_within_horizon'])} | {_num(r['days_to_convert_median'])} / "
                f"{_num(r['days_to_convert_p90'])} |"
            )
        lines.append("")
    lines += [
        "## Deals to look at",
        "",
        f"- stalled (open, beyond the stall threshold or SLA): {len(report.stalled)}",
        f"- skipped stages: {len(report.skipped)}",
        f"- hidden deals (first stage straight to won): {len(report.hidden)}",
        f"- moved backwards: {len(report.regressed)}",
        "",
    ]
    return "\n".join(lines)


def _pct(v: float) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.0%}"


def _num(v: float) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.0f}"
