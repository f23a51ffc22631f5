"""LightGBM's own per-row contributions (TreeSHAP) for large batches, from per-tree lookup tables.

Path-dependent TreeSHAP gives a row's contributions within one tree as a function of the row's
decision at every split of that tree (left or right), nothing else. A tree with k splits therefore
has at most 2**k distinct contribution vectors. This class computes each row's decision pattern per
tree with vectorised comparisons (LightGBM's own decision rules, missing values and categories
included), asks LightGBM for the contributions of one representative row per pattern it has not
seen yet (`pred_contrib` on that single tree), keeps them, and sums the tables over the trees.

The values are LightGBM's; only the order of the floating-point additions differs (per tree, then
across trees), so results agree to about 1e-15 (tests/funnelcast/test_tree_contributions.py). On
2 cores it is several times faster than `pred_contrib` for thousands of rows; for a few rows
LightGBM's direct call is faster, and `TargetModel` keeps using it there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import lightgbm as lgb
import numpy as np

ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
DENSE_SPLITS = 8  # up to this many splits a tree's table has a row for every pattern; beyond, only seen ones
MAX_SPLITS = 62  # patterns are int64 bit sets
BLOCK_ROWS = 8192
# Up to this many rows all trees go through numpy together (less per-tree overhead); beyond, tree by
# tree, whose working arrays stay in cache (docs/benchmarks.md has the figures behind both choices).
STACKED_ROWS = 2048
MISSING_NONE, MISSING_ZERO, MISSING_NAN = "None", "Zero", "NaN"


@dataclass
class _Split:
    feature: int
    categorical: bool
    threshold: float = 0.0
    categories: np.ndarray | None = None  # categorical: the values that go left
    missing: str = MISSING_NONE
    default_left: bool = False

    @cached_property
    def key(self) -> tuple:
        """On the same feature, splits with equal keys decide alike (trees often repeat a split)."""
        rule = tuple(self.categories.tolist()) if self.categorical else self.threshold
        return self.categorical, rule, self.missing, self.default_left

    def goes_left(self, column: _Column) -> np.ndarray:
        """Whether each value goes left, computed once per batch for equal splits."""
        found = column.decisions.get(self.key)
        if found is None:
            found = column.decisions[self.key] = self._decide(column)
        return found

    def _decide(self, column: _Column) -> np.ndarray:
        """LightGBM's Tree::NumericalDecision / CategoricalDecision, vectorised."""
        if self.categorical:
            return np.isin(column.whole, self.categories)
        if self.missing == MISSING_NAN:
            return np.where(column.nan, self.default_left, column.values <= self.threshold)
        # NaN is taken as zero unless NaN is the missing value
        left = column.nan_as_zero <= self.threshold
        if self.missing == MISSING_ZERO:
            return np.where(column.zero, self.default_left, left)
        return left


