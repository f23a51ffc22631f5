"""Historical funnel statistics known at a reference time: stage dwell (median, p90) and win rates by
stage, owner and segment, from deals that finished the stage or closed strictly before that time.

Training uses one reference per snapshot week (the Monday 00:00 UTC at or before as_of), so a
snapshot only sees deals that finished before its week began. A model freezes the statistics at
the end of its training data and serving uses that frozen table (see `Rates.frozen_at`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from funnelcast.core.config import FunnelConfig
from funnelcast.core.times import to_seconds
from funnelcast.features.arrays import join, lookup, text
from funnelcast.features.events import SECONDS_PER_DAY, EventIndex
from funnelcast.features.firmographics import size_band

WEEK_S = 7 * SECONDS_PER_DAY
MONDAY_OFFSET_S = 4 * SECONDS_PER_DAY  # 1970-01-05 was a Monday


def week_start(seconds: np.ndarray) -> np.ndarray:
    """The Monday 00:00 UTC at or before each time (unix seconds)."""
    return ((seconds - MONDAY_OFFSET_S) // WEEK_S) * WEEK_S + MONDAY_OFFSET_S


@dataclass(frozen=True)
class Rates:
    """Statistics per reference time (unix seconds), long format, one frame per kind of key."""

    references: np.ndarray
    stage_dwell: pd.DataFrame  # ref, pipeline, stage, dwell_median_days, dwell_p90_days, n
    stage_win: pd.DataFrame  # ref, pipeline, stage, win_rate, n
    owner_win: pd.DataFrame  # ref, owner, win_rate, n
    segment_win: pd.DataFrame  # ref, segment, win_rate, n
    overall_win: pd.DataFrame  # ref, win_rate, n
    _tables: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def reference_position(self, seconds: np.ndarray) -> np.ndarray:
        """Position of the latest reference at or before each time (the earliest one for earlier times)."""
        return np.clip(
            np.searchsorted(self.references, seconds, side="right") - 1, 0, len(self.references) - 1
        )

    def reference_for(self, seconds: np.ndarray) -> np.ndarray:
        """The latest reference at or before each time (the earliest one for earlier times)."""
        return self.references[self.reference_position(seconds)]

    def _table(self, kind: str, value: str) -> tuple[dict[str, int], np.ndarray]:
        """(key -> position, values[reference position, key position]) of one statistic, built once."""
        found = self._tables.get((kind, value))
        if found is None:
            frame = getattr(self, kind)
            parts = {
                "stage_dwell": ("pipeline", "stage"),
                "stage_win": ("pipeline", "stage"),
                "owner_win": ("owner",),
                "segment_win": ("segment",),
                "overall_win": (),
            }[kind]
            keys = (
                join(*[text(frame[c].to_numpy(dtype=object)) for c in parts])
                if parts
                else np.full(len(frame), "", dtype=object)
            )
            universe = pd.Index(pd.unique(keys))
            dense = np.full((len(self.references), len(universe)), np.nan)
            rows = np.searchsorted(self.references, frame["ref"].to_numpy(dtype=np.int64))
            cols = universe.get_indexer(keys) if len(frame) else np.zeros(0, np.int64)
            dense[rows, cols] = frame[value].to_numpy(dtype=float)
            found = self._tables[(kind, value)] = ({k: i for i, k in enumerate(universe)}, dense)
        return found

    def value(self, kind: str, value: str, ref_position: np.ndarray, *keys: np.ndarray) -> np.ndarray:
        """`value` of statistic `kind` for each (reference position, key parts); NaN where none is known."""
        universe, dense = self._table(kind, value)
        if not keys:
            return dense[ref_position, 0] if dense.shape[1] else np.full(len(ref_position), np.nan)
        codes = lookup(join(*keys), universe, default=-1, dtype=np.int64)
        return np.where(
            codes >= 0, dense[ref_position, np.maximum(codes, 0)] if dense.shape[1] else np.nan, np.nan
        )

    def win_rate(self, kind: str, ref_position: np.ndarray, *keys: np.ndarray) -> np.ndarray:
        """Smoothed win rate for each key; a key never seen before gets the overall rate at that reference."""
        found = self.value(kind, "win_rate", ref_position, *keys)
        return np.where(np.isnan(found), self.value("overall_win", "win_rate", ref_position), found)

    def frozen_at(self, reference: int) -> Rates:
        """Only the statistics of one reference time (what a model ships to serving)."""

        def pick(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["ref"] == reference].reset_index(drop=True)

        return Rates(
            np.array([reference], dtype=np.int64),
            pick(self.stage_dwell),
            pick(self.stage_win),
            pick(self.owner_win),
            pick(self.segment_win),
            pick(self.overall_win),
        )

    def to_dict(self) -> dict:
        return {
            "references": self.references.tolist(),
            **{
                k: getattr(self, k).to_dict(orient="list")
                for k in ("stage_dwell", "stage_win", "owner_win", "segment_win", "overall_win")
            },
        }

    def to_json(self) -> dict:
        """`to_dict` with plain Python numbers, for JSON."""
        return {
            "references": [int(r) for r in self.references],
            **{
                k: {
                    c: [_plain(v) for v in values]
                    for c, values in getattr(self, k).to_dict(orient="list").items()
                }
                for k in ("stage_dwell", "stage_win", "owner_win", "segment_win", "overall_win")
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> Rates:
        frames = {
            k: pd.DataFrame(data[k])
            for k in ("stage_dwell", "stage_win", "owner_win", "segment_win", "overall_win")
        }
        for frame in frames.values():
            if "ref" in frame:
                frame["ref"] = frame["ref"].astype(np.int64)
        return cls(np.asarray(data["references"], dtype=np.int64), **frames)


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and v != v else v


def deal_segment(pipeline: np.ndarray, employees: np.ndarray) -> np.ndarray:
    """Segment of a deal: its pipeline and its account's size band ("unknown" without employees)."""
    band = size_band(employees)
    band = np.where(band != None, band, "unknown")  # noqa: E711 (elementwise)
    return join(text(pipeline), band.astype(object), sep="|")


