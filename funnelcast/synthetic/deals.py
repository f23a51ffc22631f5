"""Opportunities from converted leads: stage paths, close-date slips, amount changes, deal activity.

Times are float days since the data set's start; anything after `SPAN_DAYS` (the export date) is
cut, so deals still running then are open.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from funnelcast.core.config import FunnelConfig, LeadsConfig
from funnelcast.synthetic import vocab
from funnelcast.synthetic.leads import SPAN_DAYS, ids

MAX_STEPS = 8
STAGE_MEDIAN_DAYS = np.array([6.0, 12.0, 18.0, 14.0, 14.0, 14.0])  # by open-stage index
HIDDEN_SHARE, SKIP_SHARE, REGRESS_SHARE = 0.035, 0.10, 0.08
OUTCOME_WON, OUTCOME_LOST = 1, 2


def _paths(
    kind: np.ndarray, reach: np.ndarray, skip: np.ndarray, regress: np.ndarray, n_open: int
) -> np.ndarray:
    """Stage index sequences (padded with -1), built once per distinct combination of path traits.

    kind: 0 normal won, 1 lost, 2 hidden (first stage straight to won). Won is index n_open,
    lost is n_open + 1. skip: open stage left out (-1 none). regress: stage after which the deal
    falls back one stage and climbs again (-1 none).
    """
    traits = np.stack([kind, reach, skip, regress], axis=1)
    combos, inverse = np.unique(traits, axis=0, return_inverse=True)
    templates = np.full((len(combos), MAX_STEPS), -1, dtype=np.int64)
    for row, (k, r, s, g) in enumerate(combos):
        if k == 2:
            path = [0, n_open]
        else:
            path = [st for st in range(r + 1) if st != s]
            if g >= 1 and g in path:
                at = path.index(g)
                path = path[: at + 1] + [g - 1, g] + path[at + 1 :]
            path.append(n_open if k == 0 else n_open + 1)
        templates[row, : len(path)] = path
    return templates[inverse.ravel()]


def make_opportunities(
    rng: np.random.Generator, leads: pd.DataFrame, funnel: FunnelConfig, cfg: LeadsConfig
) -> dict[str, pd.DataFrame]:
    conv = leads[leads["converted_at"].notna()].reset_index(drop=True)
    n = len(conv)
    product = conv["_product"].to_numpy()
    products = cfg.products
    pipeline_keys = np.array([p.pipeline for p in products], dtype=object)[product]
    n_open = len(funnel.pipeline(funnel.default_pipeline).stages)
    if any(len(p.stages) != n_open for p in funnel.pipelines):
        raise ValueError("the generator expects every pipeline to have the same number of open stages")

    owner = rng.integers(0, len(vocab.DEAL_OWNERS), n)
    skill = np.random.default_rng(12345).normal(0, 0.45, len(vocab.DEAL_OWNERS))  # fixed per owner roster
    pace = np.random.default_rng(54321).lognormal(0, 0.25, len(vocab.DEAL_OWNERS))
    z = conv["_z"].to_numpy()
    z_std = (z - z.mean()) / (z.std() + 1e-9) if n else z
    level = conv["_level"].to_numpy()
    p_win = expit(
        -0.55 + 0.75 * z_std + skill[owner] + np.where(level <= 1, 0.3, 0.0) + rng.normal(0, 0.4, n)
    )
    won = rng.random(n) < p_win

    hidden = won & (rng.random(n) < HIDDEN_SHARE)
    reach = np.where(
        won,
        n_open - 1,
        rng.choice(
            n_open, n, p=[0.30, 0.30, 0.25, 0.15][:n_open] / np.sum([0.30, 0.30, 0.25, 0.15][:n_open])
        ),
    )
    skip = np.where(
        ~hidden & (reach >= 2) & (rng.random(n) < SKIP_SHARE), rng.integers(1, np.maximum(reach, 2)), -1
    )
    regress = np.where(
        ~hidden & (reach >= 1) & (rng.random(n) < REGRESS_SHARE),
        rng.integers(1, np.maximum(reach, 1) + 1),
        -1,
    )
    kind = np.where(hidden, 2, np.where(won, 0, 1))
    path = _paths(kind, reach, skip, regress, n_open)
    valid = path >= 0
    is_open_stage = valid & (path < n_open)

    stall = rng.random(n) < np.where(won, 0.05, 0.20)
    dwell = rng.lognormal(np.log(STAGE_MEDIAN_DAYS[np.clip(path, 0, n_open - 1)]), 0.5)
    dwell *= pace[owner][:, None] * np.where(won, 1.0, 1.3)[:, None]
    n_open_steps = is_open_stage.sum(axis=1)
    stall_step = np.floor(rng.random(n) * n_open_steps).astype(int)
    dwell[np.arange(n)[stall], stall_step[stall]] *= rng.uniform(3, 6, stall.sum())
    dwell[~is_open_stage] = 0.0
    created = conv["converted_at"].to_numpy()
    entered = created[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(dwell, axis=1)[:, :-1]], axis=1)
    entered = np.where(valid, entered, np.nan)
    last = valid.sum(axis=1) - 1
    if n == 0:
        entered = np.zeros((0, MAX_STEPS))
    close_time = entered[np.arange(n), last]
    closed = close_time <= SPAN_DAYS
    outcome = np.where(closed, np.where(won, OUTCOME_WON, OUTCOME_LOST), 0)

    lost_stage = path[np.arange(n), np.maximum(last - 1, 0)]
    loss_reason = np.empty(n, dtype=object)
    reasons = list(vocab.LOSS_BY_STAGE[0])
    for st in range(n_open):
        sel = (outcome == OUTCOME_LOST) & (lost_stage == st)
        shares = np.array(list(vocab.LOSS_BY_STAGE[min(st, len(vocab.LOSS_BY_STAGE) - 1)].values()))
        loss_reason[sel] = np.array(reasons, dtype=object)[rng.choice(len(reasons), sel.sum(), p=shares)]

    employees = conv["employees"].to_numpy()
    employees = np.where(np.isnan(employees), 100.0, employees)
    mid = np.sqrt(np.array([p.price_min for p in products]) * np.array([p.price_max for p in products]))[
        product
    ]
    amount0 = np.round(mid * np.clip((employees / 100) ** 0.3, 0.4, 3.0) * rng.lognormal(0, 0.35, n), -2)

    stage_keys = {p.key: [s.key for s in p.all_stages] for p in funnel.pipelines}
    opp_ids = ids("O", n)
    rows_opp, rows_step = np.nonzero(valid & (entered <= SPAN_DAYS))
    stage_idx = path[rows_opp, rows_step]
    stage_names = np.empty(len(rows_opp), dtype=object)
    for key, names in stage_keys.items():
        sel = pipeline_keys[rows_opp] == key
        stage_names[sel] = np.array(names, dtype=object)[stage_idx[sel]]
    stage_history = pd.DataFrame(
        {
            "opportunity_id": opp_ids[rows_opp],
            "stage": stage_names,
            "entered_at": entered[rows_opp, rows_step],
        }
    )

    close_hist, expected_now = _close_date_slips(
        rng, created, np.where(closed, close_time, np.inf), owner, n_open, opp_ids
    )
    amount_hist, amount_now = _amount_changes(rng, entered, path, amount0, opp_ids)
    usd = (conv["region"].to_numpy() == "International") & (conv["budget_currency"].to_numpy() == "USD")
    rate = np.where(usd, 7.1, 1.0)
    amount_hist["amount"] = np.round(
        amount_hist["amount"].to_numpy() / rate[amount_hist.pop("_opp").to_numpy()], -1
    )

    opportunities = pd.DataFrame(
        {
            "opportunity_id": opp_ids,
            "lead_id": conv["lead_id"].to_numpy(),
            "account_id": conv["_account_id"].to_numpy(),
            "owner": np.array(vocab.DEAL_OWNERS, dtype=object)[owner],
            "pipeline": pipeline_keys,
            "product": np.array([p.key for p in products], dtype=object)[product],
            "amount": np.round(amount_now / rate, -1),
            "currency": np.where(usd, "USD", "CNY"),
            "created_at": created,
            "expected_close_date": expected_now,
            "closed_at": np.where(closed, close_time, np.nan),
            "outcome": np.array(["open", "won", "lost"], dtype=object)[outcome],
            "loss_reason": np.where(outcome == OUTCOME_LOST, loss_reason, None),
            "_p_win": p_win,
            "_won": won,
            "_z": z,
            "_level": level,
            "_close_time": close_time,
        }
    )
    return {
        "opportunities": opportunities,
        "stage_history": stage_history,
        "close_date_history": close_hist,
        "amount_history": amount_hist,
    }


def _close_date_slips(
    rng: np.random.Generator,
    created: np.ndarray,
    close_time: np.ndarray,
    owner: np.ndarray,
    n_open: int,
    opp_ids: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Reps set an optimistic close date and push it each time it passes with the deal still open."""
    n = len(created)
    optimism = np.random.default_rng(777).uniform(0.6, 1.0, len(vocab.DEAL_OWNERS))[owner]
    expected = np.floor(created + STAGE_MEDIAN_DAYS[:n_open].sum() * optimism * rng.uniform(0.8, 1.2, n)) + 1
    changed, values, who = [created], [expected.copy()], [np.arange(n)]
    end = np.minimum(close_time, SPAN_DAYS)
    for _ in range(12):  # rounds of slips, vectorised across deals
        slipping = expected < end
        if not slipping.any():
            break
        when = expected[slipping] + rng.uniform(0, 4, slipping.sum())
        ok = when < end[slipping]
        sel = np.flatnonzero(slipping)[ok]
        when = when[ok]
        expected[sel] = np.floor(when + rng.uniform(14, 45, len(sel))) + 1
        changed.append(when)
        values.append(expected[sel].copy())
        who.append(sel)
        # deals whose slip would land after close or export stop slipping
        stop = np.flatnonzero(slipping)[~ok]
        end[stop] = -np.inf
    opp = np.concatenate(who)
    hist = pd.DataFrame(
        {
            "opportunity_id": opp_ids[opp],
            "changed_at": np.concatenate(changed),
            "expected_close_date": np.concatenate(values),
        }
    )
    return hist, expected


