"""Assemble the synthetic CRM data set and write it as a canonical data directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.features.schema import ENTITIES
from funnelcast.synthetic.contacts import add_contacts
from funnelcast.synthetic.deals import make_deal_activities, make_opportunities
from funnelcast.synthetic.leads import (
    SPAN_DAYS,
    ids,
    make_account_activities,
    make_accounts,
    make_lead_activities,
    make_leads,
)

START = np.datetime64("2024-01-01T00:00:00", "s")
TIMESTAMP_COLUMNS = {
    "created_at",
    "converted_at",
    "disqualified_at",
    "occurred_at",
    "closed_at",
    "entered_at",
    "changed_at",
}
DATE_COLUMNS = {"timeline_date", "expected_close_date"}
INTEGER_COLUMNS = {"employees", "annual_revenue", "budget_amount", "amount", "value"}


@dataclass(frozen=True)
class SyntheticCRM:
    """Canonical frames (times as numpy datetimes, UTC) and the generator's true probabilities."""

    frames: dict[str, pd.DataFrame]
    ground_truth: dict[str, pd.DataFrame]
    export_time: pd.Timestamp


def _to_time(days: np.ndarray, unit: str) -> np.ndarray:
    seconds = np.round(np.asarray(days, dtype=float) * 86400)
    out = np.full(len(seconds), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = ~np.isnan(seconds)
    out[ok] = START + seconds[ok].astype("int64").astype("timedelta64[s]")
    return out.astype(f"datetime64[{unit}]")


def generate(
    n_leads: int,
    seed: int,
    config: AppConfig,
    *,
    progress: Callable[[str], None] | None = None,
    drift: float = 0.0,
) -> SyntheticCRM:
    """Generate about two years of CRM data for `n_leads` leads; same arguments, same data. `drift`
    moves the conversion rate over the span (log-odds, see `make_leads`); 0 keeps it stable.

    Examples
    --------
    >>> crm = generate(1000, seed=7, config=load_config())  # doctest: +SKIP
    >>> sorted(crm.frames)[:3]  # doctest: +SKIP
    ['accounts', 'activities', 'amount_history']
    """
    if n_leads < 1:
        raise ValueError(f"n_leads must be at least 1, got {n_leads}")
    step = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    step("accounts")
    accounts = make_accounts(rng, max(1, int(n_leads * 0.7)))
    step("leads")
    leads = make_leads(rng, n_leads, accounts, config.leads, drift)
    leads, planted = add_contacts(leads, seed)  # a stream of its own: nothing else changes
    step("opportunities and stage history")
    deals = make_opportunities(rng, leads, config.funnel, config.leads)
    step("activities")
    activities = pd.concat(
        [
            make_lead_activities(rng, leads),
            make_deal_activities(rng, deals["opportunities"]),
            make_account_activities(rng, accounts),
        ],
        ignore_index=True,
    )
    activities = activities.sort_values(["occurred_at", "entity_id"], kind="stable").reset_index(drop=True)
    activities.insert(0, "activity_id", ids("E", len(activities)))

    frames = {"accounts": accounts, "leads": leads, "activities": activities, **deals}
    for name in ("stage_history", "close_date_history", "amount_history"):
        frames[name] = frames[name].sort_values(["opportunity_id", frames[name].columns[1]], kind="stable")
    opps = deals["opportunities"]
    truth = {
        "leads": pd.DataFrame(
            {
                "lead_id": leads["lead_id"],
                "p_convert_ever": leads["_p_ever"].round(6),
                f"p_convert_{config.leads.horizon_days}d": leads["_p_90"].round(6),
                f"p_convert_{config.leads.horizon_days}d_captured": leads["_p_90_captured"].round(6),
            }
        ),
        "opportunities": pd.DataFrame(
            {"opportunity_id": opps["opportunity_id"], "p_win": opps["_p_win"].round(6)}
        ),
        # duplicate leads (撞单): the planted pairs, and which company every lead really is
        "duplicates": planted,
        "lead_companies": pd.DataFrame({"lead_id": leads["lead_id"], "company_id": leads["_account_id"]}),
    }
    step("formatting")
    canonical = {name: _canonical(frame, name) for name, frame in frames.items()}
    return SyntheticCRM(canonical, truth, pd.Timestamp(START + np.timedelta64(SPAN_DAYS, "D"), tz="UTC"))


def _canonical(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    columns = ENTITIES[name].column_names
    out = pd.DataFrame(index=range(len(frame)))
    for col in columns:
        values = frame[col].to_numpy() if col in frame else np.full(len(frame), None, dtype=object)
        if col in TIMESTAMP_COLUMNS:
            out[col] = _to_time(values, "s")
        elif col in DATE_COLUMNS:
            out[col] = _to_time(values, "D").astype("datetime64[s]")
        elif col in INTEGER_COLUMNS:
            out[col] = pd.array(np.round(values.astype(float)), dtype="Float64").astype("Int64")
        else:
            out[col] = values
    return out


def _format_for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col in TIMESTAMP_COLUMNS or col in DATE_COLUMNS:
            arr = out[col].to_numpy(dtype="datetime64[s]")
            unit = "s" if col in TIMESTAMP_COLUMNS else "D"
            text = np.datetime_as_string(arr, unit=unit).astype(object)
            if unit == "s":
                text = text + "Z"
            text[np.isnat(arr)] = ""
            out[col] = text
    return out


def write_dataset(crm: SyntheticCRM, out_dir: Path | str, *, fmt: str = "csv") -> list[Path]:
    """Write one file per entity plus `ground_truth/`; returns the paths written."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    out = Path(out_dir)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in crm.frames.items():
        path = out / f"{name}.{fmt}"
        other = out / f"{name}.{'parquet' if fmt == 'csv' else 'csv'}"
        other.unlink(missing_ok=True)  # one file per entity
        if fmt == "csv":
            _format_for_csv(frame).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        else:
            frame.assign(
                **{
                    c: pd.to_datetime(frame[c]).dt.tz_localize("UTC")
                    for c in frame.columns
                    if c in TIMESTAMP_COLUMNS or c in DATE_COLUMNS
                }
            ).to_parquet(path, index=False)
        written.append(path)
    for name, frame in crm.ground_truth.items():
        path = out / "ground_truth" / f"{name}.csv"
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        written.append(path)
    return written
