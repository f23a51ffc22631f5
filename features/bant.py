"""BANT as captured on the lead: budget fit, authority, need match, timeline urgency, completeness,
and the transparent rule-based grade. Pure functions of the lead row, the configuration and as_of."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.spec import FeatureSpec
from funnelcast.config import AuthorityRule, LeadsConfig, RulePoints

AUTHORITY_LEVELS = {"staff": 1, "manager": 2, "director": 3, "vp": 4, "executive": 5}
RULE_GRADES = ("Hot", "Warm", "Cold")
DAY = 86_400.0

SPECS = (
    FeatureSpec("budget_known", "1 if the lead declared a budget amount or band", "0/1", "as captured"),
    FeatureSpec("budget_log", "log(1 + declared budget in the base currency; a band counts as its midpoint)",
                "log currency", "as captured"),
    FeatureSpec("budget_to_price", "declared budget divided by the product's minimum price", "ratio", "as captured"),
    FeatureSpec("budget_fits", "1 if the budget lies within the product's price band (up to 1.5x its maximum)",
                "0/1, missing if unknown", "as captured"),
    FeatureSpec("authority_level", "contact authority from title or role: 1 staff, 2 manager, 3 director, 4 VP, "
                "5 executive", "ordinal, missing if unknown", "as captured"),
    FeatureSpec("is_decision_maker", "1 if the contact's buying role is decision maker", "0/1", "as captured"),
    FeatureSpec("need_known", "1 if a need or product interest was declared", "0/1", "as captured"),
    FeatureSpec("need_matches", "1 if the declared need is one the product of interest answers", "0/1, missing if "
                "unknown", "as captured"),
    FeatureSpec("timeline_days", "days from as_of to the expected purchase (date, or creation + horizon band)",
                "days (negative: past)", "as captured"),
    FeatureSpec("bant_completeness", "how many of budget, authority, need, timeline are known", "0-4", "as captured"),
    FeatureSpec("bant_rule_points", "points of the transparent BANT rule grade (configs/leads.yaml)", "points",
                "as captured"),
)


def _rule_regex(rule: AuthorityRule) -> re.Pattern:
    parts = []
    for pattern in rule.patterns:
        escaped = re.escape(pattern.lower())
        # Latin words match whole words only ("cto" must not match "director"); CJK match as substrings
        parts.append(rf"(?<![a-z]){escaped}(?![a-z])" if pattern.isascii() else escaped)
    return re.compile("|".join(parts))


def authority_level(titles: pd.Series, roles: pd.Series, rules: list[AuthorityRule]) -> np.ndarray:
    """Authority level 1..5 from the title (first matching rule wins); a decision-maker role without a
    recognised title counts as director level. Unknown stays missing.

    Examples
    --------
    >>> from funnelcast.config import load_config
    >>> rules = load_config().leads.authority_rules
    >>> authority_level(pd.Series(["副总经理", "IT Director", None]), pd.Series([None, None, None]), rules).tolist()
    [4.0, 3.0, nan]
    """
    compiled = [(AUTHORITY_LEVELS[r.level], _rule_regex(r)) for r in rules]
    unique = pd.unique(titles.dropna())

    def level_of(title: str) -> float:
        text = title.lower()
        for level, regex in compiled:
            if regex.search(text):
                return float(level)
        return np.nan

    table = pd.Series({t: level_of(t) for t in unique}, dtype=float)  # one match per distinct title
    levels = titles.map(table).to_numpy(dtype=float) if len(table) else np.full(len(titles), np.nan)
    dm = (roles == "decision_maker").to_numpy(dtype=bool)
    return np.where(np.isnan(levels) & dm, float(AUTHORITY_LEVELS["director"]), levels)


def budget_in_base(leads: pd.DataFrame, cfg: LeadsConfig) -> np.ndarray:
    """Declared budget in the base currency; a band counts as its midpoint (an open band as 1.5x its floor)."""
    rates = leads["budget_currency"].str.upper().map(cfg.currency_rates).to_numpy(dtype=float)
    amount = leads["budget_amount"].to_numpy(dtype=float) * rates
    mids = {b.key: (b.min + b.max) / 2 if b.max else b.min * 1.5 for b in cfg.budget_bands}
    band = leads["budget_band"].map(mids).to_numpy(dtype=float)
    return np.where(np.isnan(amount), band, amount)


def lead_bant(leads: pd.DataFrame, as_of_s: np.ndarray, cfg: LeadsConfig) -> pd.DataFrame:
    """BANT features for lead rows (one row per snapshot) at the given as_of seconds."""
    budget = budget_in_base(leads, cfg)
    price_min = leads["product_interest"].map({p.key: p.price_min for p in cfg.products}).to_numpy(dtype=float)
    price_max = leads["product_interest"].map({p.key: p.price_max for p in cfg.products}).to_numpy(dtype=float)
    known_budget = ~np.isnan(budget)
    fits = np.where(known_budget & ~np.isnan(price_min),
                    ((budget >= price_min) & (budget <= price_max * 1.5)).astype(float), np.nan)
    level = authority_level(leads["contact_title"], leads["contact_role"], cfg.authority_rules)

    need = leads["need"]
    product_needs = {p.key: set(p.needs) for p in cfg.products}
    key = leads["product_interest"] + "\x1f" + need  # missing if either side is missing
    table = {k: float(k.split("\x1f")[1] in product_needs[k.split("\x1f")[0]]) for k in pd.unique(key.dropna())
             if k.split("\x1f")[0] in product_needs}  # one check per distinct (product, need) pair
    need_matches = key.map(table).to_numpy(dtype=float) if table else np.full(len(leads), np.nan)
    need_known = (need.notna() | leads["product_interest"].notna()).to_numpy()

    horizon = leads["timeline_horizon"].map({b.key: b.days for b in cfg.horizon_bands}).to_numpy(dtype=float)
    created_s = leads["created_at"].astype("datetime64[ns, UTC]").astype("int64").to_numpy() / 1e9
    date_s = leads["timeline_date"].astype("datetime64[ns, UTC]").astype("int64").to_numpy() / 1e9
    date_s = np.where(leads["timeline_date"].isna().to_numpy(), np.nan, date_s)
    expected_s = np.where(np.isnan(date_s), created_s + horizon * DAY, date_s)
    timeline_days = (expected_s - as_of_s) / DAY

    completeness = known_budget.astype(int) + ~np.isnan(level) + need_known + ~np.isnan(timeline_days)
    out = pd.DataFrame({
        "budget_known": known_budget.astype(float),
        "budget_log": np.log1p(budget),
        "budget_to_price": budget / price_min,
        "budget_fits": fits,
        "authority_level": level,
        "is_decision_maker": (leads["contact_role"] == "decision_maker").to_numpy(dtype=float),
        "need_known": need_known.astype(float),
        "need_matches": need_matches,
        "timeline_days": timeline_days,
        "bant_completeness": completeness.astype(float),
    })
    out["bant_rule_points"] = rule_points(out, cfg.rule_grade)
    return out


def rule_points(bant: pd.DataFrame, points: RulePoints) -> np.ndarray:
    """Transparent BANT points: each known and favourable element earns its configured points."""
    names = {v: k for k, v in AUTHORITY_LEVELS.items()}
    level_name = pd.Series(bant["authority_level"]).map(names).fillna("unknown")
    total = (points.budget_known * bant["budget_known"].to_numpy()
             + points.budget_fits * np.nan_to_num(bant["budget_fits"].to_numpy())
             + level_name.map(points.authority).fillna(0).to_numpy(dtype=float)
             + points.need_known * bant["need_known"].to_numpy()
             + points.need_matches * np.nan_to_num(bant["need_matches"].to_numpy()))
    days = bant["timeline_days"].to_numpy()
    timeline = np.zeros(len(bant))
    for within, pts in sorted(points.timeline_within_days, reverse=True):  # best (nearest) band wins
        timeline = np.where((days >= 0) & (days <= within), pts, timeline)
    return total + timeline


def rule_grade(points: np.ndarray, cfg: RulePoints) -> np.ndarray:
    """Hot / Warm / Cold from BANT rule points and the configured thresholds."""
    return np.where(points >= cfg.hot_min, "Hot", np.where(points >= cfg.warm_min, "Warm", "Cold"))
