"""The leakage report of every training: each feature's single-feature ROC AUC on the training rows and
its share of the model's gain, strongest first. A feature far stronger than the rest is named in a
warning (it is often a column filled in after the outcome: the length of the call that converted, a
status set at close); one above `block_auc` stops registration unless listed in `allow_leaky`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from funnelcast.core.config import LeakageConfig
from funnelcast.features.custom import FEATURE_PREFIX
from funnelcast.features.leakage import single_feature_auc


@dataclass
class LeakageReport:
    table: pd.DataFrame  # feature, single_auc, gain_share, sorted by single_auc
    warnings: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # features above block_auc and not allowed


def _advice(feature: str) -> str:
    if feature.startswith(FEATURE_PREFIX):
        return (
            "if it is filled in after the outcome, declare it `leaky: true` (custom_attributes.csv, or the "
            "import mapping's custom attribute)"
        )
    return "if it can be known only after the outcome, remove it from the data"


def leakage_report(
    features: pd.DataFrame,
    y: np.ndarray,
    gain_share: dict[str, float],
    cfg: LeakageConfig,
    allow: list[str],
    captured: set[str] | None = None,
) -> LeakageReport:
    """The report for `features` (training rows) against labels `y`; `gain_share` is each feature's share
    of the model's total split gain. Warnings concern the features in `captured` (all when None): the
    values taken as the CRM holds them now, which a later edit can fill with the outcome. Features
    computed point in time from dated events (counts, ages, stage history) cannot see past as_of."""
    y = np.asarray(y, dtype=float)
    known = ~np.isnan(y)
    labels = y[known].astype(int)
    aucs = {}
    if len(np.unique(labels)) == 2:
        for col in features.columns:
            aucs[col] = single_feature_auc(features[col][known].reset_index(drop=True), labels)
    table = pd.DataFrame(
        {
            "feature": list(features.columns),
            "single_auc": [aucs.get(c, np.nan) for c in features.columns],
            "gain_share": [float(gain_share.get(c, 0.0)) for c in features.columns],
        }
    )
    table = table.sort_values(["single_auc", "gain_share"], ascending=False, kind="stable")
    table = table.reset_index(drop=True)
    table["as_captured"] = table["feature"].isin(captured) if captured is not None else True
    report = LeakageReport(table)
    suspects = table[table["as_captured"] & ~table["feature"].isin(allow) & table["single_auc"].notna()]
    if len(suspects):
        top = suspects.iloc[0]
        # compared with the other values as captured: point-in-time features (ages, counts) are another kind
        others = table[
            table["as_captured"] & (table["feature"] != top["feature"]) & table["single_auc"].notna()
        ]
        runner_up = others.iloc[0] if len(others) else None
        margin = top["single_auc"] - (runner_up["single_auc"] if runner_up is not None else 0.5)
        if top["single_auc"] >= cfg.warn_auc and margin >= cfg.warn_margin:
            ahead = (
                ""
                if runner_up is None
                else (
                    f", {margin:.2f} above the next strongest value as captured "
                    f"({runner_up['feature']}, {runner_up['single_auc']:.2f})"
                )
            )
            report.warnings.append(
                f"leakage: {top['feature']} alone reaches ROC AUC {top['single_auc']:.2f}{ahead} and carries "
                f"{top['gain_share']:.0%} of the model's gain. A value this far ahead of the rest is often "
                f"filled in after the outcome; {_advice(top['feature'])}."
            )
    for r in suspects.itertuples(index=False):
        if r.gain_share >= cfg.warn_gain_share and not any(r.feature in w for w in report.warnings):
            report.warnings.append(
                f"leakage: {r.feature} carries {r.gain_share:.0%} of the model's gain (single-feature "
                f"ROC AUC {r.single_auc:.2f}). One value deciding most of the score is often one filled "
                f"in after the outcome; {_advice(r.feature)}."
            )
    report.blocked = [
        r.feature
        for r in table.itertuples(index=False)
        if r.single_auc > cfg.block_auc and r.feature not in allow
    ]
    return report
