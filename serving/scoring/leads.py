"""Lead scoring for the API: request -> the lead feature functions -> the model -> grades, reasons,
warnings. Routers stay thin; this is where the work is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.core.errors import InvalidInput, NotReady
from funnelcast.features.bant import budget_in_base, rule_grade
from funnelcast.features.lead import lead_features
from funnelcast.features.sets import feature_set
from funnelcast.model.bundle import batch_threads
from funnelcast.model.phrases import phrasebook
from funnelcast.model.reasons import meanings, reasons
from funnelcast.model.stale import SEGMENT, stale_flags
from funnelcast.serving import schemas
from funnelcast.serving.checks import unique_ids
from funnelcast.serving.models import LoadedModel
from funnelcast.serving.scoring.body import LeadRequest
from funnelcast.serving.scoring.inputs import lead_inputs

_CACHE: dict[tuple, object] = {}


def per_model(config: AppConfig, model: LoadedModel | None, what: str, make):
    """What `make()` builds for this configuration and loaded model, built once. One model per kind at
    a time: a reload (a new bundle) replaces the entry."""
    key = (what, id(config), id(model.bundle) if model is not None else None)
    found = _CACHE.get(key)
    if found is None:
        for old in [k for k in _CACHE if k[0] == what]:
            del _CACHE[old]
        found = _CACHE[key] = make()
    return found


def describer(config: AppConfig, model: LoadedModel):
    """`describe(feature, value)` for the model's features (custom attributes included): the reason in
    plain words, in the configured locale (configs/reasons.yaml)."""

    def make():
        said = meanings(
            feature_set(model.bundle.feature_set, config, model.declarations, include_leaky=True).specs
        )
        return phrasebook(config, said)

    return per_model(config, model, "describe", make)


def warnings(
    model: LoadedModel | None,
    values: dict[str, np.ndarray],
    future: np.ndarray,
    extra: list[list[str]] | None = None,
) -> list[list[str]]:
    """Per row: categories never seen in training (scored as unknown), records dated after as_of, and
    whatever the caller adds."""
    unseen = model.bundle.unknown_categories(values) if model is not None else [{} for _ in future]
    out = []
    for i, n in enumerate(future.tolist()):
        notes = [
            f"{col} {value!r} was not seen in training; scored as unknown" for col, value in unseen[i].items()
        ]
        if n:
            notes.append(f"{int(n)} record(s) dated after as_of were ignored")
        if extra:
            notes += extra[i]
        out.append(notes)
    return out


def currency_warnings(columns: dict[str, np.ndarray], config: AppConfig) -> list[list[str]]:
    """A budget in a currency without a configured rate is not counted: say so on the record."""
    _, unknown = budget_in_base(
        columns["budget_amount"], columns["budget_currency"], columns["budget_band"], config.leads
    )
    rates = sorted(config.leads.currency_rates)
    return [
        [
            f"budget currency {c!r} has no rate in leads.yaml (known: {', '.join(rates)}); the budget "
            "was not counted"
        ]
        if bad
        else []
        for c, bad in zip(columns["budget_currency"], unknown, strict=True)
    ]


def created_after(created_s: np.ndarray, as_of_s: int, path: str) -> None:
    """A record created after as_of does not exist yet at as_of: a 422 naming each one (bulk scoring and
    the book leave such records out and count them; docs/api.md)."""
    late = np.flatnonzero(created_s > as_of_s)
    if len(late):
        raise InvalidInput(
            f"{len(late)} record(s) created after as_of cannot be scored as of then",
            [
                {"field": path.format(int(i)), "message": "created after as_of; score it as of a later time"}
                for i in late
            ],
        )


def score_leads(
    request: LeadRequest, model: LoadedModel | None, config: AppConfig, as_of: pd.Timestamp
) -> schemas.LeadScoreResponse:
    """Scores of every lead in the request as of `as_of`, in request order. Without a model (rules-only
    mode) the transparent BANT rule grade is served, and `probability` is null."""
    unique_ids([item.lead.lead_id for item in request.leads], "leads")
    as_of_s = int(as_of.timestamp())
    built = lead_inputs(request, as_of_s, model.declarations if model is not None else [])
    created_after(built.inputs.columns["created_s"], as_of_s, "leads.{}.lead.created_at")
    values = lead_features(built.inputs, config.leads)
    ids = [item.lead.lead_id for item in request.leads]
    points = values["bant_rule_points"]
    rule = rule_grade(points, config.leads.rule_grade)
    notes = warnings(model, values, built.future, currency_warnings(built.inputs.columns, config))
    horizon = config.leads.horizon_days
    if model is None:
        ref = schemas.ModelRef(name="bant-rule-grade", version=None, feature_set=None)
        results = [
            schemas.LeadScore(
                lead_id=lid,
                probability=None,
                score=None,
                grade=str(g),
                rule_grade=str(g),
                rule_points=float(p),
                stale=False,
                stale_reason=None,
                reasons={"positive": [], "negative": []},
                warnings=w,
            )
            for lid, g, p, w in zip(ids, rule, points.tolist(), notes, strict=True)
        ]
        return schemas.LeadScoreResponse(
            as_of=as_of.to_pydatetime(), horizon_days=horizon, model=ref, results=results
        )
    bundle = model.bundle
    # the lead bundle has one target: its probability and reasons come from a single pass
    p, contrib = bundle.targets[bundle.primary].predict_and_contributions(
        bundle.matrix(values), batch_threads(len(ids))
    )
    if not np.all(np.isfinite(p)):
        raise NotReady("the lead model produced an invalid probability; it has been logged")
    said = reasons(contrib, values, bundle.columns, describer(config, model))
    grades = bundle.grade(p)
    stale, why = stale_flags(values["lead_age_days"], values[SEGMENT], bundle.metadata.get("stale_days"))
    results = [
        schemas.LeadScore(
            lead_id=lid,
            probability=round(pi, 6),
            score=round(100 * pi, 1),
            grade=str(g),
            rule_grade=str(r),
            rule_points=float(pt),
            stale=s,
            stale_reason=sw,
            reasons=rs,
            warnings=w,
        )
        for lid, pi, g, r, pt, s, sw, rs, w in zip(
            ids, p.tolist(), grades, rule, points.tolist(), stale.tolist(), why, said, notes, strict=True
        )
    ]
    ref = schemas.ModelRef(name=model.name, version=model.version, feature_set=bundle.feature_set)
    # built from values computed above, of the declared types: not validated again (a large share of a
    # batch's time otherwise); the contract test validates real responses against the schema
    return schemas.LeadScoreResponse.model_construct(
        as_of=as_of.to_pydatetime(), horizon_days=horizon, model=ref, results=results
    )
