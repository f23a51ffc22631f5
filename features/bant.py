"""BANT as captured on the lead: budget fit, authority, need match, timeline urgency, completeness,
and the transparent rule-based grade. Pure functions of the lead's columns, the configuration and as_of."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from funnelcast.core.config import AuthorityRule, LeadsConfig, RulePoints
from funnelcast.features.arrays import apply_distinct, join, lookup, upper
from funnelcast.features.spec import FeatureSpec

AUTHORITY_LEVELS = {"staff": 1, "manager": 2, "director": 3, "vp": 4, "executive": 5}
RULE_GRADES = ("Hot", "Warm", "Cold")
DAY = 86_400.0

SPECS = (
    FeatureSpec("budget_known", "1 if the lead declared a budget amount or band", "0/1", "as captured"),
    FeatureSpec(
        "budget_log",
        "log(1 + declared budget in the base currency; a band counts as its midpoint)",
        "log currency",
        "as captured",
    ),
    FeatureSpec(
        "budget_to_price", "declared budget divided by the product's minimum price", "ratio", "as captured"
    ),
    FeatureSpec(
        "budget_fits",
        "1 if the budget lies within the product's price band (up to 1.5x its maximum)",
        "0/1, missing if unknown",
        "as captured",
    ),
    FeatureSpec(
        "authority_level",
        "contact authority from title or role: 1 staff, 2 manager, 3 director, 4 VP, 5 executive",
        "ordinal, missing if unknown",
        "as captured",
    ),
    FeatureSpec(
        "is_decision_maker", "1 if the contact's buying role is decision maker", "0/1", "as captured"
    ),
    FeatureSpec("need_known", "1 if a need or product interest was declared", "0/1", "as captured"),
    FeatureSpec(
        "need_matches",
        "1 if the declared need is one the product of interest answers",
        "0/1, missing if unknown",
        "as captured",
    ),
    FeatureSpec(
        "timeline_days",
        "days from as_of to the expected purchase (date, or creation + horizon band)",
        "days (negative: past)",
        "as captured",
    ),
    FeatureSpec(
        "bant_completeness", "how many of budget, authority, need, timeline are known", "0-4", "as captured"
    ),
    FeatureSpec(
        "bant_rule_points",
        "points of the transparent BANT rule grade (configs/leads.yaml)",
        "points",
        "as captured",
    ),
)


def _rule_regex(rule: AuthorityRule) -> re.Pattern:
    parts = []
    for pattern in rule.patterns:
        escaped = re.escape(pattern.lower())
        # Latin words match whole words only ("cto" must not match "director"); CJK match as substrings
        parts.append(rf"(?<![a-z]){escaped}(?![a-z])" if pattern.isascii() else escaped)
    return re.compile("|".join(parts))


class _Rules:
    """The configuration's lookups, compiled once per configuration object."""

    def __init__(self, cfg: LeadsConfig):
        self.authority = [(float(AUTHORITY_LEVELS[r.level]), _rule_regex(r)) for r in cfg.authority_rules]
        self.bands = {b.key: (b.min + b.max) / 2 if b.max else b.min * 1.5 for b in cfg.budget_bands}
        self.price_min = {p.key: float(p.price_min) for p in cfg.products}
        self.price_max = {p.key: float(p.price_max) for p in cfg.products}
        self.need_pairs = {f"{p.key}\x1f{need}": 1.0 for p in cfg.products for need in p.needs}
        self.known_products = {p.key: 1.0 for p in cfg.products}
        self.horizons = {b.key: b.days for b in cfg.horizon_bands}
        self.titles: dict[str, float] = {}

    def level_of(self, title: str) -> float:
        found = self.titles.get(title)
        if found is None:
            text = title.lower()
            found = self.titles[title] = next((lv for lv, rx in self.authority if rx.search(text)), np.nan)
        return found


_RULES: dict[int, tuple[LeadsConfig, _Rules]] = {}


def _rules(cfg: LeadsConfig) -> _Rules:
    found = _RULES.get(id(cfg))
    if found is None or found[0] is not cfg:
        _RULES.clear()  # one configuration at a time in practice; never a stale entry for a reused id
        found = _RULES[id(cfg)] = (cfg, _Rules(cfg))
    return found[1]


def authority_level(titles: np.ndarray, roles: np.ndarray, cfg: LeadsConfig) -> np.ndarray:
    """Authority level 1..5 from the title (first matching rule wins); a decision-maker role without a
    recognised title counts as director level. Unknown stays missing.

    Examples
    --------
    >>> from funnelcast.core.config import load_config
    >>> cfg = load_config().leads
    >>> titles = np.array(["副总经理", "IT Director", None], object)
    >>> authority_level(titles, np.array([None] * 3, object), cfg).tolist()
    [4.0, 3.0, nan]
    """
    levels = apply_distinct(titles, _rules(cfg).level_of)
    dm = roles == "decision_maker"
    return np.where(np.isnan(levels) & dm, float(AUTHORITY_LEVELS["director"]), levels)


