"""Custom attributes as features: the CRM's own extra fields (declared in `custom_attributes`),
for leads, opportunities and, through them, their account.

Values are taken as exported: a custom field is not versioned, so one filled in after the outcome
leaks it. Such fields are declared `leaky` and stay out of feature sets unless asked for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import CUSTOM_PREFIX
from features.spec import FeatureSpec

FEATURE_PREFIX = "custom:"


def declared(custom_attributes: pd.DataFrame, entity: str) -> pd.DataFrame:
    """Declarations for one entity file, in declaration order."""
    rows = custom_attributes[custom_attributes["entity"] == entity]
    return rows.drop_duplicates(["entity", "name"]).reset_index(drop=True)


def feature_name(entity: str, name: str) -> str:
    """The feature of a custom attribute: custom:<name> on the lead or deal itself, custom:account.<name>
    through its account."""
    return f"{FEATURE_PREFIX}account.{name}" if entity == "accounts" else f"{FEATURE_PREFIX}{name}"


def custom_specs(custom_attributes: pd.DataFrame, own: str, include_leaky: bool = False) -> tuple[FeatureSpec, ...]:
    """Feature specs for the custom attributes of `own` (leads or opportunities) and of accounts."""
    specs = []
    for entity in (own, "accounts"):
        for _, d in declared(custom_attributes, entity).iterrows():
            if d.get("leaky") == "true" and not include_leaky:
                continue
            meaning = d.get("meaning")
            meaning = meaning if isinstance(meaning, str) and meaning else f"custom attribute {d['name']}"
            specs.append(FeatureSpec(feature_name(entity, d["name"]),
                                     meaning + (" (account)" if entity == "accounts" else ""),
                                     "as exported" if d["kind"] == "number" else "category", "value as exported",
                                     "numeric" if d["kind"] == "number" else "categorical"))
    return tuple(specs)


def custom_features(custom_attributes: pd.DataFrame, own: str, rows: pd.DataFrame,
                    accounts: pd.DataFrame) -> pd.DataFrame:
    """Every declared custom attribute of `rows` (leads or opportunities, one per snapshot) and of
    their accounts, leaky ones included (the feature set decides what a model uses)."""
    out = {}
    for _, d in declared(custom_attributes, own).iterrows():
        column = CUSTOM_PREFIX + d["name"]
        values = rows[column] if column in rows else pd.Series(np.nan, index=rows.index)
        out[feature_name(own, d["name"])] = values.to_numpy()
    account_rows = None
    for _, d in declared(custom_attributes, "accounts").iterrows():
        if account_rows is None:
            account_rows = accounts.drop_duplicates("account_id").set_index("account_id").reindex(
                rows["account_id"].to_numpy())
        column = CUSTOM_PREFIX + d["name"]
        values = account_rows[column] if column in account_rows else pd.Series(np.nan, index=account_rows.index)
        out[feature_name("accounts", d["name"])] = values.to_numpy()
    return pd.DataFrame(out, index=rows.index)
