"""Deal signals at or before as_of: stage and dwell, path (changes, regressions, skips), close-date
slips, amount changes, activity and contacts, and historical win rates of owner, segment and stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from funnelcast.core.config import FunnelConfig, LeadsConfig
from funnelcast.features.arrays import lookup, upper
from funnelcast.features.custom import Declarations, custom_features
from funnelcast.features.events import SECONDS_PER_DAY, EventIndex
from funnelcast.features.firmographics import size_band
from funnelcast.features.history import Rates, deal_segment, stage_moves, stage_path, stage_positions
from funnelcast.features.spec import FeatureSpec

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
    FeatureSpec(
        "dwell_ratio",
        "days in stage / historical median dwell of that stage",
        "ratio",
        "dwell of deals that left the stage before as_of's week",
    ),
    FeatureSpec("sla_ratio", "days in stage / the stage's configured SLA days", "ratio, missing without SLA"),
    FeatureSpec("deal_age_days", "days since the deal was created", "days"),
    FeatureSpec("stage_changes", "stage entries after the first", "count"),
    FeatureSpec("regressions", "moves back to an earlier open stage", "count"),
    FeatureSpec("skipped_stages", "open stages jumped over by forward moves", "count"),
    FeatureSpec(
        "jumped_from_first_stage", "1 if the deal left the first stage for a stage two or more ahead", "0/1"
    ),
    FeatureSpec("close_date_slips", "times the expected close date was pushed later", "count"),
    FeatureSpec("close_slip_days", "total days the expected close date was pushed", "days"),
    FeatureSpec(
        "days_to_expected_close",
        "expected close date (as known at as_of) minus as_of",
        "days (negative: overdue)",
    ),
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
    FeatureSpec(
        "days_since_last_activity", "days since the latest activity on the deal", "days, missing if none"
    ),
    FeatureSpec("account_activities_90d", "activities logged on the deal's account", "count", "last 90 days"),
    FeatureSpec("engaged_contacts", "distinct contacts with activity on the deal", "count"),
    FeatureSpec("decision_maker_engaged", "1 if a contact in the decision-maker role was engaged", "0/1"),
    FeatureSpec(
        "owner_win_rate",
        "owner's win rate, smoothed towards the overall rate",
        "probability",
        "deals closed before as_of's week",
    ),
    FeatureSpec(
        "segment_win_rate",
        "win rate of the pipeline x company-size segment, smoothed",
        "probability",
        "deals closed before as_of's week",
    ),
    FeatureSpec(
        "stage_win_rate",
        "share of closed deals that passed this stage and were won, smoothed",
        "probability",
        "deals closed before as_of's week",
    ),
)


@dataclass(frozen=True)
class Changes:
    """Timed rows of a deal's history (stage entries, close-date or amount changes) as columns: deal
    code (position in the universe), UTC unix seconds, and the value (a stage key as text, a date in
    unix seconds as float, an amount)."""

    codes: np.ndarray
    seconds: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls, dtype=np.float64) -> Changes:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, dtype=dtype))


@dataclass(frozen=True)
class DealActivities:
    """A deal's activities: deal code, seconds, type, contact id and contact role (text, None missing)."""

    codes: np.ndarray
    seconds: np.ndarray
    types: np.ndarray
    contacts: np.ndarray
    roles: np.ndarray

    @classmethod
    def empty(cls) -> DealActivities:
        z = np.zeros(0, np.int64)
        return cls(z, z, np.zeros(0, object), np.zeros(0, object), np.zeros(0, object))


@dataclass(frozen=True)
class DealInputs:
    """Everything the deal features read, as arrays.

    `deals` holds one value per deal of the universe (`pipeline`, `product`, `owner`, `currency`,
    `industry` and `employees` of its account, `amount`, `created_s`, `expected_close_s`);
    `entity` and `as_of_s` one per query (a deal may be asked at many times). Histories and
    activities refer to deals by their position in the universe; `account_activities` to accounts
    by `account` (per deal, -1: none)."""

    deals: Mapping[str, np.ndarray]
    entity: np.ndarray
    as_of_s: np.ndarray
    stages: Changes
    close_dates: Changes
    amounts: Changes
    activities: DealActivities
    account: np.ndarray
    account_activities: Changes
    declarations: Declarations = ()
    custom: Mapping[str, np.ndarray] = field(default_factory=dict)  # per query, by attribute name
    account_custom: Mapping[str, np.ndarray] = field(default_factory=dict)


