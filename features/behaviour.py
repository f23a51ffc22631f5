"""Behaviour signals from activities at or before as_of: windowed counts per event type, recency,
decayed engagement, trend, breadth, time on site, email rates and explicit requests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.events import SECONDS_PER_DAY, EventIndex, entity_codes, to_seconds
from features.spec import FeatureSpec
from funnelcast.config import BehaviourConfig

COUNTED_TYPES = ("web_visit", "page_view", "content_download", "email_open", "email_click", "email_reply",
                 "form_submit", "demo_request", "webinar_attended", "event_attended", "call", "meeting")
# What a touch is worth in decayed engagement; sends are ours, not the lead's, so they count nothing.
ENGAGEMENT_WEIGHTS = {"web_visit": 1.0, "page_view": 0.5, "content_download": 4.0, "email_open": 1.0,
                      "email_click": 3.0, "email_reply": 5.0, "form_submit": 6.0, "demo_request": 10.0,
                      "webinar_attended": 5.0, "event_attended": 5.0, "call": 3.0, "meeting": 5.0,
                      "proposal_sent": 0.0, "email_sent": 0.0}
TOUCH_TYPES = tuple(t for t, w in ENGAGEMENT_WEIGHTS.items() if w > 0)
SITE_TYPES = ("web_visit", "page_view")


def specs(cfg: BehaviourConfig) -> tuple[FeatureSpec, ...]:
    out = [FeatureSpec(f"n_{t}_{w}d", f"number of {t} events", "count", f"last {w} days")
           for t in COUNTED_TYPES for w in cfg.windows_days]
    out += [FeatureSpec(f"touches_{w}d", "lead touches of any kind (sends excluded)", "count", f"last {w} days")
            for w in cfg.windows_days]
    longest = max(cfg.windows_days)
    trend = cfg.trend_window_days
    out += [
        FeatureSpec("days_since_last_touch", "days since the latest touch", "days, missing if none"),
        FeatureSpec("days_since_first_touch", "days since the first touch", "days, missing if none"),
        FeatureSpec("engagement_decayed", f"touches weighted by type, halved every {cfg.half_life_days:g} days",
                    "weighted count", f"last {longest} days"),
        FeatureSpec("touch_trend", f"log((touches in the last {trend} days + 1) / (touches in the {trend} days "
                    "before + 1))", "log ratio", f"last {2 * trend} days"),
        FeatureSpec("distinct_touch_types", "number of different touch types seen", "count"),
        FeatureSpec("time_on_site_s", "seconds on site over web visits and page views", "seconds"),
        FeatureSpec("email_open_rate", "emails opened per email sent", "ratio, missing if none sent"),
        FeatureSpec("email_click_rate", "email clicks per email sent", "ratio, missing if none sent"),
        FeatureSpec("requests", "demo requests and form submissions", "count"),
        FeatureSpec("account_web_visits", "anonymous web visits matched to the lead's account", "count",
                    f"last {longest} days"),
    ]
    return tuple(out)


def behaviour_features(acts: pd.DataFrame, entity_ids: pd.Index, q_codes: np.ndarray, q_seconds: np.ndarray,
                       cfg: BehaviourConfig, account_acts: pd.DataFrame | None = None,
                       q_account_codes: np.ndarray | None = None) -> pd.DataFrame:
    """Behaviour features for queries (entity code, as_of seconds).

    `acts` are the activities of the entities in `entity_ids` (the lead universe); account activity
    is counted through `q_account_codes` into the accounts of `account_acts`.
    """
    account = None
    if account_acts is not None and q_account_codes is not None:
        account = (account_acts["_code"].to_numpy(), to_seconds(account_acts["occurred_at"]), q_account_codes)
    return pd.DataFrame(behaviour_arrays(entity_codes(acts["entity_id"], entity_ids), to_seconds(acts["occurred_at"]),
                                         acts["type"].to_numpy(), acts["value"].to_numpy(dtype=float),
                                         q_codes, q_seconds, cfg, account))


def behaviour_arrays(codes: np.ndarray, seconds: np.ndarray, types: np.ndarray, values: np.ndarray,
                     q_codes: np.ndarray, q_seconds: np.ndarray, cfg: BehaviourConfig,
                     account: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The definition of every behaviour feature, on plain arrays: one row per activity (entity
    code, unix seconds, type, value) and one per query (entity code, as_of seconds). `account` is
    (account code, seconds) of anonymous account visits and each query's account code. The batch
    pipeline and the API's batch requests both call this."""
    out: dict[str, np.ndarray] = {}
    # compare small integer codes, not strings, once per type
    kind, names = pd.factorize(types)
    position = {name: i for i, name in enumerate(names)}

    def of_type(*wanted: str) -> np.ndarray:
        table = np.zeros(len(names) + 1, dtype=bool)  # the last entry answers code -1 (missing type)
        table[[position[t] for t in wanted if t in position]] = True
        return table[kind]

    # values only where they are summed (time on site); the other types are only counted
    by_type = {t: EventIndex(codes[m], seconds[m], values[m] if t in SITE_TYPES else None)
               for t in set(COUNTED_TYPES) | set(TOUCH_TYPES) | {"email_sent"} for m in [of_type(t)]}
    for t in COUNTED_TYPES:
        idx = by_type[t]
        for w in cfg.windows_days:
            out[f"n_{t}_{w}d"] = idx.count(q_codes, q_seconds, w * SECONDS_PER_DAY)
    is_touch = of_type(*TOUCH_TYPES)
    touches = EventIndex(codes[is_touch], seconds[is_touch])
    for w in cfg.windows_days:
        out[f"touches_{w}d"] = touches.count(q_codes, q_seconds, w * SECONDS_PER_DAY)
    last = touches.last_seconds(q_codes, q_seconds)
    first = touches.first_seconds(q_codes, q_seconds)
    out["days_since_last_touch"] = np.where(last >= 0, (q_seconds - last) / SECONDS_PER_DAY, np.nan)
    out["days_since_first_touch"] = np.where(first >= 0, (q_seconds - first) / SECONDS_PER_DAY, np.nan)
    weights = np.array([ENGAGEMENT_WEIGHTS.get(name, 0.0) for name in names] + [0.0])[kind]  # code -1: missing
    weighted = EventIndex(codes[weights > 0], seconds[weights > 0], weights[weights > 0])
    out["engagement_decayed"] = weighted.decayed_total(q_codes, q_seconds, max(cfg.windows_days) * SECONDS_PER_DAY,
                                                       cfg.half_life_days * SECONDS_PER_DAY)
    span = cfg.trend_window_days * SECONDS_PER_DAY
    recent = touches.count(q_codes, q_seconds, span)
    before = touches.count(q_codes, q_seconds, 2 * span) - recent
    out["touch_trend"] = np.log((recent + 1) / (before + 1))
    so_far = {t: idx.count(q_codes, q_seconds) for t, idx in by_type.items()}
    out["distinct_touch_types"] = np.sum([so_far[t] > 0 for t in TOUCH_TYPES], axis=0).astype(float)
    out["time_on_site_s"] = sum(by_type[t].total(q_codes, q_seconds) for t in SITE_TYPES)
    sent, opened, clicked = so_far["email_sent"], so_far["email_open"], so_far["email_click"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["email_open_rate"] = np.where(sent > 0, opened / sent, np.nan)
        out["email_click_rate"] = np.where(sent > 0, clicked / sent, np.nan)
    out["requests"] = so_far["demo_request"] + so_far["form_submit"]
    if account is not None:
        acc_codes, acc_seconds, q_account_codes = account
        visits = EventIndex(acc_codes, acc_seconds)
        out["account_web_visits"] = visits.count(q_account_codes, q_seconds, max(cfg.windows_days) * SECONDS_PER_DAY)
    else:
        out["account_web_visits"] = np.zeros(len(q_codes))
    return out
