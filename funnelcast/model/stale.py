"""Stale leads: a lead older than the days its segment's converted leads usually took to convert (the
learned quantile, p90 by default) is stale. Learned at training per source (with the overall figure for
sources with few conversions), stored in the model, applied wherever leads are scored."""

from __future__ import annotations

import numpy as np

SEGMENT = "source"
MIN_CONVERSIONS = 30


def learn_stale_days(
    days_to_convert: np.ndarray, segments: np.ndarray, quantile: float, min_conversions: int = MIN_CONVERSIONS
) -> dict:
    """The quantile of days from creation to conversion, overall and per segment value with enough
    conversions. `days_to_convert` holds the converted leads' days, `segments` their source."""
    days = np.asarray(days_to_convert, dtype=float)
    keep = ~np.isnan(days) & (days >= 0)
    days, segments = days[keep], np.asarray(segments, dtype=object)[keep]
    out = {"by": SEGMENT, "quantile": quantile, "default": None, "values": {}}
    if len(days) >= min_conversions:
        out["default"] = round(float(np.quantile(days, quantile)), 1)
    for value in {v for v in segments if isinstance(v, str)}:
        sel = segments == value
        if sel.sum() >= min_conversions:
            out["values"][value] = round(float(np.quantile(days[sel], quantile)), 1)
    return out


def stale_flags(age_days: np.ndarray, segments: np.ndarray, learned: dict | None) -> tuple[np.ndarray, list]:
    """Per lead: stale or not, and a sentence with the suggestion to recycle it (None when not stale)."""
    n = len(age_days)
    if not learned or learned.get("default") is None and not learned.get("values"):
        return np.zeros(n, dtype=bool), [None] * n
    values, default, q = learned["values"], learned["default"], int(round(100 * learned["quantile"]))
    limit = np.array(
        [values.get(s, default) if isinstance(s, str) else default for s in segments], dtype=float
    )
    age = np.asarray(age_days, dtype=float)
    stale = ~np.isnan(limit) & (age > limit)
    reasons = []
    for is_stale, a, lim, s in zip(stale.tolist(), age.tolist(), limit.tolist(), segments, strict=True):
        if not is_stale:
            reasons.append(None)
            continue
        whose = f"converted {s} leads" if isinstance(s, str) and s in values else "converted leads"
        reasons.append(
            f"{a:.0f} days old, while {q} % of {whose} converted within {lim:.0f} days: recycle it "
            "to nurturing, or disqualify it"
        )
    return stale, reasons