def _latest(
    changes: Changes, n_deals: int, q: np.ndarray, q_s: np.ndarray, pushes: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From a value's change history: the latest value at or before as_of, the first value, how many
    changes, pushes and pushed amount (for dates), and whether the deal has any history at all."""
    keep = (changes.codes >= 0) & (changes.seconds >= 0) & ~np.isnan(changes.values)
    codes, seconds, values = changes.codes[keep], changes.seconds[keep], changes.values[keep]
    tracked = np.bincount(codes, minlength=n_deals)[q] > 0 if n_deals else np.zeros(len(q), bool)
    order = np.lexsort((values, seconds, codes))
    codes, seconds, values = codes[order], seconds[order], values[order]
    same = np.r_[False, codes[1:] == codes[:-1]] if len(codes) else np.zeros(0, bool)
    prev = np.r_[np.nan, values[:-1]] if len(values) else values
    push = np.where(same, np.maximum(values - prev, 0.0), 0.0) if pushes else np.zeros(len(values))
    changed = np.where(same, (values != prev).astype(float), 0.0)
    idx = EventIndex(codes, seconds, values)  # sorted exactly like ours: positions line up
    if not len(idx):
        nothing = np.full(len(q), np.nan)
        return nothing, nothing, np.zeros(len(q)), np.zeros(len(q)), np.zeros(len(q)), tracked
    last = idx.last_index(q, q_s)
    current = np.where(last >= 0, idx.values[np.maximum(last, 0)], np.nan)
    first_pos = np.searchsorted(idx.keys, q << np.int64(32), side="left")
    first = np.where(last >= 0, idx.values[np.minimum(first_pos, len(idx) - 1)], np.nan)
    total = EventIndex(codes, seconds, changed).total(q, q_s)
    n_pushes = EventIndex(codes, seconds, (push > 0).astype(float)).total(q, q_s)
    pushed = EventIndex(codes, seconds, push).total(q, q_s)
    return current, first, total, n_pushes, pushed, tracked


def _first_contacts(acts: DealActivities) -> tuple[np.ndarray, np.ndarray]:
    """1 on the earliest activity of each (deal, contact), and on each deal's first decision-maker touch."""
    n = len(acts.codes)
    contact, _ = pd.factorize(acts.contacts)  # -1 for a missing contact
    order = np.lexsort((np.where(contact < 0, np.iinfo(np.int64).max, contact), acts.seconds, acts.codes))
    first_contact = np.zeros(n)
    pair = acts.codes[order] * (int(contact.max(initial=0)) + 2) + contact[order]
    _, at = np.unique(pair, return_index=True)
    rows = order[at]
    first_contact[rows[contact[rows] >= 0]] = 1.0
    first_dm = np.zeros(n)
    dm = order[acts.roles[order] == "decision_maker"]
    _, at = np.unique(acts.codes[dm], return_index=True)
    first_dm[dm[at]] = 1.0
    return first_contact, first_dm


def deal_features(
    inputs: DealInputs, funnel: FunnelConfig, leads_cfg: LeadsConfig, rates: Rates
) -> dict[str, np.ndarray]:
    """Every opportunity_v1 feature for each query (deal, as_of): only stage, history and activity rows
    at or before as_of count; historical rates come from `rates` (the week of as_of). Training
    snapshots, bulk scoring and every API request call this one definition."""
    deals, q, q_s = inputs.deals, inputs.entity, inputs.as_of_s
    n, n_deals = len(q), len(deals["pipeline"])
    out: dict[str, np.ndarray] = {}
    pipeline = deals["pipeline"][q]
    employees = deals["employees"][q]
    out["pipeline"] = pipeline
    out["product"] = deals["product"][q]

    # the stage path: position of every entry in its deal's pipeline, in (deal, time, stage) order
    st = inputs.stages
    entry_pipeline = (
        np.where(st.codes >= 0, deals["pipeline"][np.maximum(st.codes, 0)], None)
        if n_deals
        else np.full(len(st.codes), None, dtype=object)
    )
    entry_index, entry_open = stage_positions(entry_pipeline, st.values, funnel)
    order, prev_i, _ = stage_path(st.codes, st.seconds, entry_index)
    v_codes, v_seconds, stage_i, n_open = (
        st.codes[order],
        st.seconds[order],
        entry_index[order],
        entry_open[order],
    )
    visits = EventIndex(v_codes, v_seconds, stage_i)
    last = visits.last_index(q, q_s)
    has = last >= 0
    safe = np.maximum(last, 0)
    stage_idx = np.where(has, visits.values[safe], np.nan) if len(visits) else np.full(n, np.nan)
    entered = np.where(has, visits.seconds[safe], -1) if len(visits) else np.full(n, -1)
    stage = np.full(n, None, dtype=object)
    weight, sla = np.full(n, np.nan), np.full(n, np.nan)
    for p in funnel.pipelines:  # one pass per configured pipeline
        sel = has & (pipeline == p.key) & ~np.isnan(stage_idx)
        pos = stage_idx[sel].astype(int)
        stage[sel] = np.array(p.stage_keys, dtype=object)[pos]
        weight[sel] = np.array([s.weight for s in p.all_stages])[pos]
        sla[sel] = np.array([s.sla_days or np.nan for s in p.all_stages])[pos]
    out["stage"] = stage
    out["industry"] = deals["industry"][q]
    out["size_band"] = size_band(employees)
    out["stage_index"] = stage_idx
    out["stage_weight"] = weight
    days_in_stage = np.where(has, (q_s - entered) / DAY, np.nan)
    out["days_in_stage"] = days_in_stage

    ref = rates.reference_position(q_s)
    out["dwell_ratio"] = days_in_stage / rates.value("stage_dwell", "dwell_median_days", ref, pipeline, stage)
    out["sla_ratio"] = days_in_stage / sla
    out["deal_age_days"] = (q_s - deals["created_s"][q]) / DAY

    regress, skipped = stage_moves(stage_i, prev_i, n_open)
    jumped = (prev_i == 0) & (stage_i >= 2) & (stage_i != n_open + 1)  # entering lost is no jump
    out["stage_changes"] = np.maximum(visits.count(q, q_s) - 1, 0)
    out["regressions"] = EventIndex(v_codes, v_seconds, regress.astype(float)).total(q, q_s)
    out["skipped_stages"] = EventIndex(v_codes, v_seconds, skipped).total(q, q_s)
    out["jumped_from_first_stage"] = (
        EventIndex(v_codes, v_seconds, jumped.astype(float)).total(q, q_s) > 0
    ).astype(float)

    expected, _, _, slips, slip_s, tracked = _latest(inputs.close_dates, n_deals, q, q_s, pushes=True)
    # without any history for a deal, the opportunity's own (current) value is all there is
    own_close = deals["expected_close_s"][q].astype(float)
    expected = np.where(tracked, expected, np.where(own_close >= 0, own_close, np.nan))
    out["close_date_slips"] = slips
    out["close_slip_days"] = slip_s / DAY
    out["days_to_expected_close"] = (expected - q_s) / DAY
    out["days_overdue"] = np.where(np.isnan(expected), np.nan, np.maximum(q_s - expected, 0) / DAY)

    amount, first_amount, changes, _, _, tracked = _latest(inputs.amounts, n_deals, q, q_s, pushes=False)
    own_amount = deals["amount"][q]
    amount = np.where(tracked, amount, own_amount)
    first_amount = np.where(tracked, first_amount, amount)
    rate = lookup(upper(deals["currency"][q]), leads_cfg.currency_rates)
    out["amount_log"] = np.log1p(amount * rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["amount_change_ratio"] = np.where(first_amount > 0, amount / first_amount, np.nan)
    out["amount_changes"] = np.where(tracked, changes, 0.0)

    acts = inputs.activities
    everything = EventIndex(acts.codes, acts.seconds)
    for w in (7, 30, 90):
        out[f"activities_{w}d"] = everything.count(q, q_s, w * DAY)
    for name, types in (
        ("calls_30d", ("call",)),
        ("meetings_30d", ("meeting",)),
        ("emails_30d", EMAIL_TYPES),
    ):
        sel = lookup(acts.types, dict.fromkeys(types, 1.0), default=0.0) > 0
        out[name] = EventIndex(acts.codes[sel], acts.seconds[sel]).count(q, q_s, 30 * DAY)
    last_act = everything.last_seconds(q, q_s)
    out["days_since_last_activity"] = np.where(last_act >= 0, (q_s - last_act) / DAY, np.nan)
    acc = inputs.account_activities
    out["account_activities_90d"] = EventIndex(acc.codes, acc.seconds).count(inputs.account[q], q_s, 90 * DAY)

    contact_first, dm_first = _first_contacts(acts)
    out["engaged_contacts"] = EventIndex(acts.codes, acts.seconds, contact_first).total(q, q_s)
    out["decision_maker_engaged"] = (EventIndex(acts.codes, acts.seconds, dm_first).total(q, q_s) > 0).astype(
        float
    )

    out["owner_win_rate"] = rates.win_rate("owner_win", ref, deals["owner"][q])
    out["segment_win_rate"] = rates.win_rate("segment_win", ref, deal_segment(pipeline, employees))
    out["stage_win_rate"] = rates.win_rate("stage_win", ref, pipeline, stage)
    if inputs.declarations:
        out.update(
            custom_features(inputs.declarations, "opportunities", inputs.custom, inputs.account_custom, n)
        )
    return out
