"""The pandas edge of the features: a CRM data set (`CRMData`) and snapshots (entity, as_of) in,
the feature functions' array inputs out, and their results back as a typed frame. Training
snapshots, bulk scoring, analytics and the MLflow pyfunc come through here; the API builds the same
inputs from its requests (funnelcast.serving.inputs). No feature is computed in this module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.core.times import to_seconds
from funnelcast.features.arrays import positions, text
from funnelcast.features.behaviour import Events
from funnelcast.features.custom import declared
from funnelcast.features.deal import Changes, DealActivities, DealInputs, deal_features
from funnelcast.features.history import Rates, compute_rates, week_start
from funnelcast.features.io import CRMData
from funnelcast.features.lead import LeadInputs, lead_features
from funnelcast.features.schema import CUSTOM_PREFIX
from funnelcast.features.sets import feature_set
from funnelcast.features.spec import FeatureSet

LEAD_KEY, OPPORTUNITY_KEY = "lead_id", "opportunity_id"


def declarations(custom_attributes: pd.DataFrame | None) -> list[dict]:
    """The custom attribute declarations of a data set as plain dicts."""
    if custom_attributes is None or custom_attributes.empty:
        return []
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in custom_attributes.to_dict(orient="records")
    ]


def as_of_seconds(snapshots: pd.DataFrame) -> np.ndarray:
    as_of = snapshots["as_of"]
    if not isinstance(as_of.dtype, pd.DatetimeTZDtype):
        as_of = pd.to_datetime(as_of, utc=True)
    return to_seconds(as_of)


def _codes(ids: pd.Series, universe: pd.Index, label: str) -> np.ndarray:
    """Each snapshot's position in the entity universe; unknown entities raise."""
    codes = positions(ids, universe)
    if (codes < 0).any():
        missing = ids[codes < 0].unique()[:5].tolist()
        raise KeyError(f"snapshots name {label} that are not in the data: {missing}")
    return codes


def _gather(frame: pd.DataFrame, column: str, rows: np.ndarray, number: bool = False) -> np.ndarray:
    """frame[column] at positions `rows` (-1: missing)."""
    values = (
        frame[column].to_numpy(dtype=float if number else object)
        if column in frame
        else np.full(len(frame), np.nan if number else None, dtype=float if number else object)
    )
    if not number:
        values = text(values)
    missing = np.nan if number else None
    if not len(values):
        return np.full(len(rows), missing, dtype=float if number else object)
    out = values[np.maximum(rows, 0)]
    out[rows < 0] = missing
    return out


def _custom(decls: list[dict], entity: str, frame: pd.DataFrame, rows: np.ndarray) -> dict[str, np.ndarray]:
    return {
        d["name"]: _gather(frame, CUSTOM_PREFIX + d["name"], rows, number=d["kind"] == "number")
        for d in declared(decls, entity)
    }


def lead_inputs(data: CRMData, snapshots: pd.DataFrame) -> LeadInputs:
    """The lead features' inputs for snapshot rows (`lead_id`, `as_of`); an unknown lead raises."""
    leads = data.leads.drop_duplicates(LEAD_KEY).reset_index(drop=True)
    universe = pd.Index(leads[LEAD_KEY])
    q = _codes(snapshots[LEAD_KEY], universe, "leads")
    accounts = data.accounts.drop_duplicates("account_id").reset_index(drop=True)
    account_ids = pd.Index(accounts["account_id"])
    account = positions(leads["account_id"], account_ids)[q]
    columns = {
        name: _gather(leads, name, q)
        for name in (
            "industry",
            "region",
            "source",
            "product_interest",
            "contact_title",
            "contact_role",
            "need",
            "budget_currency",
            "budget_band",
            "timeline_horizon",
        )
    }
    columns["employees"] = _gather(leads, "employees", q, number=True)
    columns["budget_amount"] = _gather(leads, "budget_amount", q, number=True)
    columns["account_industry"] = _gather(accounts, "industry", account)
    columns["account_region"] = _gather(accounts, "region", account)
    columns["account_employees"] = _gather(accounts, "employees", account, number=True)
    columns["created_s"] = to_seconds(leads["created_at"])[q]
    columns["timeline_s"] = to_seconds(leads["timeline_date"])[q]
    acts = data.activities
    own = acts[acts["entity_type"] == "lead"]
    visits = acts[acts["entity_type"] == "account"]
    decls = declarations(data.custom_attributes)
    return LeadInputs(
        columns=columns,
        as_of_s=as_of_seconds(snapshots),
        entity=q,
        activities=Events(
            positions(own["entity_id"], universe),
            to_seconds(own["occurred_at"]),
            text(own["type"].to_numpy(dtype=object)),
            own["value"].to_numpy(dtype=float),
        ),
        account=account,
        account_visits=Events(
            positions(visits["entity_id"], account_ids),
            to_seconds(visits["occurred_at"]),
            text(visits["type"].to_numpy(dtype=object)),
            visits["value"].to_numpy(dtype=float),
        ),
        declarations=decls,
        custom=_custom(decls, "leads", leads, q),
        account_custom=_custom(decls, "accounts", accounts, account),
    )


