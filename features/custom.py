"""Custom attributes as features: the CRM's own extra fields (declared in `custom_attributes`),
for leads, opportunities and, through them, their account.

Values are taken as exported: a custom field is not versioned, so one filled in after the outcome
leaks it. Such fields are declared `leaky` and stay out of feature sets unless asked for.
A declaration is a dict with `entity` (leads, opportunities or accounts), `name`, `kind` (number or
category), optionally `leaky` ("true"/"false") and `meaning`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from funnelcast.features.arrays import text
from funnelcast.features.spec import FeatureSpec

FEATURE_PREFIX = "custom:"
Declarations = Sequence[Mapping]


def declared(decls: Declarations | None, entity: str) -> list[Mapping]:
    """Declarations for one entity, in declaration order, each name once."""
    seen, out = set(), []
    for d in decls or ():
        if d.get("entity") == entity and d.get("name") not in seen:
            seen.add(d.get("name"))
            out.append(d)
    return out


def feature_name(entity: str, name: str) -> str:
    """The feature of a custom attribute: custom:<name> on the lead or deal itself, custom:account.<name>
    through its account."""
    return f"{FEATURE_PREFIX}account.{name}" if entity == "accounts" else f"{FEATURE_PREFIX}{name}"


def custom_specs(
    decls: Declarations | None, own: str, include_leaky: bool = False
) -> tuple[FeatureSpec, ...]:
    """Feature specs for the custom attributes of `own` (leads or opportunities) and of accounts."""
    specs = []
    for entity in (own, "accounts"):
        for d in declared(decls, entity):
            if d.get("leaky") == "true" and not include_leaky:
                continue
            meaning = d.get("meaning")
            meaning = meaning if isinstance(meaning, str) and meaning else f"custom attribute {d['name']}"
            number = d["kind"] == "number"
            specs.append(
                FeatureSpec(
                    feature_name(entity, d["name"]),
                    meaning + (" (account)" if entity == "accounts" else ""),
                    "as exported" if number else "category",
                    "value as exported",
                    "numeric" if number else "categorical",
                )
            )
    return tuple(specs)


def _typed(values, kind: str, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan) if kind == "number" else np.full(n, None, dtype=object)
    if kind == "number":
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":  # typed by the loader already
            return values.astype(np.float64)
        out = np.full(n, np.nan)
        for i, v in enumerate(values):  # a value that is not a number is missing (the loader reports it)
            try:
                out[i] = np.nan if v is None else float(v)
            except (TypeError, ValueError):
                continue
        return out
    if isinstance(values, np.ndarray) and values.dtype == object:
        return text(values)
    return text(np.array([None if v is None or v != v else str(v) for v in values], dtype=object))


def custom_features(
    decls: Declarations | None,
    own: str,
    own_values: Mapping[str, np.ndarray],
    account_values: Mapping[str, np.ndarray],
    n: int,
) -> dict[str, np.ndarray]:
    """Every declared custom attribute of `n` rows (leads or opportunities, one per query) and of their
    accounts, leaky ones included (the feature set decides what a model uses). `own_values` and
    `account_values` map attribute names to one value per row (absent: missing)."""
    out = {}
    for entity, values in ((own, own_values), ("accounts", account_values)):
        for d in declared(decls, entity):
            out[feature_name(entity, d["name"])] = _typed(values.get(d["name"]), d["kind"], n)
    return out
