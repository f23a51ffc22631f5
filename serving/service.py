"""Scoring for the API: request records -> the shared feature pipeline -> the model -> results with
reasons, grades, health and risk flags. Routers stay thin; this is where the work is."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features.bant import rule_grade
from features.lead_row import LeadRowFeatures
from features.pipeline import build_lead_features, build_opportunity_features, feature_set
from features.records import frames_from_records, frames_from_validated
from features.schema import CUSTOM_PREFIX
from funnelcast.config import AppConfig
from funnelcast.scoring import batch_threads
from serving import schemas
from serving.errors import InvalidInput, NotReady
from serving.instants import activity_seconds
from serving.lead_body import LeadRequest
from serving.lead_inputs import LeadInputs
from serving.registry import LoadedModel, ModelRegistry
from serving.settings import ServingSettings

HEALTHY_MIN, AT_RISK_MIN = 60.0, 35.0


def predict_records(model: LoadedModel, records: dict[str, list[dict]], config: AppConfig,
                    as_of: pd.Timestamp) -> pd.DataFrame:
    """Probabilities for canonical records (used by the golden check and the routes)."""
    data = frames_from_records(records)
    key = "lead_id" if model.kind == "lead" else "opportunity_id"
    ids = (data.leads if model.kind == "lead" else data.opportunities)[key]
    snaps = pd.DataFrame({key: ids.to_numpy(), "as_of": as_of})
    if model.kind == "lead":
        feats = build_lead_features(data, snaps, config)
    else:
        feats = build_opportunity_features(data, snaps, config, rates=model.rates)
    return model.bundle.predict(feats)


def _duplicates(ids: list[str], path: str) -> None:
    seen: dict[str, int] = {}
    details = []
    for i, value in enumerate(ids):
        if value in seen:
            details.append({"field": f"{path}.{i}", "message": f"duplicate id {value!r} (first at {seen[value]})"})
        seen.setdefault(value, i)
    if details:
        raise InvalidInput("ids must be unique within a request", details)


def record(item) -> dict:
    """A request model as a canonical row; its custom attributes become custom.<name> columns."""
    row = item.model_dump(exclude={"custom"})
    for name, value in (getattr(item, "custom", None) or {}).items():
        row[CUSTOM_PREFIX + name] = value
    return row


def custom_declarations(model: LoadedModel | None) -> list[dict]:
    """The custom attributes the model was trained with (request values are typed by them)."""
    return list((model.bundle.metadata or {}).get("custom_attributes", [])) if model is not None else []


def _declaration_frame(model: LoadedModel | None) -> pd.DataFrame | None:
    """The model's custom attributes as a custom_attributes frame (None without any)."""
    decl = custom_declarations(model)
    return pd.DataFrame(decl, columns=["entity", "name", "kind", "leaky", "meaning"]) if decl else None


def _activity_rows(items, seconds: np.ndarray, entity_type: str, owner_id: str) -> list[dict]:
    """Canonical activity rows; `seconds` are the items' times as converted (and checked) once."""
    return [{**a, "occurred_at": datetime.fromtimestamp(int(t), UTC), "entity_type": entity_type,
             "entity_id": owner_id} for a, t in zip(items, seconds, strict=True)]


def _accounts(items) -> list[dict]:
    found = {}
    for item in items:
        if item.account is not None:
            found[item.account.account_id] = record(item.account)
    return list(found.values())


def _reason(name: str, value, contribution: float, meaning: str) -> schemas.Reason:
    if value is None or isinstance(value, str):
        shown = value
    else:
        number = float(value)
        shown = None if number != number else round(number, 4)  # NaN is unknown
    return {"feature": name, "value": shown, "contribution": contribution,
            "text": f"{meaning}: {'unknown' if shown is None else shown}"}


