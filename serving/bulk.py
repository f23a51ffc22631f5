"""Bulk scoring for marketing lists and nightly CRM syncs: every open lead or deal in a data
directory, scored with the serving model through the same feature functions and model as the API,
vectorised (reasons as the top contributions, in the plain words of the API, as text columns)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from funnelcast.analytics.forecast import open_deals
from funnelcast.core.config import AppConfig
from funnelcast.features.frames import build_lead_features, build_opportunity_features
from funnelcast.features.io import CRMData
from funnelcast.model.table import score_table
from funnelcast.serving.models import LoadedModel
from funnelcast.serving.scoring.leads import describer

CHUNK = 100_000


def open_snapshots(data: CRMData, kind: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every lead (deal) that exists at as_of and is still open then."""
    if kind == "lead":
        leads = data.leads
        open_ = (
            (leads["created_at"] <= as_of)
            & ~(leads["converted_at"] <= as_of)
            & ~(leads["disqualified_at"] <= as_of)
        )
        return pd.DataFrame({"lead_id": leads.loc[open_, "lead_id"].to_numpy(), "as_of": as_of})
    return pd.DataFrame(
        {"opportunity_id": open_deals(data, as_of)["opportunity_id"].to_numpy(), "as_of": as_of}
    )


@dataclass
class BulkScores:
    """The scores, highest priority first, and what a person must know about the input."""

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def input_warnings(data: CRMData, kind: str, config: AppConfig, as_of: pd.Timestamp) -> list[str]:
    """What the input bends: records that do not exist yet at as_of (left out), amounts in a currency
    without a rate (not counted)."""
    out = []
    frame, what = (data.leads, "leads") if kind == "lead" else (data.opportunities, "deals")
    later = int((frame["created_at"] > as_of).sum())
    if later:
        out.append(
            f"{later:,} {what} created after as_of ({as_of.isoformat()}) were left out: they do not exist yet"
        )
    known = set(config.leads.currency_rates)
    amount, currency = ("budget_amount", "budget_currency") if kind == "lead" else ("amount", "currency")
    given = frame[frame[amount].notna() & frame[currency].notna()]
    unknown = given[currency].astype(str).str.upper()
    counts = unknown[~unknown.isin(known)].value_counts()
    if len(counts):
        listed = ", ".join(f"{c} ({n:,})" for c, n in counts.items())
        out.append(
            f"{int(counts.sum()):,} {what} have an amount in a currency without a rate in leads.yaml: "
            f"{listed}; those amounts were not counted (known: {', '.join(sorted(known))})"
        )
    return out


def score_data(
    data: CRMData,
    model: LoadedModel | None,
    kind: str,
    config: AppConfig,
    as_of: pd.Timestamp,
    progress: Callable[[int, int], None] | None = None,
) -> BulkScores:
    """Scores of every open lead / deal at as_of, sorted by priority (highest first).

    Features are built once for all records (the event indexes are built once); prediction and
    reasons run in chunks to bound memory and report progress."""
    warnings = input_warnings(data, kind, config, as_of)
    snaps = open_snapshots(data, kind, as_of)
    if not len(snaps):
        return BulkScores(pd.DataFrame(), warnings)
    if kind == "lead":
        feats = build_lead_features(data, snaps, config)
    else:
        if model is None:
            raise ValueError("no win-probability model is loaded; train and promote one first")
        feats = build_opportunity_features(data, snaps, config, rates=model.rates)
    parts = []
    for start in range(0, len(snaps), CHUNK):
        rows = slice(start, start + CHUNK)
        parts.append(
            _score_chunk(
                model,
                kind,
                config,
                snaps.iloc[rows].reset_index(drop=True),
                feats.iloc[rows].reset_index(drop=True),
            )
        )
        if progress:
            progress(min(start + CHUNK, len(snaps)), len(snaps))
    out = pd.concat(parts, ignore_index=True)
    key = "p_won" if kind == "opportunity" else ("probability" if model is not None else "rule_points")
    out = out.sort_values(key, ascending=False, kind="stable").reset_index(drop=True)
    return BulkScores(_who(out, data, kind), warnings)


def _who(scores: pd.DataFrame, data: CRMData, kind: str) -> pd.DataFrame:
    """The columns a rep works from put beside the scores: company, contact, owner, source (leads) or
    account and owner (deals)."""
    if kind == "lead":
        leads = data.leads.drop_duplicates("lead_id").set_index("lead_id")
        names = data.accounts.drop_duplicates("account_id").set_index("account_id")["name"]
        company = leads["company"].where(leads["company"].notna(), leads["account_id"].map(names))
        who = pd.DataFrame(
            {
                "company": company,
                "contact_name": leads["contact_name"],
                "contact_title": leads["contact_title"],
                "owner": leads["owner"],
                "source": leads["source"],
            }
        )
        return pd.concat(
            [
                scores[["lead_id"]],
                who.reindex(scores["lead_id"]).reset_index(drop=True),
                scores.drop(columns="lead_id"),
            ],
            axis=1,
        )
    opps = data.opportunities.drop_duplicates("opportunity_id").set_index("opportunity_id")
    names = data.accounts.drop_duplicates("account_id").set_index("account_id")["name"]
    who = pd.DataFrame(
        {
            "account": opps["account_id"].map(names),
            "owner": opps["owner"],
            "amount": opps["amount"],
            "currency": opps["currency"],
        }
    )
    return pd.concat(
        [
            scores[["opportunity_id"]],
            who.reindex(scores["opportunity_id"]).reset_index(drop=True),
            scores.drop(columns="opportunity_id"),
        ],
        axis=1,
    )


def _score_chunk(
    model: LoadedModel | None, kind: str, config: AppConfig, snaps: pd.DataFrame, feats: pd.DataFrame
) -> pd.DataFrame:
    bundle = model.bundle if model is not None else None
    return score_table(
        bundle,
        kind,
        config,
        snaps,
        feats,
        describe=describer(config, model) if model is not None else None,
        rates=model.rates if model is not None else None,
        model_version=f"{model.name}:{model.version}" if model is not None else None,
    )
