"""Deal signals at or before as_of: stage and dwell, path (changes, regressions, skips), close-date
slips, amount changes, activity and contacts, and historical win rates of owner, segment and stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.events import SECONDS_PER_DAY, EventIndex, entity_codes, to_seconds
from features.firmographics import size_band
from features.history import Rates, deal_segment, stage_moves, stage_visits
from features.spec import FeatureSpec
from funnelcast.config import FunnelConfig, LeadsConfig

DAY = SECONDS_PER_DAY
EMAIL_TYPES = ("email_sent", "email_reply", "email_open", "email_click")

SPECS = (
    FeatureSpec("pipeline", "pipeline key", "category", "as captured", "categorical"),
    FeatureSpec("product", "product key", "category", "as captured", "categorical"),
    FeatureSpec("stage", "stage key at as_of", "category", "latest stage entry up to as_of", "categorical"),
    FeatureSpec("industry", "account industry", "category", "as captured", "categorical"),
    FeatureSpec("size_band", "account size band", "category", "as captured", "categorical"),
    FeatureSpec("stage_index", "position of the stage in its pipeline (0 = first open stage)", "index"),
    FeatureSpec("stage_weight", "configured weight of the stage (funnel.yaml)", "probability"),
    FeatureSpec("days_in_stage", "days since the deal entered its current stage", "days"),
    FeatureSpec("dwell_ratio", "days in stage / historical median dwell of that stage", "ratio",
                "dwell of deals that left the stage before as_of's week"),
    FeatureSpec("sla_ratio", "days in stage / the stage's configured SLA days", "ratio, missing without SLA"),
    FeatureSpec("deal_age_days", "days since the deal was created", "days"),
    FeatureSpec("stage_changes", "stage entries after the first", "count"),
    FeatureSpec("regressions", "moves back to an earlier open stage", "count"),
    FeatureSpec("skipped_stages", "open stages jumped over by forward moves", "count"),
    FeatureSpec("jumped_from_first_stage", "1 if the deal left the first stage for a stage two or more ahead",
                "0/1"),
    FeatureSpec("close_date_slips", "times the expected close date was pushed later", "count"),
    FeatureSpec("close_slip_days", "total days the expected close date was pushed", "days"),
    FeatureSpec("days_to_expected_close", "expected close date (as known at as_of) minus as_of",
                "days (negative: overdue)"),
    FeatureSpec("days_overdue", "days past the expected close date, 0 if not overdue", "days"),
    FeatureSpec("amount_log", "log(1 + amount in the base currency as known at as_of)", "log currency"),
    FeatureSpec("amount_change_ratio", "amount at as_of / first recorded amount", "ratio"),
    FeatureSpec("amount_changes", "times the amount was changed", "count"),
    FeatureSpec("activities_7d", "activities on the deal", "count", "last 7 days"),
    FeatureSpec("activities_30d", "activities on the deal", "count", "last 30 days"),
    FeatureSpec("activities_90d", "activities on the deal", "count", "last 90 days"),
    FeatureSpec("calls_30d", "calls on the deal", "count", "last 30 days"),
    FeatureSpec("meetings_30d", "meetings on the deal", "count", "last 30 days"),
    FeatureSpec("emails_30d", "emails sent, opened, clicked or replied on the deal", "count", "last 30 days"),
    FeatureSpec("days_since_last_activity", "days since the latest activity on the deal", "days, missing if none"),
    FeatureSpec("account_activities_90d", "activities logged on the deal's account", "count", "last 90 days"),
    FeatureSpec("engaged_contacts", "distinct contacts with activity on the deal", "count"),
    FeatureSpec("decision_maker_engaged", "1 if a contact in the decision-maker role was engaged", "0/1"),
    FeatureSpec("owner_win_rate", "owner's win rate, smoothed towards the overall rate", "probability",
                "deals closed before as_of's week"),
    FeatureSpec("segment_win_rate", "win rate of the pipeline x company-size segment, smoothed", "probability",
                "deals closed before as_of's week"),
    FeatureSpec("stage_win_rate", "share of closed deals that passed this stage and were won, smoothed",
                "probability", "deals closed before as_of's week"),
)


def _seconds_or_nan(series: pd.Series) -> np.ndarray:
    s = to_seconds(series).astype(float)
    s[s < 0] = np.nan
    return s


def _history_value(hist: pd.DataFrame, value_col: str, universe: pd.Index, q_codes: np.ndarray,
                   q_seconds: np.ndarray, value_seconds: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Latest value at or before as_of, the first value, changes and (for dates) pushes and pushed days."""
    hist = hist.dropna(subset=["changed_at", value_col])
    hist = hist[universe.get_indexer(pd.Index(hist["opportunity_id"])) >= 0]
    codes = entity_codes(hist["opportunity_id"], universe)
    seconds = to_seconds(hist["changed_at"])
    values = _seconds_or_nan(hist[value_col]) if value_seconds else hist[value_col].to_numpy(dtype=float)
    order = np.lexsort((values, seconds, codes))
    codes, seconds, values = codes[order], seconds[order], values[order]
    same = np.r_[False, codes[1:] == codes[:-1]]
    prev = np.r_[np.nan, values[:-1]]
    push = np.where(same, np.maximum(values - prev, 0.0), 0.0)
    changed = np.where(same, (values != prev).astype(float), 0.0)
    idx = EventIndex(codes, seconds, values)  # sorted exactly like ours: positions line up
    last = idx.last_index(q_codes, q_seconds)
    if not len(idx):
        nothing = np.full(len(q_codes), np.nan)
        return nothing, nothing, np.zeros(len(q_codes)), np.zeros((len(q_codes), 2))
    current = np.where(last >= 0, idx.values[np.maximum(last, 0)], np.nan)
    first_pos = np.searchsorted(idx.keys, q_codes << np.int64(32), side="left")
    first = np.where(last >= 0, idx.values[np.minimum(first_pos, max(len(idx) - 1, 0))], np.nan)
    pushes = EventIndex(codes, seconds, (push > 0).astype(float)).total(q_codes, q_seconds)
    pushed = EventIndex(codes, seconds, push).total(q_codes, q_seconds)
    changes = EventIndex(codes, seconds, changed).total(q_codes, q_seconds)
    return current, first, changes, np.c_[pushes, pushed]


