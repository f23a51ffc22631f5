"""Who the lead is: industry, size, region, source channel, product interest and age."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from funnelcast.features.spec import FeatureSpec

SIZE_BANDS = (0, 10, 50, 200, 1000, 5000, np.inf)
SIZE_LABELS = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
DAY = 86_400.0

SPECS = (
    FeatureSpec(
        "industry", "industry (the lead's, else its account's)", "category", "as captured", "categorical"
    ),
    FeatureSpec("size_band", "company size band by employees", "category", "as captured", "categorical"),
    FeatureSpec("employees_log", "log(1 + employees)", "log count", "as captured"),
    FeatureSpec(
        "region", "sales region (the lead's, else its account's)", "category", "as captured", "categorical"
    ),
    FeatureSpec("source", "source channel", "category", "as captured", "categorical"),
    FeatureSpec("product_interest", "product the lead asked about", "category", "as captured", "categorical"),
    FeatureSpec("lead_age_days", "days since the lead was created", "days", "up to as_of"),
)


def size_band(employees: np.ndarray) -> np.ndarray:
    """Company size band label (text, None when employees is unknown): 0-10 is "1-10", then bands
    closed on the right (11-50 holds 50).

    Examples
    --------
    >>> size_band(np.array([0.0, 10.0, 10.5, 50.0, 6000.0, np.nan])).tolist()
    ['1-10', '1-10', '11-50', '11-50', '5000+', None]
    """
    employees = np.asarray(employees, dtype=float)
    position = np.searchsorted(np.asarray(SIZE_BANDS[1:], dtype=float), employees, side="left")
    labels = np.array([*SIZE_LABELS, None], dtype=object)
    valid = ~np.isnan(employees) & (employees >= SIZE_BANDS[0])
    return np.where(valid, labels[np.minimum(position, len(SIZE_LABELS))], None)


def either(own: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The lead's own value, else the fallback (text None or number NaN counts as missing)."""
    if own.dtype == object:
        return np.where(own != None, own, fallback)  # noqa: E711 (elementwise)
    return np.where(np.isnan(own), fallback, own)


def firmographic_features(cols: Mapping[str, np.ndarray], as_of_s: np.ndarray) -> dict[str, np.ndarray]:
    """Firmographic features of lead rows; company fields fall back to the account's
    (`account_industry`, `account_employees`, `account_region`) where the lead leaves them empty."""
    employees = either(cols["employees"], cols["account_employees"])
    return {
        "industry": either(cols["industry"], cols["account_industry"]),
        "size_band": size_band(employees),
        "employees_log": np.log1p(employees),
        "region": either(cols["region"], cols["account_region"]),
        "source": cols["source"],
        "product_interest": cols["product_interest"],
        "lead_age_days": (as_of_s - cols["created_s"]) / DAY,
    }
