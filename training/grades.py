"""Grade thresholds: Hot / Warm / Cold cut-offs on the calibrated probability, chosen on validation.

Lift targets first (Hot converts at `hot_lift` x the base rate, Cold at no more than `cold_lift` x it),
then three grades are guaranteed wherever the data allows: each holds at least `min_share` of the
validation leads (by weight), boundaries fall between distinct probabilities (ties grade alike), and
when the calibrated model gives fewer than three distinct probabilities the reason is stated instead.
The expected conversion of each grade on validation is returned beside the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRADES = ("Hot", "Warm", "Cold")


def hot_target(base: float, hot_lift: float) -> float:
    """The conversion rate Hot must reach: `hot_lift` x the base rate or `hot_lift` times fewer failures
    than average (1 - (1 - base) / hot_lift), whichever is less demanding. Multiplying the rate is
    the rule for base rates below 1 / (hot_lift + 1) (25 % for a lift of 3); above that it soon becomes
    impossible (a base rate of 38 % cannot triple) and would leave Hot empty."""
    return min(hot_lift * base, 1.0 - (1.0 - base) / hot_lift)


@dataclass
class GradeCut:
    """Where the grades lie on the calibrated probability, and what they are worth on validation."""

    hot: float  # probability at or above which a lead is Hot
    warm: float  # at or above which it is Warm (below: Cold)
    base_rate: float
    expected: dict[str, float] = field(default_factory=dict)  # validation conversion per grade
    shares: dict[str, float] = field(default_factory=dict)  # validation share per grade
    notes: list[str] = field(default_factory=list)  # how the targets had to give way, or why a grade is empty

    def thresholds(self) -> dict[str, float]:
        return {"hot": self.hot, "warm": self.warm, "base_rate": self.base_rate}

    def to_dict(self) -> dict:
        return {**self.thresholds(), "expected": self.expected, "shares": self.shares, "notes": self.notes}


def grade_thresholds(
    p: np.ndarray,
    y: np.ndarray,
    hot_lift: float,
    cold_lift: float,
    weight: np.ndarray | None = None,
    min_share: float = 0.05,
) -> GradeCut:
    """Hot and Warm cut-offs from validation probabilities `p`, outcomes `y` and weights.

    Hot is the largest top group (cut between distinct probabilities) converting at `hot_target`;
    Cold the largest bottom group converting at most `cold_lift` x the base rate; Warm between. Each
    grade then keeps at least `min_share` of the weight where the distinct probabilities allow it,
    taking the share from its neighbours; a note says where a target had to give way.

    Examples
    --------
    >>> p = np.repeat([0.9, 0.5, 0.1], 100); y = (np.arange(300) % 10 < p * 10).astype(int)
    >>> cut = grade_thresholds(p, y, 1.5, 0.5)
    >>> (cut.hot, cut.warm, sorted(cut.shares))
    (0.9, 0.5, ['Cold', 'Hot', 'Warm'])
    """
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(p)) if weight is None else np.asarray(weight, dtype=float)
    levels, inverse = np.unique(p, return_inverse=True)  # ascending distinct probabilities
    level_w = np.bincount(inverse, weights=w, minlength=len(levels))
    level_pos = np.bincount(inverse, weights=w * y, minlength=len(levels))
    total_w = level_w.sum()
    base = float(level_pos.sum() / total_w) if total_w > 0 else float("nan")
    notes: list[str] = []
    if len(levels) < 3:
        notes.append(
            f"the calibrated model gives {len(levels)} distinct probability value(s) on validation: three "
            "grades cannot be told apart"
        )
        top = levels[-1] if len(levels) else 1.0
        hot = float(top) if len(levels) >= 2 else float(top) + 1e-9
        cut = GradeCut(hot, hot, base, notes=notes)
        return _summarise(cut, p, y, w)
    # candidate cuts: "Hot = levels[i:]" for i in 1..L-1, "Cold = levels[:j]" for j in 1..L-1
    top_w = np.cumsum(level_w[::-1])[::-1]  # weight of levels[i:]
    top_rate = np.cumsum(level_pos[::-1])[::-1] / top_w
    bottom_w = np.cumsum(level_w)  # weight of levels[:j+1]
    bottom_rate = np.cumsum(level_pos) / bottom_w
    share_top, share_bottom = top_w / total_w, bottom_w / total_w
    n_levels = len(levels)
    enough = min_share / 5  # a target group this small would grade a handful of leads
    hot_ok = np.flatnonzero(
        (top_rate >= hot_target(base, hot_lift)) & (np.arange(n_levels) >= 1) & (share_top >= enough)
    )
    hot_i = int(hot_ok.min()) if hot_ok.size else None  # the largest qualifying top group
    cold_ok = np.flatnonzero(
        (bottom_rate <= cold_lift * base) & (np.arange(n_levels) <= n_levels - 2) & (share_bottom >= enough)
    )
    cold_j = int(cold_ok.max()) + 1 if cold_ok.size else None  # Cold = levels[:cold_j]
    if hot_i is None:
        hot_i = _smallest_top(share_top, min_share)
        notes.append(
            f"no top group converts at {hot_lift:g}x the base rate: Hot is the top {share_top[hot_i]:.0%}"
        )
    if cold_j is None:
        cold_j = _smallest_bottom(share_bottom, min_share)
        notes.append(
            f"no bottom group converts at {cold_lift:g}x the base rate or less: Cold is the bottom "
            f"{share_bottom[cold_j - 1]:.0%}"
        )
    hot_i, cold_j = _make_room(hot_i, cold_j, level_w / total_w, min_share, notes)
    cut = GradeCut(float(levels[hot_i]), float(levels[cold_j]), base, notes=notes)
    return _summarise(cut, p, y, w)


def _smallest_top(share_top: np.ndarray, min_share: float) -> int:
    """The start of the smallest top group holding at least `min_share` (at least one level)."""
    ok = np.flatnonzero(share_top[1:] >= min_share) + 1
    return int(ok.max()) if ok.size else 1


def _smallest_bottom(share_bottom: np.ndarray, min_share: float) -> int:
    """The end (exclusive) of the smallest bottom group holding at least `min_share`."""
    ok = np.flatnonzero(share_bottom[:-1] >= min_share)
    return int(ok.min()) + 1 if ok.size else 1


def _make_room(
    hot_i: int, cold_j: int, share: np.ndarray, min_share: float, notes: list[str]
) -> tuple[int, int]:
    """Move the boundaries (Cold = levels[:cold_j], Warm = levels[cold_j:hot_i], Hot = levels[hot_i:])
    until each grade holds at least `min_share`, or at least one level where the shares cannot all be
    met; Hot and Cold give up what they must, the larger first."""
    n = len(share)
    hot_i, cold_j = max(1, min(hot_i, n - 1)), max(1, min(cold_j, n - 1))
    if cold_j >= hot_i:  # the targets overlap: meet in the middle, leaving Warm at least one level
        notes.append("the Hot and Cold targets overlap: Warm is made from the probabilities between them")
        cold_j = max(1, min(cold_j, hot_i - 1))
        if cold_j >= hot_i:
            hot_i = cold_j + 1
    while hot_i - cold_j >= 1 and share[cold_j:hot_i].sum() < min_share:
        hot_share, cold_share = share[hot_i:].sum(), share[:cold_j].sum()
        if (
            hot_i < n - 1
            and hot_share - share[hot_i] >= min_share
            and (hot_share >= cold_share or cold_j <= 1)
        ):
            hot_i += 1
        elif cold_j > 1 and cold_share - share[cold_j - 1] >= min_share:
            cold_j -= 1
        else:
            break
    if share[cold_j:hot_i].sum() < min_share:
        notes.append(
            f"Warm holds {share[cold_j:hot_i].sum():.1%} of validation leads, less than {min_share:.0%}: "
            "the probabilities are too few or too lumped to share out further"
        )
    return hot_i, cold_j


def _summarise(cut: GradeCut, p: np.ndarray, y: np.ndarray, w: np.ndarray) -> GradeCut:
    grade = np.where(p >= cut.hot, "Hot", np.where(p >= cut.warm, "Warm", "Cold"))
    total = w.sum()
    for g in GRADES:
        sel = grade == g
        cut.shares[g] = float(w[sel].sum() / total) if total else 0.0
        cut.expected[g] = float(np.average(y[sel], weights=w[sel])) if w[sel].sum() > 0 else float("nan")
        if not sel.any() and not any(g in note for note in cut.notes):
            cut.notes.append(f"{g} is empty on validation")
    return cut
