"""Accounts, leads and lead behaviour. Times are float days since the data set's start."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import gamma

from funnelcast.core.config import LeadsConfig
from funnelcast.synthetic import vocab

SPAN_DAYS = 730
CONVERT_SHAPE, CONVERT_SCALE = 2.0, 20.0  # time to convert ~ Gamma(2, 20 days): mean 40 days


def _pick(rng: np.random.Generator, choices: dict | list, n: int) -> np.ndarray:
    """Draw n indices into `choices` with the probabilities given as the dict's first values."""
    if isinstance(choices, dict):
        probs = np.array([v[0] if isinstance(v, tuple) else v for v in choices.values()], dtype=float)
    else:
        probs = np.ones(len(choices))
    return rng.choice(len(probs), size=n, p=probs / probs.sum())


def _effects(choices: dict) -> np.ndarray:
    return np.array([v[1] for v in choices.values()], dtype=float)


def ids(prefix: str, n: int, start: int = 1) -> np.ndarray:
    width = max(6, len(str(n + start)))
    if n == 0:
        return np.array([], dtype=f"<U{width + len(prefix)}")
    return np.char.add(prefix, np.char.zfill(np.arange(start, n + start).astype(str), width))


def _brand(prefix: np.ndarray, middle: np.ndarray) -> np.ndarray:
    """A brand between prefix and trade for every repeat of a prefix + trade pair (deterministic, no
    random draw: the rest of the data set stays as it was), so that no two accounts share a name."""
    occurrence = (
        pd.Series(np.char.add(prefix, middle)).groupby(np.char.add(prefix, middle)).cumcount().to_numpy()
    )
    syllables = np.array(vocab.BRAND_SYLLABLES)
    k = len(syllables)
    first, second = syllables[(occurrence - 1) // k % k], syllables[(occurrence - 1) % k]
    brand = np.char.add(first, second)
    rounds = (occurrence - 1) // (k * k)  # beyond k * k repeats: a numbered branch
    brand = np.where(rounds > 0, np.char.add(brand, rounds.astype(str)), brand)
    return np.where(occurrence == 0, "", brand)


def make_accounts(rng: np.random.Generator, n: int) -> pd.DataFrame:
    industry = _pick(rng, vocab.INDUSTRIES, n)
    employees = np.clip(np.round(rng.lognormal(4.5, 1.4, n)), 1, 200_000)
    revenue = np.round(employees * rng.lognormal(np.log(600_000), 0.5, n), -3)
    prefix = np.array(vocab.COMPANY_PREFIX)[_pick(rng, vocab.COMPANY_PREFIX, n)]
    middle = np.array(vocab.COMPANY_MIDDLE)[_pick(rng, vocab.COMPANY_MIDDLE, n)]
    suffix = np.array(vocab.COMPANY_SUFFIX)[_pick(rng, vocab.COMPANY_SUFFIX, n)]
    name = np.char.add(np.char.add(np.char.add(prefix, _brand(prefix, middle)), middle), suffix)
    return pd.DataFrame(
        {
            "account_id": ids("A", n),
            "name": name,
            "industry": np.array(list(vocab.INDUSTRIES))[industry],
            "employees": employees,
            "annual_revenue": revenue,
            "region": np.array(list(vocab.REGIONS))[_pick(rng, vocab.REGIONS, n)],
            "_industry_effect": _effects(vocab.INDUSTRIES)[industry],
        }
    )


def _arrival_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lead creation times with yearly seasonality, growth and quiet weekends."""
    day = np.arange(SPAN_DAYS)
    weight = (1 + 0.25 * np.sin(2 * np.pi * (day - 60) / 365)) * (1 + 0.5 * day / SPAN_DAYS)
    weight *= np.where(day % 7 >= 5, 0.35, 1.0)  # day 0 is a Monday
    days = rng.choice(SPAN_DAYS, size=n, p=weight / weight.sum())
    return np.sort(days + rng.uniform(8 / 24, 20 / 24, n))


_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(40)


def _expit_mean(z: np.ndarray) -> np.ndarray:
    """E[expit(z + e)] for e ~ N(0, 1), by Gauss-Hermite quadrature."""
    return (expit(z[:, None] + np.sqrt(2) * _NODES[None, :]) * _WEIGHTS[None, :]).sum(axis=1) / np.sqrt(np.pi)


def make_leads(
    rng: np.random.Generator, n: int, accounts: pd.DataFrame, cfg: LeadsConfig, drift: float = 0.0
) -> pd.DataFrame:
    """Leads with firmographics, BANT as captured, a hidden intent and the outcome it drives. `drift`
    shifts the log-odds of converting linearly over the span (0 at the start, `drift` at the end): a
    market that changes under a model trained on its past."""
    acc = accounts.iloc[rng.integers(0, len(accounts), n)].reset_index(drop=True)
    created = _arrival_days(rng, n)
    source = _pick(rng, vocab.SOURCES, n)
    level = _pick(rng, vocab.AUTHORITY, n)
    levels = list(vocab.AUTHORITY)
    title = np.empty(n, dtype=object)
    for i, lvl in enumerate(levels):  # one draw per level (six levels), not per row
        sel = level == i
        titles = vocab.AUTHORITY[lvl][2]
        title[sel] = np.array(titles, dtype=object)[rng.integers(0, len(titles), sel.sum())]
    title[title == ""] = None

    products = cfg.products
    popularity = 1.0 / np.arange(1, len(products) + 1) ** 0.5
    product = rng.choice(len(products), n, p=popularity / popularity.sum())
    all_needs = sorted({need for p in products for need in p.needs})
    fits = rng.random(n) < 0.6
    alt = rng.integers(0, 3, n)
    need_table = np.array([[p.needs[k % len(p.needs)] for k in range(3)] for p in products], dtype=object)
    own_need = need_table[product, alt]
    need = np.where(fits, own_need, np.array(all_needs, dtype=object)[rng.integers(0, len(all_needs), n)])
    need_matches = np.array([[nd in p.needs for nd in all_needs] for p in products])[
        product, np.searchsorted(all_needs, need.astype(str))
    ]
    need_known = rng.random(n) < 0.8
    product_known = rng.random(n) < 0.85

    price_lo = np.array([p.price_min for p in products])[product]
    price_hi = np.array([p.price_max for p in products])[product]
    size_factor = np.clip((acc["employees"].to_numpy() / 100) ** 0.3, 0.4, 3.0)
    budget = np.round(np.sqrt(price_lo * price_hi) * size_factor * rng.lognormal(0, 0.7, n), -3)
    budget_fits = (budget >= price_lo) & (budget <= price_hi * 1.5)
    budget_mode = rng.choice(3, n, p=[0.55, 0.15, 0.30])  # amount, band, unknown
    usd = (acc["region"].to_numpy() == "International") & (rng.random(n) < 0.8)
    band_edges = np.array([b.min for b in cfg.budget_bands[1:]])
    band = np.array([b.key for b in cfg.budget_bands], dtype=object)[
        np.searchsorted(band_edges, budget, "right")
    ]

    horizon = rng.lognormal(np.log(90), 0.8, n)
    timeline_mode = rng.choice(3, n, p=[0.35, 0.30, 0.35])  # date, band, unknown
    band_limits = np.array([b for b, _ in vocab.HORIZON_BANDS])
    horizon_band = np.array([k for _, k in vocab.HORIZON_BANDS], dtype=object)[
        np.searchsorted(band_limits, horizon)
    ]

    noise = rng.normal(0, 1.0, n)
    z = (
        -2.6
        + _effects(vocab.SOURCES)[source]
        + _effects(vocab.AUTHORITY)[level]
        + np.where(budget_mode == 2, 0.0, np.where(budget_fits, 0.7, -0.45))
        + np.where(need_known, np.where(need_matches, 0.55, -0.5), 0.0)
        + np.where(
            timeline_mode == 2,
            -0.1,
            np.select([horizon <= 30, horizon <= 90, horizon <= 180], [0.8, 0.4, 0.0], -0.5),
        )
        + 0.12 * (np.log(acc["employees"].to_numpy()) - 4.5)
        + acc["_industry_effect"].to_numpy()
        + noise
        + drift * created / SPAN_DAYS
    )
    p_ever = expit(z)
    t_convert = rng.gamma(CONVERT_SHAPE, CONVERT_SCALE, n)
    converts = rng.random(n) < p_ever
    converted_at = np.where(converts, created + t_convert, np.nan)
    converted_at[converted_at > SPAN_DAYS] = np.nan  # not yet converted at export time (right-censored)
    disq = ~converts & (rng.random(n) < 0.5)
    disqualified_at = np.where(disq, created + rng.exponential(30, n), np.nan)
    disqualified_at[disqualified_at > SPAN_DAYS] = np.nan

    has_account = rng.random(n) < 0.85
    roles = np.array(vocab.CONTACT_ROLES, dtype=object)
    role = np.where(level <= 1, roles[0], roles[rng.integers(1, len(roles), n)])
    role[rng.random(n) < 0.4] = None
    name = np.char.add(
        np.array(vocab.SURNAMES)[rng.integers(0, len(vocab.SURNAMES), n)],
        np.array(vocab.GIVEN)[rng.integers(0, len(vocab.GIVEN), n)],
    )
    leads = pd.DataFrame(
        {
            "lead_id": ids("L", n),
            "account_id": np.where(has_account, acc["account_id"].to_numpy(), None),
            "company": acc["name"].to_numpy(),
            "industry": acc["industry"].to_numpy(),
            "employees": acc["employees"].to_numpy(),
            "region": acc["region"].to_numpy(),
            "created_at": created,
            "source": np.array(list(vocab.SOURCES), dtype=object)[source],
            "owner": np.array(vocab.LEAD_OWNERS, dtype=object)[rng.integers(0, len(vocab.LEAD_OWNERS), n)],
            "contact_name": name,
            "contact_title": title,
            "contact_role": role,
            "product_interest": np.where(
                product_known, np.array([p.key for p in products], dtype=object)[product], None
            ),
            "need": np.where(need_known, need, None),
            "budget_amount": np.where(
                budget_mode == 0, np.where(usd, np.round(budget / 7.1, -2), budget), np.nan
            ),
            "budget_currency": np.where(budget_mode == 0, np.where(usd, "USD", "CNY"), None),
            "budget_band": np.where(budget_mode == 1, band, None),
            "timeline_date": np.where(timeline_mode == 0, np.floor(created + horizon), np.nan),
            "timeline_horizon": np.where(timeline_mode == 1, horizon_band, None),
            "converted_at": converted_at,
            "disqualified_at": disqualified_at,
            "disqualify_reason": np.where(
                np.isnan(disqualified_at),
                None,
                np.array(vocab.DISQUALIFY_REASONS, dtype=object)[
                    rng.integers(0, len(vocab.DISQUALIFY_REASONS), n)
                ],
            ),
            # hidden columns (dropped before writing): the generator's truth
            "_z": z,
            "_level": level,
            "_p_ever": p_ever,
            "_p_90": p_ever * gamma.cdf(cfg.horizon_days, CONVERT_SHAPE, scale=CONVERT_SCALE),
            # what can be known at creation: the hidden intent (`noise`) integrated out
            "_p_90_captured": _expit_mean(z - noise)
            * gamma.cdf(cfg.horizon_days, CONVERT_SHAPE, scale=CONVERT_SCALE),
            "_t_convert": t_convert,
            "_converts": converts,
            "_product": product,
            "_account_id": acc["account_id"].to_numpy(),  # the account created or matched on conversion
        }
    )
    # company fields are the account's when the lead is matched to one; blank some, as CRMs do
    matched = has_account
    for col in ("industry", "employees", "region"):
        blank = matched & (rng.random(n) < 0.5)
        leads.loc[blank, col] = None if col != "employees" else np.nan
    return leads


def make_lead_activities(rng: np.random.Generator, leads: pd.DataFrame) -> pd.DataFrame:
    """Behaviour that follows intent: engaged leads engage more, and more so as they near conversion."""
    n = len(leads)
    z = leads["_z"].to_numpy()
    created = leads["created_at"].to_numpy()
    converts_ever = leads["_converts"].to_numpy()  # includes converters censored by the export date
    t_conv = leads["_t_convert"].to_numpy()
    lifetime = np.where(converts_ever, t_conv, rng.exponential(45, n) + 5)
    rate = np.exp(1.6 + 0.55 * z)
    counts = rng.poisson(np.clip(rate, 0.2, 80))
    idx = np.repeat(np.arange(n), counts)
    shape_a = np.where(converts_ever[idx], 2.5, 1.0)
    shape_b = np.where(converts_ever[idx], 1.0, 2.2)
    offset = lifetime[idx] * rng.beta(shape_a, shape_b)
    occurred = created[idx] + offset
    keep = occurred <= SPAN_DAYS
    idx, occurred = idx[keep], occurred[keep]

    types = list(vocab.LEAD_EVENTS)
    base = np.log(np.array([v[0] for v in vocab.LEAD_EVENTS.values()]))
    sens = np.array([v[1] for v in vocab.LEAD_EVENTS.values()])
    bins = np.clip(np.round(z[idx] * 4) / 4, -4, 4)  # quarter-unit intent bins: one draw per bin
    event_type = np.empty(len(idx), dtype=np.int64)
    for b in np.unique(bins):
        sel = bins == b
        p = np.exp(base + sens * b)
        event_type[sel] = rng.choice(len(types), sel.sum(), p=p / p.sum())
    names = np.array(types, dtype=object)[event_type]
    value = np.full(len(idx), np.nan)
    for name, median, sd in (
        ("page_view", 45, 0.8),
        ("web_visit", 140, 0.9),
        ("webinar_attended", 35, 0.4),
        ("call", 8, 0.6),
    ):
        sel = names == name
        value[sel] = np.round(rng.lognormal(np.log(median) + 0.15 * z[idx][sel], sd))
    frame = pd.DataFrame(
        {
            "entity_type": "lead",
            "entity_id": leads["lead_id"].to_numpy()[idx],
            "occurred_at": occurred,
            "type": names,
            "value": value,
            "contact_id": None,
            "contact_role": None,
        }
    )
    return pd.concat(
        [frame, _email_responses(rng, leads, idx[names == "email_sent"], occurred[names == "email_sent"])],
        ignore_index=True,
    )


def _email_responses(
    rng: np.random.Generator, leads: pd.DataFrame, lead_idx: np.ndarray, sent_at: np.ndarray
) -> pd.DataFrame:
    """Opens follow sends, clicks follow opens, more often for engaged leads."""
    z = leads["_z"].to_numpy()[lead_idx]
    a, b = vocab.EMAIL_OPEN_LOGIT
    opened = rng.random(len(z)) < expit(a + b * z)
    open_at = sent_at + rng.exponential(0.5, len(z))
    c, d = vocab.EMAIL_CLICK_LOGIT
    clicked = opened & (rng.random(len(z)) < expit(c + d * z))
    click_at = open_at + rng.exponential(0.02, len(z))
    who = np.concatenate([lead_idx[opened], lead_idx[clicked]])
    when = np.concatenate([open_at[opened], click_at[clicked]])
    kind = np.array(["email_open"] * int(opened.sum()) + ["email_click"] * int(clicked.sum()), dtype=object)
    keep = when <= SPAN_DAYS
    return pd.DataFrame(
        {
            "entity_type": "lead",
            "entity_id": leads["lead_id"].to_numpy()[who][keep],
            "occurred_at": when[keep],
            "type": kind[keep],
            "value": np.nan,
            "contact_id": None,
            "contact_role": None,
        }
    )


def make_account_activities(rng: np.random.Generator, accounts: pd.DataFrame) -> pd.DataFrame:
    """Anonymous web traffic matched to an account (reverse IP), not to a person."""
    m = len(accounts) // 3
    acc = rng.integers(0, len(accounts), m)
    return pd.DataFrame(
        {
            "entity_type": "account",
            "entity_id": accounts["account_id"].to_numpy()[acc],
            "occurred_at": rng.uniform(0, SPAN_DAYS, m),
            "type": "web_visit",
            "value": np.round(rng.lognormal(np.log(90), 0.9, m)),
            "contact_id": None,
            "contact_role": None,
        }
    )