def deal_inputs(data: CRMData, snapshots: pd.DataFrame) -> DealInputs:
    """The deal features' inputs for snapshot rows (`opportunity_id`, `as_of`); an unknown deal raises."""
    opps = data.opportunities.drop_duplicates(OPPORTUNITY_KEY).reset_index(drop=True)
    universe = pd.Index(opps[OPPORTUNITY_KEY])
    q = _codes(snapshots[OPPORTUNITY_KEY], universe, "opportunities")
    accounts = data.accounts.drop_duplicates("account_id").reset_index(drop=True)
    account_ids = pd.Index(accounts["account_id"])
    account = positions(opps["account_id"], account_ids)
    every = np.arange(len(opps))
    deals = {name: _gather(opps, name, every) for name in ("pipeline", "product", "owner", "currency")}
    deals["amount"] = opps["amount"].to_numpy(dtype=float)
    deals["created_s"] = to_seconds(opps["created_at"])
    deals["expected_close_s"] = to_seconds(opps["expected_close_date"])
    deals["industry"] = _gather(accounts, "industry", account)
    deals["employees"] = _gather(accounts, "employees", account, number=True)
    st, cd, am = data.stage_history, data.close_date_history, data.amount_history
    close_s = to_seconds(cd["expected_close_date"]).astype(float)
    close_s[close_s < 0] = np.nan
    acts = data.activities
    own = acts[acts["entity_type"] == "opportunity"]
    on_accounts = acts[acts["entity_type"] == "account"]
    decls = declarations(data.custom_attributes)
    return DealInputs(
        deals=deals,
        entity=q,
        as_of_s=as_of_seconds(snapshots),
        stages=Changes(
            positions(st[OPPORTUNITY_KEY], universe),
            to_seconds(st["entered_at"]),
            text(st["stage"].to_numpy(dtype=object)),
        ),
        close_dates=Changes(positions(cd[OPPORTUNITY_KEY], universe), to_seconds(cd["changed_at"]), close_s),
        amounts=Changes(
            positions(am[OPPORTUNITY_KEY], universe),
            to_seconds(am["changed_at"]),
            am["amount"].to_numpy(dtype=float),
        ),
        activities=DealActivities(
            positions(own["entity_id"], universe),
            to_seconds(own["occurred_at"]),
            text(own["type"].to_numpy(dtype=object)),
            text(own["contact_id"].to_numpy(dtype=object)),
            text(own["contact_role"].to_numpy(dtype=object)),
        ),
        account=account,
        account_activities=Changes(
            positions(on_accounts["entity_id"], account_ids),
            to_seconds(on_accounts["occurred_at"]),
            np.zeros(len(on_accounts)),
        ),
        declarations=decls,
        custom=_custom(decls, "opportunities", opps, q),
        account_custom=_custom(decls, "accounts", accounts, account[q]),
    )


def to_frame(values: dict[str, np.ndarray], fset: FeatureSet, index: pd.Index) -> pd.DataFrame:
    """Feature arrays as a frame in feature-set order: categoricals as text, numbers as float64
    (missing stays missing)."""
    produced, declared_columns = set(values), set(fset.columns)
    if produced != declared_columns:
        raise AssertionError(
            f"{fset.name}: produced {sorted(produced ^ declared_columns)} differ from the spec"
        )
    categorical = set(fset.categorical)
    data = {
        c: pd.Series(values[c], index=index, dtype="str")
        if c in categorical
        else pd.Series(np.asarray(values[c], dtype=np.float64), index=index)
        for c in fset.columns
    }
    return pd.DataFrame(data, index=index)


def build_lead_features(data: CRMData, snapshots: pd.DataFrame, config: AppConfig) -> pd.DataFrame:
    """Features of `lead_v1` (and the data's custom attributes) for each snapshot row (`lead_id`,
    `as_of`), in snapshot order, indexed like the snapshots.

    Examples
    --------
    >>> snaps = pd.DataFrame({"lead_id": ["L0000001"], "as_of": [pd.Timestamp("2024-06-01", tz="UTC")]})
    >>> build_lead_features(data, snaps, config).shape  # doctest: +SKIP
    (1, 70)
    """
    values = lead_features(lead_inputs(data, snapshots), config.leads)
    fset = feature_set("lead_v1", config, declarations(data.custom_attributes), include_leaky=True)
    return to_frame(values, fset, snapshots.index)


def snapshot_rates(data: CRMData, snapshots: pd.DataFrame, config: AppConfig) -> Rates:
    """Point-in-time historical statistics for the weeks the snapshots fall in (training path)."""
    refs = np.unique(week_start(as_of_seconds(snapshots)))
    return compute_rates(data.opportunities, data.stage_history, data.accounts, config.funnel, refs)


def build_opportunity_features(
    data: CRMData, snapshots: pd.DataFrame, config: AppConfig, rates: Rates | None = None
) -> pd.DataFrame:
    """Features of `opportunity_v1` for each snapshot row (`opportunity_id`, `as_of`), in order.

    Historical rates come from `rates` (a model's frozen table when serving), else are computed point
    in time from `data`."""
    rates = rates if rates is not None else snapshot_rates(data, snapshots, config)
    values = deal_features(deal_inputs(data, snapshots), config.funnel, config.leads, rates)
    fset = feature_set("opportunity_v1", config, declarations(data.custom_attributes), include_leaky=True)
    return to_frame(values, fset, snapshots.index)
