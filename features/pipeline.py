"""Build lead and opportunity features as of timestamps: the one implementation behind training
snapshots (many entities x many as_of times) and API requests (a few records at one as_of).

Feature sets are named and versioned. A model records its feature set; serving refuses a model
whose feature set is not defined here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import bant, behaviour, custom, deal, firmographics
from features.events import entity_codes, to_seconds
from features.history import Rates, compute_rates, week_start
from features.io import CRMData
from features.spec import FeatureSet
from funnelcast.config import AppConfig, BehaviourConfig

LEAD_KEY, OPPORTUNITY_KEY = "lead_id", "opportunity_id"


def lead_feature_set(cfg: BehaviourConfig) -> FeatureSet:
    return FeatureSet("lead_v1", "lead", bant.SPECS + firmographics.SPECS + behaviour.specs(cfg))


OPPORTUNITY_V1 = FeatureSet("opportunity_v1", "opportunity", deal.SPECS)


def feature_set(name: str, config: AppConfig, custom_attributes: pd.DataFrame | None = None,
                include_leaky: bool = False) -> FeatureSet:
    """The feature set of that name, plus the data's declared custom attributes (leaky ones only when
    asked); a clear error for a name this code does not know."""
    known = {"lead_v1": lead_feature_set(config.leads.behaviour), "opportunity_v1": OPPORTUNITY_V1}
    if name not in known:
        raise KeyError(f"unknown feature set {name!r}; this version knows {sorted(known)}")
    base = known[name]
    if custom_attributes is None or custom_attributes.empty:
        return base
    own = "leads" if base.entity == "lead" else "opportunities"
    return FeatureSet(base.name, base.entity, base.specs + custom.custom_specs(custom_attributes, own, include_leaky))


def _as_of_seconds(snapshots: pd.DataFrame) -> np.ndarray:
    as_of = snapshots["as_of"]
    if not isinstance(as_of.dtype, pd.DatetimeTZDtype):
        as_of = pd.to_datetime(as_of, utc=True)
    return to_seconds(as_of.dt.floor("s"))


def _snapshot_codes(snapshots: pd.DataFrame, entities: pd.DataFrame, key: str, label: str
                    ) -> tuple[pd.Index, np.ndarray]:
    """The entity universe and each snapshot's position in it; unknown entities raise."""
    universe = pd.Index(entities[key])
    codes = entity_codes(snapshots[key], universe)
    if (codes < 0).any():
        missing = snapshots[key][codes < 0].unique()[:5].tolist()
        raise KeyError(f"snapshots name {label} that are not in the data: {missing}")
    return universe, codes


def build_lead_features(data: CRMData, snapshots: pd.DataFrame, config: AppConfig) -> pd.DataFrame:
    """Features of `lead_v1` for each snapshot row (`lead_id`, `as_of`), in snapshot order.

    Only activities with timestamp <= as_of count; outcome columns are never read. One output row
    per snapshot row; a lead unknown to `data` raises.

    Examples
    --------
    >>> snaps = pd.DataFrame({"lead_id": ["L0000001"], "as_of": [pd.Timestamp("2024-06-01", tz="UTC")]})
    >>> build_lead_features(data, snaps, config).shape  # doctest: +SKIP
    (1, 70)
    """
    leads_all = data.leads.drop_duplicates(LEAD_KEY)
    universe, q = _snapshot_codes(snapshots, leads_all, LEAD_KEY, "leads")
    q_seconds = _as_of_seconds(snapshots)
    leads = firmographics.with_account_fallback(leads_all, data.accounts).iloc[q].reset_index(drop=True)
    cfg = config.leads
    acts = data.activities[data.activities["entity_type"] == "lead"]
    account_universe = pd.Index(data.accounts["account_id"].drop_duplicates())
    account_acts = data.activities[data.activities["entity_type"] == "account"]
    account_acts = account_acts.assign(_code=entity_codes(account_acts["entity_id"], account_universe))
    parts = [
        bant.lead_bant(leads, q_seconds.astype(float), cfg),
        firmographics.lead_firmographics(leads, q_seconds.astype(float)),
        behaviour.behaviour_features(acts, universe, q, q_seconds, cfg.behaviour, account_acts,
                                     entity_codes(leads["account_id"], account_universe)),
    ]
    if len(data.custom_attributes):
        parts.append(custom.custom_features(data.custom_attributes, "leads", leads, data.accounts))
    features = pd.concat(parts, axis=1)
    return _finish(features, feature_set("lead_v1", config, data.custom_attributes, include_leaky=True), snapshots)


def snapshot_rates(data: CRMData, snapshots: pd.DataFrame, config: AppConfig) -> Rates:
    """Point-in-time historical statistics for the weeks the snapshots fall in (training path)."""
    refs = np.unique(week_start(_as_of_seconds(snapshots)))
    return compute_rates(data.opportunities, data.stage_history, data.accounts, config.funnel, refs)


def build_opportunity_features(data: CRMData, snapshots: pd.DataFrame, config: AppConfig,
                               rates: Rates | None = None) -> pd.DataFrame:
    """Features of `opportunity_v1` for each snapshot row (`opportunity_id`, `as_of`), in order.

    Only stage, history and activity rows at or before as_of count. Historical rates come from
    `rates` (a model's frozen table when serving), else are computed point in time from `data`.
    """
    opps = data.opportunities.drop_duplicates(OPPORTUNITY_KEY)
    _, q = _snapshot_codes(snapshots, opps, OPPORTUNITY_KEY, "opportunities")
    q_seconds = _as_of_seconds(snapshots)
    rates = rates if rates is not None else snapshot_rates(data, snapshots, config)
    rows = opps.iloc[q].reset_index(drop=True)
    features = deal.opportunity_features(data, rows, q_seconds, config.funnel, config.leads, rates)
    if len(data.custom_attributes):
        features = pd.concat([features, custom.custom_features(data.custom_attributes, "opportunities", rows,
                                                               data.accounts).set_axis(features.index)], axis=1)
    return _finish(features, feature_set("opportunity_v1", config, data.custom_attributes, include_leaky=True),
                   snapshots)


def _finish(features: pd.DataFrame, fset: FeatureSet, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Columns in feature-set order; categoricals as text, numbers as float64 (missing stays missing)."""
    produced, declared = list(features.columns), fset.columns
    if sorted(produced) != sorted(declared):
        raise AssertionError(f"{fset.name}: produced {sorted(set(produced) ^ set(declared))} differ from the spec")
    numeric = features[fset.numeric].astype("float64")  # one pass over all numeric columns
    text = {c: features[c].astype("str").where(features[c].notna()) for c in fset.categorical}
    out = pd.concat([numeric, pd.DataFrame(text, index=features.index)], axis=1)[declared]
    out.index = snapshots.index
    return out
