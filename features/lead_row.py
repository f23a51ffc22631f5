"""The lead feature set for one lead at a time, without pandas: the API's fast path.

The batch pipeline (`features.pipeline.build_lead_features`) is the definition; this module computes
the same numbers for a single lead from plain Python values in well under a millisecond, where
the frame-based path costs tens of milliseconds per request in pandas overhead. Parity tests hold
it to the batch path value for value (tests/features/test_lead_row.py); change both together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from features import behaviour
from features.bant import AUTHORITY_LEVELS, _rule_regex
from features.custom import feature_name
from features.events import SECONDS_PER_DAY
from features.firmographics import SIZE_BANDS, SIZE_LABELS
from features.pipeline import feature_set
from funnelcast.config import AppConfig

DAY = 86_400.0
NAN = float("nan")


EPOCH, SECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(seconds=1)


def seconds(value: datetime | None) -> int | None:
    """UTC unix seconds, floored (as the loader floors timestamps); naive is UTC. Exact: a float
    timestamp would round a fraction of a second up far from 1970."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // SECOND


@dataclass(frozen=True)
class Activity:
    seconds: int
    type: str
    value: float | None = None


@dataclass(frozen=True)
class ActivityArrays:
    """Activities of many owners as columns: owner code, UTC unix seconds, type, value (NaN: none)."""

    codes: np.ndarray
    seconds: np.ndarray
    types: np.ndarray
    values: np.ndarray


def _size_band(employees: float) -> str | None:
    if employees != employees:  # NaN
        return None
    if employees <= SIZE_BANDS[1]:
        return SIZE_LABELS[0] if employees >= SIZE_BANDS[0] else None
    for upper, label in zip(SIZE_BANDS[2:], SIZE_LABELS[1:], strict=True):
        if employees <= upper:
            return label
    return None


def _num(value) -> float:
    return NAN if value is None else float(value)


