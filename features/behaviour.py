"""Behaviour signals from activities at or before as_of: windowed counts per event type, recency,
decayed engagement, trend, breadth, time on site, email rates and explicit requests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from funnelcast.core.config import BehaviourConfig
from funnelcast.core.vocabulary import ACTIVITY_TYPES, TOUCH_TYPES
from funnelcast.features.arrays import lookup
from funnelcast.features.events import SECONDS_PER_DAY, EventIndex
from funnelcast.features.spec import FeatureSpec

COUNTED_TYPES = TOUCH_TYPES  # every touch by the lead is counted per type
SITE_TYPES = ("web_visit", "page_view")
TYPES = tuple(ACTIVITY_TYPES)
_TYPE_CODE = {t: i for i, t in enumerate(TYPES)}
CHUNK = 131_072  # queries per pass: bounds the (queries x types) working arrays


@dataclass(frozen=True)
class Events:
    """Activities as columns: owner code (position in the queries' entity universe, -1: unknown),
    UTC unix seconds (-1: missing), type (text) and value (NaN: none)."""

    codes: np.ndarray
    seconds: np.ndarray
    types: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls) -> Events:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0))


def specs(cfg: BehaviourConfig) -> tuple[FeatureSpec, ...]:
    out = [
        FeatureSpec(f"n_{t}_{w}d", f"number of {t} events", "count", f"last {w} days")
        for t in COUNTED_TYPES
        for w in cfg.windows_days
    ]
    out += [
        FeatureSpec(f"touches_{w}d", "lead touches of any kind (sends excluded)", "count", f"last {w} days")
        for w in cfg.windows_days
    ]
    longest = max(cfg.windows_days)
    trend = cfg.trend_window_days
    out += [
        FeatureSpec("days_since_last_touch", "days since the latest touch", "days, missing if none"),
        FeatureSpec("days_since_first_touch", "days since the first touch", "days, missing if none"),
        FeatureSpec(
            "engagement_decayed",
            f"touches weighted by type, halved every {cfg.half_life_days:g} days",
            "weighted count",
            f"last {longest} days",
        ),
        FeatureSpec(
            "touch_trend",
            f"log((touches in the last {trend} days + 1) / (touches in the {trend} days before + 1))",
            "log ratio",
            f"last {2 * trend} days",
        ),
        FeatureSpec("distinct_touch_types", "number of different touch types seen", "count"),
        FeatureSpec("time_on_site_s", "seconds on site over web visits and page views", "seconds"),
        FeatureSpec("email_open_rate", "emails opened per email sent", "ratio, missing if none sent"),
        FeatureSpec("email_click_rate", "email clicks per email sent", "ratio, missing if none sent"),
        FeatureSpec("requests", "demo requests and form submissions", "count"),
        FeatureSpec(
            "account_web_visits",
            "anonymous web visits matched to the lead's account",
            "count",
            f"last {longest} days",
        ),
    ]
    return tuple(out)


def behaviour_features(
    events: Events,
    q_codes: np.ndarray,
    q_seconds: np.ndarray,
    cfg: BehaviourConfig,
    account_visits: Events | None = None,
    q_account_codes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every behaviour feature for queries (entity code, as_of seconds), one row each.

    `events` are the entities' activities; `account_visits` the anonymous visits of accounts, counted
    for each query through `q_account_codes` (-1: no account). The training snapshots, bulk scoring
    and every API request call this one definition.

    Examples
    --------
    >>> ev = Events(np.array([0, 0]), np.array([100, 200]), np.array(["web_visit", "email_sent"], object),
    ...             np.array([30.0, np.nan]))
    >>> out = behaviour_features(ev, np.array([0]), np.array([150]), BehaviourConfig())
    >>> out["n_web_visit_7d"].tolist(), out["time_on_site_s"].tolist()
    ([1.0], [30.0])
    """
    n_types = len(TYPES)
    type_code = lookup(events.types, _TYPE_CODE, default=-1, dtype=np.int64)
    known = (events.codes >= 0) & (type_code >= 0)
    groups = np.where(known, events.codes * n_types + type_code, -1)
    typed = EventIndex(groups, events.seconds)  # counts per (entity, type), no values: one sort of the keys
    site = np.isin(type_code, [_TYPE_CODE[t] for t in SITE_TYPES]) & known
    site_index = EventIndex(events.codes[site], events.seconds[site], events.values[site])
    weights = np.array([cfg.engagement_weights.get(t, 0.0) for t in TYPES])
    row_weight = weights[typed.codes % n_types] if len(typed) else np.zeros(0)
    visits = None
    if account_visits is not None and q_account_codes is not None:
        visits = EventIndex(account_visits.codes, account_visits.seconds)
    parts = [
        _chunk(
            typed,
            row_weight,
            site_index,
            visits,
            q_codes[s],
            q_seconds[s],
            None if q_account_codes is None else q_account_codes[s],
            cfg,
        )
        for s in (slice(i, i + CHUNK) for i in range(0, max(len(q_codes), 1), CHUNK))
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _chunk(
    typed: EventIndex,
    row_weight: np.ndarray,
    site: EventIndex,
    visits: EventIndex | None,
    q_codes: np.ndarray,
    q_seconds: np.ndarray,
    q_accounts: np.ndarray | None,
    cfg: BehaviourConfig,
) -> dict[str, np.ndarray]:
    n, n_types = len(q_codes), len(TYPES)
    # every (query, type) pair at once: the type is part of the group code
    groups = (q_codes[:, None] * n_types + np.arange(n_types)[None, :]).ravel()
    times = np.repeat(q_seconds, n_types)
    trend = cfg.trend_window_days * SECONDS_PER_DAY
    windows = [w * SECONDS_PER_DAY for w in cfg.windows_days] + [trend, 2 * trend]
    block, hi, starts = typed.starts(groups, times, windows)
    so_far = (hi - block).reshape(n, n_types).astype(np.float64)
    counts = [(hi - lo).reshape(n, n_types).astype(np.float64) for lo in starts]
    touch = np.array([_TYPE_CODE[t] for t in TOUCH_TYPES])
    out: dict[str, np.ndarray] = {}
    for k, w in enumerate(cfg.windows_days):
        for t in COUNTED_TYPES:
            out[f"n_{t}_{w}d"] = counts[k][:, _TYPE_CODE[t]]
    for k, w in enumerate(cfg.windows_days):
        out[f"touches_{w}d"] = counts[k][:, touch].sum(axis=1)
    # the latest and the first touch: over the (entity, type) blocks of touch types with rows up to as_of
    seen = (hi > block).reshape(n, n_types)[:, touch]
    if len(typed):
        last = typed.seconds[np.maximum(hi - 1, 0)].reshape(n, n_types)[:, touch]
        first = typed.seconds[np.minimum(block, len(typed) - 1)].reshape(n, n_types)[:, touch]
    else:
        last = first = np.zeros((n, len(touch)), dtype=np.int64)
    any_touch = seen.any(axis=1)
    last_s = np.where(seen, last, -1).max(axis=1)
    first_s = np.where(seen, first, np.iinfo(np.int64).max).min(axis=1)
    out["days_since_last_touch"] = np.where(any_touch, (q_seconds - last_s) / SECONDS_PER_DAY, np.nan)
    out["days_since_first_touch"] = np.where(any_touch, (q_seconds - first_s) / SECONDS_PER_DAY, np.nan)
    longest = max(cfg.windows_days) * SECONDS_PER_DAY
    decayed = typed.decayed_total(
        groups, times, longest, cfg.half_life_days * SECONDS_PER_DAY, weights=row_weight
    )
    out["engagement_decayed"] = decayed.reshape(n, n_types).sum(axis=1)
    recent = counts[-2][:, touch].sum(axis=1)
    before = counts[-1][:, touch].sum(axis=1) - recent
    out["touch_trend"] = np.log((recent + 1) / (before + 1))
    out["distinct_touch_types"] = (so_far[:, touch] > 0).sum(axis=1).astype(np.float64)
    out["time_on_site_s"] = site.total(q_codes, q_seconds)
    sent, opened, clicked = (so_far[:, _TYPE_CODE[t]] for t in ("email_sent", "email_open", "email_click"))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["email_open_rate"] = np.where(sent > 0, opened / sent, np.nan)
        out["email_click_rate"] = np.where(sent > 0, clicked / sent, np.nan)
    out["requests"] = so_far[:, _TYPE_CODE["demo_request"]] + so_far[:, _TYPE_CODE["form_submit"]]
    if visits is not None and q_accounts is not None:
        out["account_web_visits"] = visits.count(q_accounts, q_seconds, longest)
    else:
        out["account_web_visits"] = np.zeros(n)
    return out