def budget_in_base(
    amount: np.ndarray, currency: np.ndarray, band: np.ndarray, cfg: LeadsConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Declared budget in the base currency (a band counts as its midpoint, an open band as 1.5x its
    floor), and where an amount was given in a currency without a configured rate (not counted)."""
    rate = lookup(upper(currency), cfg.currency_rates)
    unknown_currency = ~np.isnan(amount) & (currency != None) & np.isnan(rate)  # noqa: E711 (elementwise)
    converted = amount * rate
    return np.where(np.isnan(converted), lookup(band, _rules(cfg).bands), converted), unknown_currency


def bant_features(
    cols: Mapping[str, np.ndarray], as_of_s: np.ndarray, cfg: LeadsConfig
) -> dict[str, np.ndarray]:
    """BANT features of lead rows (one per query) at the given as_of seconds.

    `cols` holds the lead columns as arrays: text (`product_interest`, `need`, `contact_title`,
    `contact_role`, `budget_currency`, `budget_band`, `timeline_horizon`: object arrays, None for
    missing), `budget_amount` (float, NaN missing), `created_s` and `timeline_s` (int64 UTC seconds,
    -1 missing)."""
    rules = _rules(cfg)
    budget, _ = budget_in_base(cols["budget_amount"], cols["budget_currency"], cols["budget_band"], cfg)
    product = cols["product_interest"]
    price_min = lookup(product, rules.price_min)
    price_max = lookup(product, rules.price_max)
    known_budget = ~np.isnan(budget)
    with np.errstate(invalid="ignore"):
        fits = np.where(
            known_budget & ~np.isnan(price_min),
            ((budget >= price_min) & (budget <= price_max * 1.5)).astype(float),
            np.nan,
        )
    level = authority_level(cols["contact_title"], cols["contact_role"], cfg)
    need = cols["need"]
    need_matches = lookup(join(product, need), rules.need_pairs, default=0.0)
    # missing unless both are known and the product is configured
    has_pair = (need != None) & (lookup(product, rules.known_products, default=0.0) > 0)  # noqa: E711 (elementwise)
    need_matches = np.where(has_pair, need_matches, np.nan)
    need_known = (need != None) | (product != None)  # noqa: E711
    horizon = lookup(cols["timeline_horizon"], rules.horizons)
    created = cols["created_s"].astype(np.float64)
    dated = cols["timeline_s"] >= 0
    expected = np.where(dated, cols["timeline_s"].astype(np.float64), created + horizon * DAY)
    timeline_days = (expected - as_of_s) / DAY
    completeness = known_budget.astype(float) + ~np.isnan(level) + need_known + ~np.isnan(timeline_days)
    out = {
        "budget_known": known_budget.astype(float),
        "budget_log": np.log1p(budget),
        "budget_to_price": budget / price_min,
        "budget_fits": fits,
        "authority_level": level,
        "is_decision_maker": (cols["contact_role"] == "decision_maker").astype(float),
        "need_known": need_known.astype(float),
        "need_matches": need_matches,
        "timeline_days": timeline_days,
        "bant_completeness": completeness.astype(float),
    }
    out["bant_rule_points"] = rule_points(out, cfg.rule_grade)
    return out


def rule_points(bant: Mapping[str, np.ndarray], points: RulePoints) -> np.ndarray:
    """Transparent BANT points: each known and favourable element earns its configured points."""
    # points per level 1..5, then for an unknown level
    by_level = sorted(AUTHORITY_LEVELS, key=AUTHORITY_LEVELS.get)
    authority = np.array([points.authority.get(name, 0.0) for name in [*by_level, "unknown"]], dtype=float)
    level = np.asarray(bant["authority_level"], dtype=float)
    slot = np.where(np.isnan(level), len(by_level), np.clip(np.nan_to_num(level, nan=1.0), 1, 5) - 1).astype(
        np.int64
    )
    total = (
        points.budget_known * np.asarray(bant["budget_known"], dtype=float)
        + points.budget_fits * np.nan_to_num(np.asarray(bant["budget_fits"], dtype=float))
        + authority[slot]
        + points.need_known * np.asarray(bant["need_known"], dtype=float)
        + points.need_matches * np.nan_to_num(np.asarray(bant["need_matches"], dtype=float))
    )
    days = np.asarray(bant["timeline_days"], dtype=float)
    timeline = np.zeros(len(days))
    for within, pts in sorted(points.timeline_within_days, reverse=True):  # best (nearest) band wins
        timeline = np.where((days >= 0) & (days <= within), pts, timeline)
    return total + timeline


def rule_grade(points: np.ndarray, cfg: RulePoints) -> np.ndarray:
    """Hot / Warm / Cold from BANT rule points and the configured thresholds."""
    return np.where(points >= cfg.hot_min, "Hot", np.where(points >= cfg.warm_min, "Warm", "Cold"))