class LeadRowFeatures:
    """Feature rows for single leads under one configuration (rules compiled once)."""

    def __init__(self, config: AppConfig, custom_attributes=None):
        self.config = config
        cfg = config.leads
        self.fset = feature_set("lead_v1", config, custom_attributes, include_leaky=True)
        self.columns = self.fset.columns
        self.rules = [(float(AUTHORITY_LEVELS[r.level]), _rule_regex(r)) for r in cfg.authority_rules]
        self.rates = cfg.currency_rates
        self.bands = {b.key: (b.min + b.max) / 2 if b.max else b.min * 1.5 for b in cfg.budget_bands}
        self.products = {p.key: p for p in cfg.products}
        self.horizons = {b.key: b.days for b in cfg.horizon_bands}
        self.points = cfg.rule_grade
        self.level_names = {float(v): k for k, v in AUTHORITY_LEVELS.items()}
        self.windows = list(cfg.behaviour.windows_days)
        self.half_life_s = cfg.behaviour.half_life_days * SECONDS_PER_DAY
        self.trend_s = cfg.behaviour.trend_window_days * SECONDS_PER_DAY
        self._titles: dict[str, float] = {}
        decl = custom_attributes
        self.custom = [] if decl is None or not len(decl) else [
            (d["entity"], d["name"], d["kind"]) for d in decl.drop_duplicates(["entity", "name"]).to_dict("records")
            if d["entity"] in ("leads", "accounts")]

    def _authority(self, title: str | None, role: str | None) -> float:
        level = NAN
        if title is not None:
            if title not in self._titles:
                text = title.lower()
                self._titles[title] = next((lv for lv, rx in self.rules if rx.search(text)), NAN)
            level = self._titles[title]
        if level != level and role == "decision_maker":
            return float(AUTHORITY_LEVELS["director"])
        return level

    def rows(self, leads: list[dict], accounts: list[dict | None], activities: ActivityArrays,
             account_visits: ActivityArrays | None, account_of_lead: np.ndarray | None, as_of_s: int) -> list[dict]:
        """`row` for many leads at once: the behaviour features come from the batch definition
        (`behaviour.behaviour_arrays`) over all the leads' activities together, the rest per lead.
        `activities.codes` are positions in `leads`; `account_visits.codes` index the accounts that
        `account_of_lead` gives per lead (-1: none)."""
        n = len(leads)
        q_seconds = np.full(n, as_of_s, dtype=np.int64)
        account = None if account_visits is None or account_of_lead is None else (
            account_visits.codes, account_visits.seconds, account_of_lead)
        found = behaviour.behaviour_arrays(activities.codes, activities.seconds, activities.types, activities.values,
                                           np.arange(n), q_seconds, self.config.leads.behaviour, account)
        names = list(found)
        columns = [np.asarray(found[k], dtype=np.float64).tolist() for k in names]
        return [self.row(lead, account_row, (), (), as_of_s, behaviour=dict(zip(names, values, strict=True)))
                for lead, account_row, values in zip(leads, accounts, zip(*columns, strict=True), strict=True)]

    def row(self, lead: dict, account: dict | None, activities: Sequence[Activity],
            account_activity_seconds: Sequence[int], as_of_s: int, behaviour: dict | None = None) -> dict:
        """Every lead_v1 feature (and declared custom attribute) of one lead as of `as_of_s`
        (`behaviour`: that part already computed, as `rows` does for a batch)."""
        account = account or {}
        out: dict = {}
        # firmographics, with the account's company fields where the lead leaves them empty
        industry = lead.get("industry") if lead.get("industry") is not None else account.get("industry")
        region = lead.get("region") if lead.get("region") is not None else account.get("region")
        employees = _num(lead.get("employees") if lead.get("employees") is not None else account.get("employees"))
        created_s = float(seconds(lead["created_at"]))
        product = lead.get("product_interest")

        # BANT
        currency = lead.get("budget_currency")
        rate = self.rates.get(currency.upper(), NAN) if currency is not None else NAN
        amount = _num(lead.get("budget_amount")) * rate
        band = lead.get("budget_band")
        budget = amount if amount == amount else (self.bands.get(band, NAN) if band is not None else NAN)
        prod = self.products.get(product) if product is not None else None
        price_min = float(prod.price_min) if prod else NAN
        price_max = float(prod.price_max) if prod else NAN
        known_budget = budget == budget
        fits = float(budget >= price_min and budget <= price_max * 1.5) if known_budget and price_min == price_min \
            else NAN
        role = lead.get("contact_role")
        level = self._authority(lead.get("contact_title"), role)
        need = lead.get("need")
        need_matches = NAN
        if need is not None and product is not None and product in self.products:
            need_matches = float(need in set(self.products[product].needs))
        need_known = need is not None or product is not None
        horizon = self.horizons.get(lead.get("timeline_horizon"), NAN) if lead.get("timeline_horizon") else NAN
        date_s = seconds(lead.get("timeline_date"))
        expected_s = created_s + horizon * DAY if date_s is None else float(date_s)
        timeline_days = (expected_s - as_of_s) / DAY
        completeness = float(int(known_budget) + (level == level) + need_known + (timeline_days == timeline_days))
        out.update({
            "budget_known": float(known_budget), "budget_log": float(np.log1p(budget)) if budget == budget else NAN,
            "budget_to_price": budget / price_min if price_min == price_min else NAN,
            "budget_fits": fits, "authority_level": level, "is_decision_maker": float(role == "decision_maker"),
            "need_known": float(need_known), "need_matches": need_matches, "timeline_days": timeline_days,
            "bant_completeness": completeness,
        })
        p = self.points
        points = (p.budget_known * out["budget_known"] + p.budget_fits * (0.0 if fits != fits else fits)
                  + float(p.authority.get(self.level_names.get(level, "unknown"), 0) if level == level
                          else p.authority.get("unknown", 0))
                  + p.need_known * out["need_known"] + p.need_matches * (0.0 if need_matches != need_matches
                                                                         else need_matches))
        timeline_pts = 0.0
        for within, pts in sorted(p.timeline_within_days, reverse=True):
            if 0 <= timeline_days <= within:
                timeline_pts = pts
        out["bant_rule_points"] = points + timeline_pts

        out.update({
            "industry": industry, "size_band": _size_band(employees),
            "employees_log": float(np.log1p(employees)) if employees == employees else NAN, "region": region,
            "source": lead.get("source"), "product_interest": product, "lead_age_days": (as_of_s - created_s) / DAY,
        })
        out.update(behaviour if behaviour is not None else
                   self._behaviour(activities, account_activity_seconds, as_of_s))
        for entity, name, kind in self.custom:
            source = lead.get("custom", {}) if entity == "leads" else (account.get("custom") or {})
            value = source.get(name)
            key = feature_name(entity, name)
            if kind == "number":
                try:
                    out[key] = NAN if value is None else float(value)
                except (TypeError, ValueError):
                    out[key] = NAN
            else:
                out[key] = None if value is None else str(value)
        return out

    def _behaviour(self, activities: Sequence[Activity], account_seconds: Sequence[int], q: int) -> dict:
        out: dict = {}
        acts = sorted((a for a in activities if 0 <= a.seconds <= q),
                      key=lambda a: (a.seconds, 0.0 if a.value is None or a.value != a.value else a.value))
        windows = self.windows
        limits = [q - int(w * SECONDS_PER_DAY) + 1 for w in windows]
        counts = {t: [0] * len(windows) for t in behaviour.COUNTED_TYPES}
        so_far: dict[str, int] = {}
        touches = [0] * len(windows)
        weights = behaviour.ENGAGEMENT_WEIGHTS
        touch_types = set(behaviour.TOUCH_TYPES)
        first_touch = last_touch = None
        recent = before = 0
        longest = q - int(max(windows) * SECONDS_PER_DAY) + 1
        trend_lo, trend_lo2 = q - int(self.trend_s) + 1, q - int(2 * self.trend_s) + 1
        decayed: list[tuple[int, float]] = []
        site: dict[str, float] = {t: 0.0 for t in behaviour.SITE_TYPES}
        for a in acts:
            t = a.type
            so_far[t] = so_far.get(t, 0) + 1
            if t in counts:
                c = counts[t]
                for k, lim in enumerate(limits):
                    if a.seconds >= lim:
                        c[k] += 1
            if t in touch_types:
                if first_touch is None:
                    first_touch = a.seconds
                last_touch = a.seconds
                for k, lim in enumerate(limits):
                    if a.seconds >= lim:
                        touches[k] += 1
                if a.seconds >= trend_lo:
                    recent += 1
                elif a.seconds >= trend_lo2:
                    before += 1
            if t in site and a.value is not None and a.value == a.value:
                site[t] += a.value
            w = weights.get(t, 0.0)
            if w > 0 and a.seconds >= longest:
                decayed.append((a.seconds, w))
        for t in behaviour.COUNTED_TYPES:
            for k, w in enumerate(windows):
                out[f"n_{t}_{w}d"] = float(counts[t][k])
        for k, w in enumerate(windows):
            out[f"touches_{w}d"] = float(touches[k])
        out["days_since_last_touch"] = (q - last_touch) / SECONDS_PER_DAY if last_touch is not None else NAN
        out["days_since_first_touch"] = (q - first_touch) / SECONDS_PER_DAY if first_touch is not None else NAN
        if decayed:
            decayed.sort()  # the batch index orders rows by time, then value: same order, same float sum
            ages = np.asarray([float(q - sec) for sec, _ in decayed])
            contrib = np.asarray([w for _, w in decayed]) * np.exp2(-ages / self.half_life_s)
            out["engagement_decayed"] = float(np.bincount(np.zeros(len(contrib), dtype=np.int64), weights=contrib)[0])
        else:
            out["engagement_decayed"] = 0.0
        out["touch_trend"] = float(np.log((recent + 1) / (before + 1)))
        out["distinct_touch_types"] = float(sum(1 for t in behaviour.TOUCH_TYPES if so_far.get(t, 0) > 0))
        out["time_on_site_s"] = sum(site[t] for t in behaviour.SITE_TYPES)
        sent = so_far.get("email_sent", 0)
        out["email_open_rate"] = so_far.get("email_open", 0) / sent if sent else NAN
        out["email_click_rate"] = so_far.get("email_click", 0) / sent if sent else NAN
        out["requests"] = float(so_far.get("demo_request", 0) + so_far.get("form_submit", 0))
        out["account_web_visits"] = float(sum(1 for s in account_seconds if longest <= s <= q))
        return out