def _amount_changes(
    rng: np.random.Generator, entered: np.ndarray, path: np.ndarray, amount0: np.ndarray, opp_ids: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """About a quarter of deals renegotiate the amount when they enter the third open stage."""
    n = len(amount0)
    third = np.where(path == 2, entered, np.nan)
    first_third = np.nanmin(np.where(np.isnan(third), np.inf, third), axis=1)
    changed_at = first_third + rng.uniform(0.1, 2, n)
    change = (rng.random(n) < 0.25) & np.isfinite(first_third) & (changed_at <= SPAN_DAYS)
    new_amount = np.round(amount0 * rng.uniform(0.75, 1.15, n), -2)
    opp = np.concatenate([np.arange(n), np.flatnonzero(change)])
    hist = pd.DataFrame(
        {
            "opportunity_id": opp_ids[opp],
            "changed_at": np.concatenate([entered[:, 0], changed_at[change]]),
            "amount": np.concatenate([amount0, new_amount[change]]),
            "_opp": opp,
        }
    )
    return hist, np.where(change, new_amount, amount0)


def make_deal_activities(rng: np.random.Generator, opps: pd.DataFrame) -> pd.DataFrame:
    """Sales activity on deals: winners stay busy with more contacts, losers go quiet before the end."""
    n = len(opps)
    won = opps["_won"].to_numpy()
    created = opps["created_at"].to_numpy()
    duration = np.maximum(opps["_close_time"].to_numpy() - created, 0.5)
    counts = rng.poisson(np.clip(duration * np.where(won, 0.35, 0.18), 0.5, 200))
    idx = np.repeat(np.arange(n), counts)
    offset = duration[idx] * rng.beta(np.where(won[idx], 1.3, 1.0), np.where(won[idx], 1.0, 2.4))
    occurred = created[idx] + offset
    keep = occurred <= SPAN_DAYS
    idx, occurred = idx[keep], occurred[keep]
    types = np.array(list(vocab.DEAL_EVENTS), dtype=object)
    shares = np.array(list(vocab.DEAL_EVENTS.values()))
    event = types[rng.choice(len(types), len(idx), p=shares / shares.sum())]

    n_contacts = 1 + rng.poisson(np.where(won, 2.2, 1.0))
    contact = np.floor(rng.random(len(idx)) * n_contacts[idx]).astype(int)  # 0 = main contact
    roles = np.array(vocab.CONTACT_ROLES, dtype=object)
    dm_engaged = rng.random(n) < np.where(won, 0.7, 0.35)
    main_role = np.where(dm_engaged, roles[0], roles[1])
    other_role = roles[1 + rng.integers(0, len(roles) - 1, len(idx))]
    role = np.where(contact == 0, main_role[idx], other_role)
    value = np.where(
        event == "call",
        np.round(rng.lognormal(np.log(12), 0.6, len(idx))),
        np.where(event == "meeting", np.round(rng.lognormal(np.log(45), 0.4, len(idx))), np.nan),
    )
    opp_ids = opps["opportunity_id"].to_numpy()
    return pd.DataFrame(
        {
            "entity_type": "opportunity",
            "entity_id": opp_ids[idx],
            "occurred_at": occurred,
            "type": event,
            "value": value,
            "contact_id": np.char.add(np.char.add(opp_ids[idx].astype(str), "-c"), (contact + 1).astype(str)),
            "contact_role": role,
        }
    )
