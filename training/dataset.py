"""Labelled point-in-time snapshots with features, split by time.

Entities are ordered by creation time: the oldest share trains, the next validates, the newest
tests, so no entity is in two splits and the test period is the newest. Features are point in
time whatever the split. A label is used once it is mature by the end of the data: its whole
horizon has passed, whatever the outcome. Counting a positive as known at its conversion would
let the most recent rows be mostly positives and bias every rate upwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.features.frames import build_lead_features, build_opportunity_features, snapshot_rates
from funnelcast.features.io import CRMData
from funnelcast.training.snapshots import (
    WIN_HORIZONS_DAYS,
    lead_snapshots,
    observed_until,
    opportunity_snapshots,
)

SPLITS = ("train", "validation", "test")
WON_MATURITY_DAYS = 180  # P(won eventually) counts a snapshot once this long has passed (and the deal closed)


@dataclass
class LabelledSet:
    """Snapshots (entity, as_of, split, labels, label-known times) with their feature rows."""

    entity_key: str
    snapshots: pd.DataFrame
    features: pd.DataFrame
    targets: list[str]
    cutoffs: dict[str, pd.Timestamp]
    until: pd.Timestamp

    def rows(self, split: str, target: str) -> np.ndarray:
        """Positions of usable rows: in `split`, labelled, and the label known in time."""
        s = self.snapshots
        sel = (s["split"] == split) & s[target].notna()
        sel &= s[f"{target}_known_at"] <= self.until
        return np.flatnonzero(sel.to_numpy())

    def weights(self, rows: np.ndarray) -> np.ndarray:
        """Training weights of those rows: one each. (Weighting each entity to count once was tried: an
        entity's number of snapshots depends on its outcome, a conversion ends a lead's open life, so
        those weights overrated converters at every age and biased the rates; docs/training.md.)"""
        return np.ones(len(rows))


def assign_splits(
    entity_created: pd.Series, evaluable: pd.Series, config: AppConfig, label: pd.Series | None = None
) -> tuple[pd.Series, dict[str, pd.Timestamp]]:
    """Split per entity by creation time. Cutoffs are creation-time quantiles of the entities with a
    mature primary label (`evaluable`), so the newest evaluable period is the test period.
    With `split.method: stratified` (data without real dates) the split is a seeded random one,
    stratified by each entity's primary label, and there are no cutoffs."""
    share = config.training.split
    if share.method == "stratified":
        return _stratified(entity_created.index, label, config), {}
    times = entity_created[evaluable.reindex(entity_created.index, fill_value=False)].sort_values(
        kind="stable"
    )
    if len(times) < 3:
        raise ValueError(f"only {len(times)} entities have a mature label; too few to split by time")
    t_val = times.iloc[int(len(times) * share.train)]
    t_test = times.iloc[min(int(len(times) * (share.train + share.validation)), len(times) - 1)]
    split = np.where(entity_created < t_val, "train", np.where(entity_created < t_test, "validation", "test"))
    return pd.Series(split, index=entity_created.index), {"validation": t_val, "test": t_test}


def _stratified(entities: pd.Index, label: pd.Series | None, config: AppConfig) -> pd.Series:
    from sklearn.model_selection import train_test_split

    share = config.training.split
    y = (label.reindex(entities).fillna(-1) if label is not None else pd.Series(0, index=entities)).to_numpy()
    seed = config.training.seed
    rest, test = train_test_split(
        np.arange(len(entities)), test_size=1 - share.train - share.validation, stratify=y, random_state=seed
    )
    train, val = train_test_split(
        rest,
        test_size=share.validation / (share.train + share.validation),
        stratify=y[rest],
        random_state=seed,
    )
    split = np.empty(len(entities), dtype=object)
    split[train], split[val], split[test] = "train", "validation", "test"
    return pd.Series(split, index=entities)


def _entity_label(snaps: pd.DataFrame, key: str, target: str) -> pd.Series:
    """One label per entity for stratification: 1 if any of its snapshots is positive."""
    return snaps.groupby(key)[target].max()


def _evaluable(snaps: pd.DataFrame, key: str, target: str, until: pd.Timestamp) -> pd.Series:
    mature = snaps[target].notna() & (snaps[f"{target}_known_at"] <= until)
    return mature.groupby(snaps[key]).any()


def lead_dataset(data: CRMData, config: AppConfig) -> LabelledSet:
    until = observed_until(data)
    horizon = config.leads.horizon_days
    snaps = lead_snapshots(
        data.leads, horizon, until, config.training.lead_snapshots, seed=config.training.seed
    ).rename(columns={"label": "converted"})
    snaps = snaps[snaps["converted"].notna()].reset_index(drop=True)
    snaps["converted_known_at"] = snaps["as_of"] + pd.Timedelta(days=horizon)
    created = data.leads.set_index("lead_id")["created_at"]
    split, cutoffs = assign_splits(
        created[created.index.isin(snaps["lead_id"])],
        _evaluable(snaps, "lead_id", "converted", until),
        config,
        _entity_label(snaps, "lead_id", "converted"),
    )
    snaps["split"] = snaps["lead_id"].map(split)
    features = build_lead_features(data, snaps[["lead_id", "as_of"]], config)
    return LabelledSet("lead_id", snaps, features, ["converted"], cutoffs, until)


def opportunity_dataset(data: CRMData, config: AppConfig) -> LabelledSet:
    until = observed_until(data)
    open_stages = {p.key: {s.key for s in p.stages} for p in config.funnel.pipelines}
    snaps = opportunity_snapshots(data.opportunities, data.stage_history, open_stages, until)
    targets = ["won", *[f"won_{h}d" for h in WIN_HORIZONS_DAYS]]
    snaps = snaps[snaps[targets].notna().any(axis=1)].reset_index(drop=True)
    closed_at = snaps["opportunity_id"].map(data.opportunities.set_index("opportunity_id")["closed_at"])
    mature = snaps["as_of"] + pd.Timedelta(days=WON_MATURITY_DAYS)
    snaps["won_known_at"] = mature.where(closed_at <= mature, pd.NaT)  # still open then: too slow to count
    for h in WIN_HORIZONS_DAYS:
        snaps[f"won_{h}d_known_at"] = snaps["as_of"] + pd.Timedelta(days=h)
    created = data.opportunities.set_index("opportunity_id")["created_at"]
    split, cutoffs = assign_splits(
        created[created.index.isin(snaps["opportunity_id"])],
        _evaluable(snaps, "opportunity_id", "won", until),
        config,
        _entity_label(snaps, "opportunity_id", "won"),
    )
    snaps["split"] = snaps["opportunity_id"].map(split)
    features = build_opportunity_features(
        data, snaps[["opportunity_id", "as_of"]], config, rates=snapshot_rates(data, snaps, config)
    )
    return LabelledSet("opportunity_id", snaps, features, targets, cutoffs, until)