def opportunity_features(data, opp_rows: pd.DataFrame, q_seconds: np.ndarray, funnel: FunnelConfig,
                         leads_cfg: LeadsConfig, rates: Rates) -> pd.DataFrame:
    """Deal features for snapshot rows (`opp_rows`: the opportunity row of each snapshot)."""
    universe = pd.Index(data.opportunities["opportunity_id"].drop_duplicates())
    q = entity_codes(opp_rows["opportunity_id"], universe)
    n = len(opp_rows)
    out: dict[str, np.ndarray] = {}

    acc = data.accounts.drop_duplicates("account_id").set_index("account_id")
    employees = acc["employees"].reindex(opp_rows["account_id"].to_numpy()).to_numpy(dtype=float)
    out["pipeline"] = opp_rows["pipeline"].to_numpy(dtype=object)
    out["product"] = opp_rows["product"].to_numpy(dtype=object)

    visits = stage_visits(data.stage_history, data.opportunities, funnel)
    v_codes = entity_codes(visits["opportunity_id"], universe)
    v_index = EventIndex(v_codes, visits["entered_s"].to_numpy(), visits["stage_index"].to_numpy())
    last = v_index.last_index(q, q_seconds)
    has = last >= 0
    safe = np.maximum(last, 0)
    stage_idx = np.where(has, v_index.values[safe], np.nan) if len(v_index) else np.full(n, np.nan)
    entered = np.where(has, v_index.seconds[safe], -1) if len(v_index) else np.full(n, -1)
    keys = {p.key: p.stage_keys for p in funnel.pipelines}
    weights = {p.key: [s.weight for s in p.all_stages] for p in funnel.pipelines}
    slas = {p.key: [s.sla_days or np.nan for s in p.all_stages] for p in funnel.pipelines}
    stage = np.full(n, None, dtype=object)
    weight, sla = np.full(n, np.nan), np.full(n, np.nan)
    for key in keys:  # one pass per configured pipeline
        sel = has & (out["pipeline"] == key)
        pos = stage_idx[sel].astype(int)
        stage[sel] = np.array(keys[key], dtype=object)[pos]
        weight[sel] = np.array(weights[key])[pos]
        sla[sel] = np.array(slas[key])[pos]
    out["stage"] = stage
    out["industry"] = acc["industry"].reindex(opp_rows["account_id"].to_numpy()).to_numpy(dtype=object)
    out["size_band"] = size_band(employees)
    out["stage_index"] = stage_idx
    out["stage_weight"] = weight
    days_in_stage = np.where(has, (q_seconds - entered) / DAY, np.nan)
    out["days_in_stage"] = days_in_stage

    ref = rates.reference_for(q_seconds)
    lookup = pd.DataFrame({"ref": ref, "pipeline": out["pipeline"], "stage": stage})
    dwell = lookup.merge(rates.stage_dwell, on=["ref", "pipeline", "stage"], how="left")
    out["dwell_ratio"] = days_in_stage / dwell["dwell_median_days"].to_numpy()
    out["sla_ratio"] = days_in_stage / sla
    out["deal_age_days"] = (q_seconds - to_seconds(opp_rows["created_at"])) / DAY

    stage_i, prev_i, n_open = (visits[c].to_numpy() for c in ("stage_index", "prev_index", "n_open"))
    regress, skipped = stage_moves(stage_i, prev_i, n_open)
    jumped = (prev_i == 0) & (stage_i >= 2) & (stage_i != n_open + 1)  # entering lost is no jump
    entered_s = visits["entered_s"].to_numpy()
    out["stage_changes"] = np.maximum(v_index.count(q, q_seconds) - 1, 0)
    out["regressions"] = EventIndex(v_codes, entered_s, regress.astype(float)).total(q, q_seconds)
    out["skipped_stages"] = EventIndex(v_codes, entered_s, skipped).total(q, q_seconds)
    out["jumped_from_first_stage"] = (EventIndex(v_codes, entered_s, jumped.astype(float)).total(q, q_seconds) > 0
                                      ).astype(float)

    expected, _, _, slips = _history_value(data.close_date_history, "expected_close_date", universe, q, q_seconds,
                                           value_seconds=True)
    # without any history for a deal, the opportunity's own (current) value is all there is
    no_hist = ~opp_rows["opportunity_id"].isin(data.close_date_history["opportunity_id"]).to_numpy()
    expected = np.where(no_hist, _seconds_or_nan(opp_rows["expected_close_date"]), expected)
    out["close_date_slips"] = slips[:, 0]
    out["close_slip_days"] = slips[:, 1] / DAY
    out["days_to_expected_close"] = (expected - q_seconds) / DAY
    out["days_overdue"] = np.where(np.isnan(expected), np.nan, np.maximum(q_seconds - expected, 0) / DAY)

    amount, first_amount, changes, _ = _history_value(data.amount_history, "amount", universe, q, q_seconds,
                                                      value_seconds=False)
    no_amount_hist = ~opp_rows["opportunity_id"].isin(data.amount_history["opportunity_id"]).to_numpy()
    amount = np.where(no_amount_hist, opp_rows["amount"].to_numpy(dtype=float), amount)
    first_amount = np.where(no_amount_hist, amount, first_amount)
    rate = opp_rows["currency"].str.upper().map(leads_cfg.currency_rates).to_numpy(dtype=float)
    out["amount_log"] = np.log1p(amount * rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["amount_change_ratio"] = np.where(first_amount > 0, amount / first_amount, np.nan)
    out["amount_changes"] = np.where(no_amount_hist, 0.0, changes)

    acts = data.activities
    deal_acts = acts[acts["entity_type"] == "opportunity"]
    a_codes = entity_codes(deal_acts["entity_id"], universe)
    a_seconds = to_seconds(deal_acts["occurred_at"])
    a_types = deal_acts["type"].to_numpy()
    all_acts = EventIndex(a_codes, a_seconds)
    for w in (7, 30, 90):
        out[f"activities_{w}d"] = all_acts.count(q, q_seconds, w * DAY)
    for name, types in (("calls_30d", ("call",)), ("meetings_30d", ("meeting",)), ("emails_30d", EMAIL_TYPES)):
        sel = np.isin(a_types, types)
        out[name] = EventIndex(a_codes[sel], a_seconds[sel]).count(q, q_seconds, 30 * DAY)
    last_act = all_acts.last_seconds(q, q_seconds)
    out["days_since_last_activity"] = np.where(last_act >= 0, (q_seconds - last_act) / DAY, np.nan)
    account_universe = pd.Index(data.accounts["account_id"].drop_duplicates())
    acc_acts = acts[acts["entity_type"] == "account"]
    acc_index = EventIndex(entity_codes(acc_acts["entity_id"], account_universe), to_seconds(acc_acts["occurred_at"]))
    out["account_activities_90d"] = acc_index.count(entity_codes(opp_rows["account_id"], account_universe), q_seconds,
                                                    90 * DAY)

    contact_first, dm_first = _first_contact_flags(deal_acts, a_codes, a_seconds)
    out["engaged_contacts"] = EventIndex(a_codes, a_seconds, contact_first).total(q, q_seconds)
    out["decision_maker_engaged"] = (EventIndex(a_codes, a_seconds, dm_first).total(q, q_seconds) > 0).astype(float)

    owner = pd.DataFrame({"ref": ref, "owner": opp_rows["owner"].to_numpy(dtype=object)})
    out["owner_win_rate"] = _rate(owner, rates.owner_win, ["ref", "owner"], rates, ref)
    segment = pd.DataFrame({"ref": ref, "segment": deal_segment(opp_rows["pipeline"], employees)})
    out["segment_win_rate"] = _rate(segment, rates.segment_win, ["ref", "segment"], rates, ref)
    out["stage_win_rate"] = _rate(lookup, rates.stage_win, ["ref", "pipeline", "stage"], rates, ref)
    return pd.DataFrame(out)


def _rate(keys: pd.DataFrame, table: pd.DataFrame, on: list[str], rates: Rates, ref: np.ndarray) -> np.ndarray:
    """Smoothed rate for each key; a key never seen before gets the overall rate at that reference."""
    found = keys.merge(table[[*on, "win_rate"]], on=on, how="left")["win_rate"].to_numpy(dtype=float)
    overall = pd.Series(rates.overall_win["win_rate"].to_numpy(), index=rates.overall_win["ref"]).reindex(ref)
    return np.where(np.isnan(found), overall.to_numpy(dtype=float), found)


def _first_contact_flags(deal_acts: pd.DataFrame, codes: np.ndarray, seconds: np.ndarray):
    """1 on the earliest activity of each (deal, contact), and of each deal's first decision-maker touch."""
    contact = deal_acts["contact_id"].to_numpy(dtype=object)
    frame = pd.DataFrame({"c": codes, "s": seconds, "contact": contact,
                          "dm": (deal_acts["contact_role"] == "decision_maker").to_numpy()})
    frame = frame.sort_values(["c", "s", "contact"], kind="stable", na_position="last")
    first_contact = frame["contact"].notna() & ~frame.duplicated(["c", "contact"])
    dm_rows = frame[frame["dm"]]
    first_dm = pd.Series(False, index=frame.index)
    first_dm[dm_rows.index[~dm_rows.duplicated(["c"])]] = True
    return (first_contact.reindex(range(len(frame))).to_numpy(dtype=float),
            first_dm.reindex(range(len(frame))).to_numpy(dtype=float))