def stage_positions(
    pipelines: np.ndarray, stages: np.ndarray, funnel: FunnelConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Each stage entry's position in its deal's pipeline (0 = first open stage; won is the number of
    open stages, lost one more; NaN for a stage the pipeline does not have) and that number of open
    stages (NaN for an unknown pipeline)."""
    order = {f"{p.key}\x1f{s}": float(i) for p in funnel.pipelines for i, s in enumerate(p.stage_keys)}
    n_open = {p.key: float(len(p.stages)) for p in funnel.pipelines}
    return lookup(join(pipelines, stages), order), lookup(pipelines, n_open)


def stage_path(
    codes: np.ndarray, seconds: np.ndarray, stage_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage entries in (deal, time, stage) order: that order, each entry's previous stage index in the
    same deal (NaN for the first) and when the deal left it (the next entry's time, -1 if none)."""
    order = np.lexsort((stage_index, seconds, codes))
    c, s, i = codes[order], seconds[order], stage_index[order]
    same_prev = np.r_[False, c[1:] == c[:-1]] if len(c) else np.zeros(0, bool)
    same_next = np.r_[c[:-1] == c[1:], False] if len(c) else np.zeros(0, bool)
    prev = np.where(same_prev, np.r_[np.nan, i[:-1]] if len(i) else i, np.nan)
    left = np.where(same_next, np.r_[s[1:], -1] if len(s) else s, -1)
    return order, prev, left


def stage_visits(
    stage_history: pd.DataFrame, opportunities: pd.DataFrame, funnel: FunnelConfig
) -> pd.DataFrame:
    """Stage rows of known deals in deal and time order with their pipeline, stage index, previous
    stage index and when the deal left them (for the funnel report and the historical rates)."""
    opp = opportunities[["opportunity_id", "pipeline"]].drop_duplicates("opportunity_id")
    visits = stage_history.merge(opp, on="opportunity_id", how="inner")
    pipelines, stages = (
        text(visits["pipeline"].to_numpy(dtype=object)),
        text(visits["stage"].to_numpy(dtype=object)),
    )
    stage_index, n_open = stage_positions(pipelines, stages, funnel)
    entered = to_seconds(visits["entered_at"])
    codes = pd.factorize(visits["opportunity_id"], sort=True)[0].astype(np.int64)
    order, prev, left = stage_path(codes, entered, stage_index)
    visits = visits.iloc[order].reset_index(drop=True)
    visits["stage_index"], visits["n_open"] = stage_index[order], n_open[order]
    visits["entered_s"], visits["prev_index"] = entered[order], prev
    visits["left_s"] = np.where(left >= 0, left, np.nan)
    return visits


def stage_moves(stage_i: np.ndarray, prev_i: np.ndarray, n_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per stage entry: is it a regression (back to an earlier open stage), and how many open stages
    did it skip (won counts as the stage after the last open one; entering lost skips nothing)."""
    regress = (stage_i < prev_i) & (stage_i < n_open)
    lost = stage_i == n_open + 1
    target = np.where(stage_i == n_open, n_open, stage_i)
    skipped = np.where(np.isnan(prev_i) | lost, 0.0, np.clip(target - prev_i - 1, 0, None))
    return regress, skipped


def _win_rates(keys: np.ndarray, closed_s: np.ndarray, won: np.ndarray, refs: np.ndarray) -> pd.DataFrame:
    """Wins and closes per key among deals closed strictly before each reference."""
    universe = pd.Index(pd.unique(keys))
    codes = universe.get_indexer(keys).astype(np.int64)
    idx = EventIndex(codes, closed_s, won.astype(float))
    k, r = np.meshgrid(np.arange(len(universe)), refs, indexing="ij")
    k, r = k.ravel().astype(np.int64), r.ravel()
    n = idx.count(k, r - 1)
    wins = idx.total(k, r - 1)
    return pd.DataFrame(
        {"ref": r, "key": universe.to_numpy()[k] if len(universe) else [], "wins": wins, "n": n}
    )


def compute_rates(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame,
    accounts: pd.DataFrame,
    funnel: FunnelConfig,
    references: np.ndarray,
) -> Rates:
    """Point-in-time funnel statistics at each reference time (unix seconds)."""
    refs = np.unique(np.asarray(references, dtype=np.int64))
    opps = opportunities.drop_duplicates("opportunity_id")
    closed = opps[opps["outcome"].isin(["won", "lost"]) & opps["closed_at"].notna()]
    closed_s = to_seconds(closed["closed_at"])
    won = (closed["outcome"] == "won").to_numpy()

    overall = _win_rates(np.zeros(len(closed), dtype=object), closed_s, won, refs)
    overall = overall.groupby("ref", as_index=False)[["wins", "n"]].sum()
    overall["win_rate"] = np.where(
        overall["n"] > 0, overall["wins"] / overall["n"].where(overall["n"] > 0), np.nan
    )
    prior = overall.set_index("ref")["win_rate"]

    def smoothed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
        p = frame["ref"].map(prior).to_numpy()
        frame = frame.rename(columns={"key": name})
        # a key with no closed deal yet has exactly the prior: (0 + S*p) / S can be p plus an ulp,
        # and a key that only closes later must not differ from a key never seen (point in time)
        smoothing = funnel.history.smoothing_deals
        frame["win_rate"] = np.where(
            frame["n"] > 0, (frame["wins"] + smoothing * p) / (frame["n"] + smoothing), p
        )
        return frame.drop(columns="wins")

    owner = smoothed(_win_rates(closed["owner"].to_numpy(dtype=object), closed_s, won, refs), "owner")
    employees = (
        accounts.drop_duplicates("account_id")
        .set_index("account_id")["employees"]
        .reindex(closed["account_id"].to_numpy())
        .to_numpy(dtype=float)
    )
    segment = smoothed(
        _win_rates(deal_segment(closed["pipeline"].to_numpy(dtype=object), employees), closed_s, won, refs),
        "segment",
    )

    visits = stage_visits(stage_history, opps, funnel)
    open_visits = visits[visits["stage_index"] < visits["n_open"]]
    passed = open_visits.sort_values("entered_s", kind="stable").drop_duplicates(["opportunity_id", "stage"])
    passed = passed.merge(closed[["opportunity_id", "closed_at", "outcome"]], on="opportunity_id")
    stage_key = (passed["pipeline"] + "\x1f" + passed["stage"]).to_numpy(dtype=object)
    # a passage counts once both the stage entry and the close are in the past
    known_s = np.maximum(to_seconds(passed["closed_at"]), passed["entered_s"].to_numpy())
    stage_win = smoothed(_win_rates(stage_key, known_s, (passed["outcome"] == "won").to_numpy(), refs), "key")
    split = stage_win["key"].str.split("\x1f", n=1, expand=True) if len(stage_win) else None
    stage_win = stage_win.assign(
        pipeline=split[0] if split is not None else [], stage=split[1] if split is not None else []
    ).drop(columns="key")

    finished = open_visits[open_visits["left_s"].notna()]
    rows = []
    for (pipeline, stage), group in finished.groupby(["pipeline", "stage"], sort=True):
        left = group["left_s"].to_numpy()
        order = np.argsort(left, kind="stable")
        left = left[order]
        dwell = ((group["left_s"] - group["entered_s"]).to_numpy() / SECONDS_PER_DAY)[order]
        counts = np.searchsorted(left, refs, side="left")  # finished strictly before the reference
        for ref, k in zip(refs, counts, strict=True):
            if k:
                med, p90 = np.quantile(dwell[:k], [0.5, 0.9])
                rows.append((ref, pipeline, stage, med, p90, k))
    stage_dwell = pd.DataFrame(
        rows, columns=["ref", "pipeline", "stage", "dwell_median_days", "dwell_p90_days", "n"]
    )
    stage_dwell["ref"] = stage_dwell["ref"].astype(np.int64)
    return Rates(refs, stage_dwell, stage_win, owner, segment, overall.drop(columns="wins"))
