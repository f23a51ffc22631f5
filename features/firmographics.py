"""Who the lead is: industry, size, region, source channel, product interest and age."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import FeatureSpec

SIZE_BANDS = (0, 10, 50, 200, 1000, 5000, np.inf)
SIZE_LABELS = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
DAY = 86_400.0

SPECS = (
    FeatureSpec("industry", "industry (the lead's, else its account's)", "category", "as captured", "categorical"),
    FeatureSpec("size_band", "company size band by employees", "category", "as captured", "categorical"),
    FeatureSpec("employees_log", "log(1 + employees)", "log count", "as captured"),
    FeatureSpec("region", "sales region (the lead's, else its account's)", "category", "as captured", "categorical"),
    FeatureSpec("source", "source channel", "category", "as captured", "categorical"),
    FeatureSpec("product_interest", "product the lead asked about", "category", "as captured", "categorical"),
    FeatureSpec("lead_age_days", "days since the lead was created", "days", "up to as_of"),
)


def size_band(employees: np.ndarray) -> np.ndarray:
    """Company size band label; missing when employees is unknown."""
    bands = pd.cut(pd.Series(employees, dtype=float), bins=list(SIZE_BANDS), labels=list(SIZE_LABELS),
                   include_lowest=True)
    return bands.astype("str").where(bands.notna()).to_numpy()


def with_account_fallback(leads: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Company fields of the lead, filled from its account where the lead leaves them empty."""
    acc = accounts.drop_duplicates("account_id").set_index("account_id")
    out = leads.copy()
    for col in ("industry", "employees", "region"):
        from_account = acc[col].reindex(leads["account_id"].to_numpy()).to_numpy()
        out[col] = leads[col].where(leads[col].notna(), pd.Series(from_account, index=leads.index))
    return out


def lead_firmographics(leads: pd.DataFrame, as_of_s: np.ndarray) -> pd.DataFrame:
    """Firmographic features for lead rows (company fields already filled from the account)."""
    employees = leads["employees"].to_numpy(dtype=float)
    created_s = leads["created_at"].astype("datetime64[ns, UTC]").astype("int64").to_numpy() / 1e9
    return pd.DataFrame({
        "industry": leads["industry"].to_numpy(dtype=object),
        "size_band": size_band(employees),
        "employees_log": np.log1p(employees),
        "region": leads["region"].to_numpy(dtype=object),
        "source": leads["source"].to_numpy(dtype=object),
        "product_interest": leads["product_interest"].to_numpy(dtype=object),
        "lead_age_days": (as_of_s - created_s) / DAY,
    })