class _Column:
    """One feature's values for a batch, with the derived forms the splits need, each made once."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.decisions: dict[tuple, np.ndarray] = {}

    @cached_property
    def nan(self) -> np.ndarray:
        return np.isnan(self.values)

    @cached_property
    def nan_as_zero(self) -> np.ndarray:
        return np.where(self.nan, 0.0, self.values)

    @cached_property
    def zero(self) -> np.ndarray:
        return np.abs(self.nan_as_zero) <= ZERO_THRESHOLD

    @cached_property
    def whole(self) -> np.ndarray:
        """The category as LightGBM reads it: static_cast<int> truncates toward zero (-0.5 is 0); a
        negative result, and NaN (which x86 converts to INT_MIN), go right: -1 is never a category."""
        whole = np.trunc(np.where(self.nan, -1.0, self.values))
        return np.where(whole < 0, -1.0, whole)


@dataclass
class _Tree:
    index: int
    splits: list[_Split]
    columns: np.ndarray  # the features it splits on, then the bias column
    dense: bool  # a table row for every pattern (2**k rows), else for the patterns seen so far
    # dense: (table, filled flag per pattern); sparse: (table, its sorted patterns), swapped as one
    state: tuple[np.ndarray, np.ndarray]

    def patterns(self, columns: list[_Column], n: int) -> np.ndarray:
        """Each row's decisions as bits (split i -> bit i)."""
        if not self.splits:
            return np.zeros(n, dtype=np.int64)
        left = np.stack([split.goes_left(columns[split.feature]) for split in self.splits])
        if len(self.splits) <= 8:
            return np.packbits(left, axis=0, bitorder="little")[0].astype(np.int64)
        weights = np.left_shift(np.int64(1), np.arange(len(self.splits), dtype=np.int64))
        return weights @ left.astype(np.int64)

    def lookup(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Contributions of each pattern, (len(columns), n), and whether its table row is filled yet."""
        table, keys = self.state
        if self.dense:
            filled = keys[bits]  # flags first: a flag is only set after its values are written
            return table[:, bits], filled
        if not len(keys):
            return np.zeros((len(self.columns), len(bits))), np.zeros(len(bits), bool)
        at = np.minimum(np.searchsorted(keys, bits), len(keys) - 1)
        return table[:, at], keys[at] == bits

    def add(self, patterns: np.ndarray, values: np.ndarray) -> None:
        """Store new patterns' values (callers hold the fill lock; readers never wait)."""
        table, keys = self.state  # table is (columns, patterns): values per column contiguous
        if self.dense:
            table[:, patterns] = values.T  # rows never move; the flag is set after the values
            keys[patterns] = True
            return
        keys, first = np.unique(np.concatenate([keys, patterns]), return_index=True)
        self.state = (np.hstack([table, values.T])[:, first], keys)


class _Stacked:
    """Every tree's table in one array (when every tree is dense), so that a batch costs a few numpy
    calls in all instead of a few per tree: each distinct split decided once, all patterns packed at
    once, all values gathered at once and summed per feature in tree order (the per-tree loop's order)."""

    def __init__(self, trees: list[_Tree], n_features: int):
        unique: dict[tuple, _Split] = {}
        for tree in trees:
            for split in tree.splits:
                unique.setdefault((split.feature, *split.key), split)
        self.splits = list(unique.values())
        position = {key: i for i, key in enumerate(unique)}
        most_splits = max(1, max(len(t.splits) for t in trees))
        most_columns = max(len(t.columns) for t in trees)
        # padding: a split that never goes left (the extra last row of decisions), a scratch column
        self.split_rows = np.full((len(trees), most_splits), len(self.splits), dtype=np.intp)
        columns = np.full((len(trees), most_columns), n_features + 1, dtype=np.intp)
        self.table = np.zeros((len(trees), most_columns, 2**most_splits))
        self.filled = np.zeros((len(trees), 2**most_splits), dtype=bool)
        for t, tree in enumerate(trees):
            k, m = len(tree.splits), len(tree.columns)
            self.split_rows[t, :k] = [position[(split.feature, *split.key)] for split in tree.splits]
            columns[t, :m] = tree.columns
            tree.state = (self.table[t, :m, : 2**k], self.filled[t, : 2**k])  # views: fills write through
        self.trees = trees
        self.n_out = n_features + 1
        # (tree, column slot) of every real table column, by feature and, within one, in tree order
        real = columns < n_features + 1
        tree_of, slot_of = np.nonzero(real)
        order = np.argsort(columns[real], kind="stable")
        self.tree_of, self.slot_of = tree_of[order], slot_of[order]
        ordered = columns[real][order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.out_columns = ordered[self.starts]

    def __call__(self, columns: list[_Column], x: np.ndarray, fill) -> np.ndarray:
        n = len(x)
        decisions = np.zeros((len(self.splits) + 1, n), dtype=bool)
        for j, split in enumerate(self.splits):
            decisions[j] = split._decide(columns[split.feature])
        bits = np.packbits(decisions[self.split_rows], axis=1, bitorder="little")[:, 0, :].astype(np.intp)
        tree_rows = np.arange(len(self.trees))[:, None]
        filled = self.filled[tree_rows, bits]  # flags before values, as in _Tree.lookup
        if not filled.all():
            for t in np.flatnonzero(~filled.all(axis=1)):
                fill(self.trees[t], x, bits[t], ~filled[t])
        values = self.table[self.tree_of[:, None], self.slot_of[:, None], bits[self.tree_of]]
        out = np.zeros((self.n_out, n))
        out[self.out_columns] = np.add.reduceat(values, self.starts, axis=0)
        return out


def _splits(node: dict, out: list[_Split]) -> None:
    if "split_index" not in node:
        return
    categorical = node["decision_type"] == "=="
    split = _Split(
        feature=int(node["split_feature"]),
        categorical=categorical,
        missing=node["missing_type"],
        default_left=bool(node["default_left"]),
    )
    if categorical:
        split.categories = np.array([float(v) for v in str(node["threshold"]).split("||")])
    else:
        split.threshold = float(node["threshold"])
    out.append(split)
    _splits(node["left_child"], out)
    _splits(node["right_child"], out)


class TreeContributions:
    """Contributions of a LightGBM binary model, (n, n_features + 1) with the bias last, like
    `Booster.predict(x, pred_contrib=True)`. Tables fill as patterns appear; safe to share between
    threads (readers never wait; fills take turns on a private copy of the booster)."""

    def __init__(self, booster: lgb.Booster):
        self.n_features = booster.num_feature()
        best = booster.best_iteration
        self.n_trees = best if best and best > 0 else booster.num_trees()
        # LightGBM keeps a prediction's iteration range in the booster itself, so a one-tree predict
        # racing another thread's full predict on the same booster can corrupt either. Fills use a
        # private copy, one at a time; the serving booster only ever predicts with all its trees.
        self._filler = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.n_trees))
        self._fill_lock = threading.Lock()
        self.trees: list[_Tree] = []
        self.supported = booster.num_model_per_iteration() == 1
        for info in booster.dump_model(num_iteration=self.n_trees)["tree_info"]:
            splits: list[_Split] = []
            _splits(info["tree_structure"], splits)
            if len(splits) > MAX_SPLITS:
                self.supported = False
                break
            columns = np.array(sorted({s.feature for s in splits}) + [self.n_features], dtype=np.int64)
            dense = len(splits) <= DENSE_SPLITS
            size = 2 ** len(splits) if dense else 0
            self.trees.append(
                _Tree(
                    int(info["tree_index"]),
                    splits,
                    columns,
                    dense,
                    (
                        np.zeros((len(columns), size)),
                        np.zeros(size, bool) if dense else np.zeros(0, np.int64),
                    ),
                )
            )
        stackable = self.supported and self.trees and all(tree.dense for tree in self.trees)
        self._stacked = _Stacked(self.trees, self.n_features) if stackable else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if len(x) > BLOCK_ROWS:  # blocks keep each feature's working arrays in cache
            return np.vstack([self(x[i : i + BLOCK_ROWS]) for i in range(0, len(x), BLOCK_ROWS)])
        columns = [_Column(c) for c in np.ascontiguousarray(x.T)]
        if self._stacked is not None and len(x) <= STACKED_ROWS:
            return np.ascontiguousarray(self._stacked(columns, x, self._fill).T)
        out = np.zeros((self.n_features + 1, len(x)))  # transposed: each tree adds to a few whole rows
        for tree in self.trees:
            bits = tree.patterns(columns, len(x))
            values, filled = tree.lookup(bits)
            if not filled.all():
                self._fill(tree, x, bits, ~filled)
                values, filled = tree.lookup(bits)
            out[tree.columns] += values
        return np.ascontiguousarray(out.T)

    def _fill(self, tree: _Tree, x: np.ndarray, bits: np.ndarray, new: np.ndarray) -> None:
        """LightGBM's contributions on this tree alone for one row of each unseen pattern."""
        rows = np.flatnonzero(new)
        patterns, first = np.unique(bits[rows], return_index=True)
        with self._fill_lock:
            values = self._filler.predict(
                x[rows[first]], pred_contrib=True, start_iteration=tree.index, num_iteration=1, num_threads=1
            )
            tree.add(patterns, values[:, tree.columns])
