"""The named, versioned feature sets. A model records the name of its set (an MLflow tag and in its
bundle); serving refuses a model whose set this code does not know."""

from __future__ import annotations

from funnelcast.core.config import AppConfig, BehaviourConfig
from funnelcast.features import bant, behaviour, custom, deal, firmographics
from funnelcast.features.custom import Declarations
from funnelcast.features.spec import FeatureSet

OPPORTUNITY_V1 = FeatureSet("opportunity_v1", "opportunity", deal.SPECS)
KNOWN = ("lead_v1", "opportunity_v1")


def lead_feature_set(cfg: BehaviourConfig) -> FeatureSet:
    return FeatureSet("lead_v1", "lead", bant.SPECS + firmographics.SPECS + behaviour.specs(cfg))


def feature_set(
    name: str, config: AppConfig, declarations: Declarations | None = None, include_leaky: bool = False
) -> FeatureSet:
    """The feature set of that name, plus the declared custom attributes (leaky ones only when asked);
    a clear error for a name this code does not know."""
    if name not in KNOWN:
        raise KeyError(f"unknown feature set {name!r}; this version knows {sorted(KNOWN)}")
    base = lead_feature_set(config.leads.behaviour) if name == "lead_v1" else OPPORTUNITY_V1
    if not declarations:
        return base
    own = "leads" if base.entity == "lead" else "opportunities"
    return FeatureSet(
        base.name, base.entity, base.specs + custom.custom_specs(declarations, own, include_leaky)
    )
