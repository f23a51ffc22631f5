"""Funnel statistics of a generated data set, computed straight from the frames (test helper)."""

import pandas as pd
from sklearn.metrics import roc_auc_score


def funnel_stats(
    frames: dict[str, pd.DataFrame],
    truth: dict[str, pd.DataFrame],
    funnel,
    horizon_days: int,
    export_time: pd.Timestamp,
) -> dict[str, float]:
    leads, opps, stages = frames["leads"], frames["opportunities"], frames["stage_history"]
    index = {(p.key, s.key): i for p in funnel.pipelines for i, s in enumerate(p.all_stages)}
    n_open = {p.key: len(p.stages) for p in funnel.pipelines}
    st = stages.merge(opps[["opportunity_id", "pipeline", "outcome"]], on="opportunity_id")
    st = st.sort_values(["opportunity_id", "entered_at"], kind="stable")
    st["idx"] = [index[(p, s)] for p, s in zip(st["pipeline"], st["stage"], strict=True)]
    st["open_n"] = st["pipeline"].map(n_open)
    st["prev"] = st.groupby("opportunity_id")["idx"].shift()
    open_rows = st[st["idx"] < st["open_n"]]
    regressed = open_rows[open_rows["idx"] < open_rows["prev"]]["opportunity_id"].unique()
    jump = st[(st["idx"] > st["prev"] + 1) & (st["idx"] < st["open_n"])]["opportunity_id"].unique()
    per_deal = st.groupby("opportunity_id").agg(
        n=("idx", "size"), last=("idx", "last"), open_n=("open_n", "first")
    )
    won = opps[opps["outcome"] == "won"]["opportunity_id"]
    hidden = per_deal.loc[won][(per_deal.loc[won, "n"] == 2)]
    st["next_at"] = st.groupby("opportunity_id")["entered_at"].shift(-1)
    dwell = (st["next_at"] - st["entered_at"]).dt.total_seconds() / 86400
    st["dwell"] = dwell
    med = st[st["idx"] < st["open_n"]].groupby("idx")["dwell"].median()
    stalled = st[(st["idx"] < st["open_n"]) & (st["dwell"] > 3 * st["idx"].map(med))][
        "opportunity_id"
    ].unique()
    closed = opps["outcome"].isin(["won", "lost"])

    labelled = leads["created_at"] + pd.Timedelta(days=horizon_days) <= export_time
    conv_h = (leads["converted_at"] - leads["created_at"]).dt.days.le(horizon_days) & leads[
        "converted_at"
    ].notna()
    p = truth["leads"].set_index("lead_id")[f"p_convert_{horizon_days}d"].reindex(leads["lead_id"]).to_numpy()
    opp_truth = truth["opportunities"].set_index("opportunity_id")["p_win"]
    return {
        "lead_conversion_rate": float(leads["converted_at"].notna().mean()),
        "win_rate_closed": float((opps["outcome"][closed] == "won").mean()),
        "hidden_share_of_won": len(hidden) / max(len(won), 1),
        "regression_share": len(regressed) / len(opps),
        "skipped_share": len(jump) / len(opps),
        "stalled_share": len(stalled) / len(opps),
        "open_share": float((opps["outcome"] == "open").mean()),
        "lead_truth_auc": float(roc_auc_score(conv_h[labelled], p[labelled.to_numpy()])),
        "win_truth_auc": float(
            roc_auc_score(opps["outcome"][closed] == "won", opp_truth.reindex(opps["opportunity_id"][closed]))
        ),
    }