def top_contributions(contrib: np.ndarray, top: int = 3) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per row, the `top` features that pushed the score up most and down most: for each side
    (up, down) their column positions and contributions, strongest first, (n, top) each. Entries
    on the wrong side of zero are left in; callers drop them (a row may have fewer than `top`)."""
    k = min(top, contrib.shape[1])
    rows = np.arange(contrib.shape[0])[:, None]
    sides = []
    for sign in (1, -1):
        signed = contrib * sign
        # the k largest of each row without sorting whole rows, then those k in order
        picked = np.argpartition(-signed, k - 1, axis=1)[:, :k] if k < contrib.shape[1] else \
            np.tile(np.arange(k), (contrib.shape[0], 1))
        picked = np.take_along_axis(picked, np.argsort(-signed[rows, picked], axis=1, kind="stable"), axis=1)
        sides.append((picked, contrib[rows, picked]))
    return tuple(sides)


def _reasons(contrib: np.ndarray, value_at, columns: list[str], meanings: dict[str, str],
             top: int = 3) -> list[schemas.Reasons]:
    """Up to `top` features that pushed each score up and down most (model's own contributions).
    `value_at(i, name)` gives row i's value of a feature."""
    (up, up_raw), (down, down_raw) = top_contributions(contrib, top)
    up_values, down_values = np.round(up_raw, 4).tolist(), np.round(down_raw, 4).tolist()
    said = [meanings.get(c, c) for c in columns]
    out = []
    for i, (ups, downs) in enumerate(zip(up.tolist(), down.tolist(), strict=True)):
        out.append({
            "positive": [_reason(columns[j], value_at(i, columns[j]), v, said[j])
                         for j, v, keep in zip(ups, up_values[i], up_raw[i] > 0, strict=True) if keep],
            "negative": [_reason(columns[j], value_at(i, columns[j]), v, said[j])
                         for j, v, keep in zip(downs, down_values[i], down_raw[i] < 0, strict=True) if keep]})
    return out


def _meanings(model: LoadedModel, config: AppConfig) -> dict[str, str]:
    """Plain-language meaning of every feature of the model (custom attributes included), cached per model."""
    def make() -> dict[str, str]:
        specs = feature_set(model.bundle.feature_set, config, _declaration_frame(model), include_leaky=True).specs
        return {s.name: f"{s.meaning} ({s.window})" if s.window not in ("as captured",) else s.meaning
                for s in specs}

    return _per_model(_MEANINGS, config, model, make)


def _per_model(cache: dict, config: AppConfig, model: LoadedModel | None, make):
    """What `make()` builds for this configuration and loaded model, built once. One model at a
    time: a reload (a new bundle) replaces the entry."""
    key = (id(config), id(model.bundle) if model is not None else None)
    found = cache.get(key)
    if found is None:
        cache.clear()
        found = cache[key] = make()
    return found


_MEANINGS: dict[tuple, dict[str, str]] = {}


def _warnings(model: LoadedModel | None, value_at, n_future: np.ndarray) -> list[list[str]]:
    """Per row: categories never seen in training (scored as unknown) and records dated after as_of.
    `value_at(i, name)` gives row i's value of a feature (missing as None or NaN)."""
    known = {col: set(values) for col, values in model.bundle.categories.items()} if model is not None else {}
    out = []
    for i, n in enumerate(n_future):
        notes = []
        for col, values in known.items():
            value = value_at(i, col)
            if isinstance(value, str) and value not in values:
                notes.append(f"{col} {value!r} was not seen in training; scored as unknown")
        if n:
            notes.append(f"{int(n)} record(s) dated after as_of were ignored")
        out.append(notes)
    return out


def _future_counts(items, as_of: pd.Timestamp, getters) -> np.ndarray:
    when = as_of.to_pydatetime()
    counts = []
    for item in items:
        n = 0
        for get in getters:
            for stamp in get(item):
                ts = stamp if stamp.tzinfo else stamp.replace(tzinfo=when.tzinfo)
                n += ts > when
        counts.append(n)
    return np.array(counts)


def _lead_rows(config: AppConfig, model: LoadedModel | None) -> LeadRowFeatures:
    """The single-lead feature builder for this configuration and model (built once, then reused)."""
    return _per_model(_LEAD_ROWS, config, model, lambda: LeadRowFeatures(config, _declaration_frame(model)))


_LEAD_ROWS: dict[tuple, LeadRowFeatures] = {}


def score_leads(request: LeadRequest, registry: ModelRegistry, as_of: pd.Timestamp
                ) -> schemas.LeadScoreResponse:
    config = registry.config
    _duplicates([item.lead.lead_id for item in request.leads], "leads")
    model = registry.get("lead")
    inputs = LeadInputs(request, _lead_rows(config, model), as_of)
    rows, future = inputs.rows(), inputs.future
    ids = [item.lead.lead_id for item in request.leads]
    points = np.array([r["bant_rule_points"] for r in rows], dtype=float)
    rule = rule_grade(points, config.leads.rule_grade)
    warnings = _warnings(model, lambda i, name: rows[i].get(name), future)
    if model is None:  # cold start: the transparent rule grade is what gets served
        ref = schemas.ModelRef(name="bant-rule-grade", version=None, feature_set=None)
        results = [schemas.LeadScore(lead_id=lid, probability=None, score=None, grade=str(g), rule_grade=str(g),
                                     rule_points=float(p), reasons={"positive": [], "negative": []}, warnings=w)
                   for lid, g, p, w in zip(ids, rule, points, warnings, strict=True)]
        return schemas.LeadScoreResponse(as_of=as_of.to_pydatetime(), horizon_days=config.leads.horizon_days,
                                         model=ref, results=results)
    bundle = model.bundle
    # the lead bundle has one target: its probability and reasons come from a single pass
    p, contrib = bundle.targets[bundle.primary].predict_and_contributions(bundle.row_matrix(rows),
                                                                           batch_threads(len(rows)))
    if not np.all(np.isfinite(p)):
        raise NotReady("the lead model produced an invalid probability; it has been logged")
    reasons = _reasons(contrib, lambda i, name: rows[i].get(name), bundle.columns,
                       _meanings(model, config))
    grades = bundle.grade(p)
    results = [schemas.LeadScore(
        lead_id=lid, probability=round(float(pi), 6), score=round(100 * float(pi), 1), grade=str(g), rule_grade=str(r),
        rule_points=float(pt), reasons=rs, warnings=w)
        for lid, pi, g, r, pt, rs, w in zip(ids, p, grades, rule, points, reasons, warnings, strict=True)]
    ref = schemas.ModelRef(name=model.name, version=model.version, feature_set=bundle.feature_set)
    # built from values computed above, of the declared types: not validated again (1,000 results ~ 11 ms);
    # the contract test validates real responses against the schema
    return schemas.LeadScoreResponse.model_construct(as_of=as_of.to_pydatetime(),
                                                     horizon_days=config.leads.horizon_days, model=ref,
                                                     results=results)


def open_deal_records(items: list[schemas.OpportunityItem], model: LoadedModel,
                      act_seconds: np.ndarray | None = None) -> dict[str, list[dict]]:
    """Canonical records of open deals as the API receives them (with their histories and accounts);
    `act_seconds`: the times of all their activities, flattened in order, if already converted."""
    if act_seconds is None:
        act_seconds = activity_seconds([item.activities for item in items],
                                        "opportunities.{i}.activities.{j}.occurred_at")[0]
    records: dict[str, list[dict]] = {"opportunities": [], "stage_history": [], "close_date_history": [],
                                      "amount_history": [], "activities": [], "accounts": _accounts(items),
                                      "custom_attributes": custom_declarations(model)}
    k = 0
    for item in items:
        oid = item.opportunity.opportunity_id
        records["opportunities"].append({**record(item.opportunity), "outcome": "open"})
        for name in ("stage_history", "close_date_history", "amount_history"):
            records[name] += [{**row.model_dump(), "opportunity_id": oid} for row in getattr(item, name)]
        records["activities"] += _activity_rows(item.activities, act_seconds[k:k + len(item.activities)],
                                                "opportunity", oid)
        k += len(item.activities)
    return records


def _check_stages(request: schemas.OpportunityScoreRequest, config: AppConfig) -> None:
    details = []
    for i, item in enumerate(request.opportunities):
        key = item.opportunity.pipeline
        if key not in config.funnel.pipeline_keys:
            details.append({"field": f"opportunities.{i}.opportunity.pipeline",
                            "message": f"unknown pipeline {key!r}; configured: {config.funnel.pipeline_keys}"})
            continue
        stages = config.funnel.pipeline(key).stage_keys
        for j, entry in enumerate(item.stage_history):
            if entry.stage not in stages:
                details.append({"field": f"opportunities.{i}.stage_history.{j}.stage",
                                "message": f"stage {entry.stage!r} is not in pipeline {key!r} (stages: {stages})"})
    if details:
        raise InvalidInput(f"{len(details)} invalid stage(s) or pipeline(s)", details)


def _flags(f: pd.Series, p90: float | None, settings: ServingSettings) -> list[schemas.RiskFlag]:
    flags = []

    def add(code: str, message: str) -> None:
        flags.append(schemas.RiskFlag(code=code, message=message))

    days = f["days_in_stage"]
    if p90 is not None and np.isfinite(p90) and days > p90:
        add("stalled", f"{days:.0f} days in {f['stage']}, beyond the learned stall threshold of {p90:.0f} days")
    if np.isfinite(f["sla_ratio"]) and f["sla_ratio"] > 1:
        add("over_sla", f"{days:.0f} days in {f['stage']}, past its SLA")
    idle = f["days_since_last_activity"]
    if (np.isnan(idle) and f["deal_age_days"] > settings.no_activity_days) or idle > settings.no_activity_days:
        add("no_recent_activity", "no activity yet" if np.isnan(idle) else f"no activity for {idle:.0f} days")
    if f["close_date_slips"] >= settings.close_date_push_flag:
        add("close_date_pushed", f"expected close date pushed {int(f['close_date_slips'])} times "
                                 f"({f['close_slip_days']:.0f} days in all)")
    if f["days_overdue"] > 0:
        add("overdue", f"{f['days_overdue']:.0f} days past the expected close date")
    if f["skipped_stages"] > 0:
        add("skipped_stages", f"skipped {int(f['skipped_stages'])} stage(s)")
    if f["jumped_from_first_stage"] > 0:
        add("first_stage_jump", "jumped from the first stage over the next one")
    if f["regressions"] > 0:
        add("regression", f"moved back {int(f['regressions'])} time(s)")
    if f["engaged_contacts"] <= 1:
        add("single_contact", "only one contact engaged" if f["engaged_contacts"] == 1 else "no contact engaged")
    if f["decision_maker_engaged"] == 0:
        add("no_decision_maker", "no decision maker engaged")
    return flags


def health(p_won: float, stage_rate: float | None, overall: float) -> tuple[float, str]:
    """0-100: 50 when P(won) equals what deals in its stage usually achieve, rising to 100 as P(won)
    nears 1 and falling to 0 as it nears 0 (100 * p ** (ln 0.5 / ln base)). Bands: healthy >= 60,
    at risk >= 35, else critical."""
    base = stage_rate if stage_rate is not None and np.isfinite(stage_rate) and 0 < stage_rate < 1 else overall
    base = float(np.clip(base, 0.01, 0.99))
    score = 100.0 * float(np.clip(p_won, 0.0, 1.0)) ** (np.log(0.5) / np.log(base))
    band = "healthy" if score >= HEALTHY_MIN else "at_risk" if score >= AT_RISK_MIN else "critical"
    return round(score, 1), band


def score_opportunities(request: schemas.OpportunityScoreRequest, registry: ModelRegistry, as_of: pd.Timestamp
                        ) -> schemas.OpportunityScoreResponse:
    config, settings = registry.config, registry.settings
    model = registry.get("opportunity")
    if model is None:
        raise NotReady("no win-probability model is loaded yet", [{"field": "model", "message":
                       registry.last_errors.get("opportunity", "loading")}])
    _duplicates([item.opportunity.opportunity_id for item in request.opportunities], "opportunities")
    _check_stages(request, config)
    act_seconds, act_owner = activity_seconds([item.activities for item in request.opportunities],
                                               "opportunities.{i}.activities.{j}.occurred_at")
    data = frames_from_validated(open_deal_records(request.opportunities, model, act_seconds))
    snaps = pd.DataFrame({"opportunity_id": data.opportunities["opportunity_id"].to_numpy(), "as_of": as_of})
    features = build_opportunity_features(data, snaps, config, rates=model.rates)
    bundle = model.bundle
    x = bundle.matrix(features)
    probs = pd.DataFrame(bundle.predict_matrix(x), index=features.index)
    if not np.all(np.isfinite(probs.to_numpy())):
        raise NotReady("the win model produced an invalid probability; it has been logged")
    reasons = _reasons(bundle.targets[bundle.primary].contributions(x, batch_threads(len(x))),
                       lambda i, name: features[name].iloc[i] if name in features else None, bundle.columns,
                       _meanings(model, config))
    dwell = model.rates.stage_dwell.set_index(["pipeline", "stage"])["dwell_p90_days"] if model.rates else None
    overall = float(model.rates.overall_win["win_rate"].iloc[0]) if model.rates and len(model.rates.overall_win) \
        else float(np.nanmean(probs["won"]))
    future = np.bincount(act_owner[act_seconds > int(as_of.timestamp())], minlength=len(request.opportunities))
    future = future + _future_counts(request.opportunities, as_of, [lambda it: [s.entered_at for s in it.stage_history],
        lambda it: [c.changed_at for c in it.close_date_history], lambda it: [c.changed_at for c in it.amount_history]])
    warnings = _warnings(model, lambda i, name: features[name].iloc[i], future)
    results = []
    for i, oid in enumerate(snaps["opportunity_id"]):
        f = features.iloc[i]
        p90 = dwell.get((f["pipeline"], f["stage"])) if dwell is not None else None
        stage_rate = None if pd.isna(f["stage_win_rate"]) else float(f["stage_win_rate"])
        score, band = health(float(probs["won"].iloc[i]), stage_rate, overall)
        results.append(schemas.OpportunityScore(
            opportunity_id=oid, stage=None if pd.isna(f["stage"]) else f["stage"],
            p_won=round(float(probs["won"].iloc[i]), 6), p_won_30d=round(float(probs["won_30d"].iloc[i]), 6),
            p_won_60d=round(float(probs["won_60d"].iloc[i]), 6), p_won_90d=round(float(probs["won_90d"].iloc[i]), 6),
            stage_weight=None if pd.isna(f["stage_weight"]) else float(f["stage_weight"]),
            historical_stage_win_rate=None if stage_rate is None else round(stage_rate, 6),
            health_score=score, health=band, risk_flags=_flags(f, None if p90 is None else float(p90), settings),
            reasons=reasons[i], warnings=warnings[i]))
    ref = schemas.ModelRef(name=model.name, version=model.version, feature_set=bundle.feature_set)
    return schemas.OpportunityScoreResponse(as_of=as_of.to_pydatetime(), model=ref, results=results)
