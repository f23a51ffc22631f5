"""The lead feature set on arrays: BANT, firmographics, behaviour and custom attributes of leads as of
given times, composed from their one definitions. Training snapshots, bulk scoring and the API's
single and batch requests all build `LeadInputs` at their edge and call `lead_features`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from funnelcast.core.config import LeadsConfig
from funnelcast.features.bant import bant_features
from funnelcast.features.behaviour import Events, behaviour_features
from funnelcast.features.custom import Declarations, custom_features
from funnelcast.features.firmographics import firmographic_features

TEXT = (
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
    "account_industry",
    "account_region",
)
NUMBERS = ("employees", "account_employees", "budget_amount")
SECONDS = ("created_s", "timeline_s")
COLUMNS = TEXT + NUMBERS + SECONDS


@dataclass(frozen=True)
class LeadInputs:
    """Everything the lead features read, as arrays, one row per query (a lead as of a time).

    `columns`: the lead's fields per query (text as object arrays with None for missing, numbers as
    float with NaN, `created_s` / `timeline_s` as int64 UTC seconds with -1), its account's
    `account_industry`, `account_employees` and `account_region` beside them. `entity`: the lead's
    code in the universe its `activities` refer to; `account`: its account's code in the universe of
    `account_visits` (-1: none). `custom` / `account_custom`: declared custom attribute values per
    query, by name."""

    columns: Mapping[str, np.ndarray]
    as_of_s: np.ndarray
    entity: np.ndarray
    activities: Events
    account: np.ndarray | None = None
    account_visits: Events | None = None
    declarations: Declarations = ()
    custom: Mapping[str, np.ndarray] = field(default_factory=dict)
    account_custom: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        missing = [c for c in COLUMNS if c not in self.columns]
        if missing:
            raise ValueError(f"lead inputs lack columns {missing}")


def lead_features(inputs: LeadInputs, cfg: LeadsConfig) -> dict[str, np.ndarray]:
    """Every lead_v1 feature (and declared custom attribute) of each query, as arrays by name.

    Only activities at or before each query's as_of count; outcome fields are not among the inputs."""
    as_of = inputs.as_of_s
    out = bant_features(inputs.columns, as_of.astype(np.float64), cfg)
    out.update(firmographic_features(inputs.columns, as_of.astype(np.float64)))
    out.update(
        behaviour_features(
            inputs.activities, inputs.entity, as_of, cfg.behaviour, inputs.account_visits, inputs.account
        )
    )
    if inputs.declarations:
        out.update(
            custom_features(inputs.declarations, "leads", inputs.custom, inputs.account_custom, len(as_of))
        )
    return out
