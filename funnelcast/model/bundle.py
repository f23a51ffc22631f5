"""The scoring bundle: everything a trained model needs to score, in one object.

Training builds it; serving and the MLflow pyfunc load it. It holds the feature set name, the
column order and category codes learned on the training period, one fitted estimator and
calibrator per target, grade thresholds and (for deals) the frozen historical rates. Scoring
works on a numpy matrix in training column order (LightGBM's pandas path is far slower per row),
built from feature arrays by name (a dict from the feature functions, or a frame).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from funnelcast.features.arrays import lookup, text
from funnelcast.model.contributions import TreeContributions

GRADES = ("Hot", "Warm", "Cold")
EPS = 1e-6
BATCH_ROWS = 64  # from this many rows, per-row contributions use every core
TABLE_ROWS = 128  # from this many rows the table contributions beat LightGBM's pred_contrib (2 cores)


def batch_threads(n_rows: int) -> int | None:
    """Threads for contributions: all cores for a batch, the model's own setting for a few rows."""
    return (os.cpu_count() or 1) if n_rows >= BATCH_ROWS else None


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """Maps a raw model probability to a calibrated one: isotonic or sigmoid (Platt on the logit)."""

    method: Literal["isotonic", "sigmoid", "identity"]
    isotonic: IsotonicRegression | None = None
    a: float = 1.0
    b: float = 0.0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.clip(self.isotonic.predict(raw), 0.0, 1.0)
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * logit(raw) + self.b)))
        return raw


@dataclass
class TargetModel:
    """One predicted quantity (e.g. P(convert within 90 days)): estimator + calibrator."""

    name: str
    algorithm: Literal["lightgbm", "logistic_regression"]
    estimator: Any
    calibrator: Calibrator

    def raw(self, x: np.ndarray) -> np.ndarray:
        if self.algorithm == "lightgbm":
            with self._booster_lock():
                return self.estimator.booster_.predict(x)
        return self.estimator.predict_proba(x)[:, 1]

    def _booster_lock(self) -> threading.Lock:
        """One LightGBM call at a time on this model's booster. LightGBM keeps per-call state in the
        booster (the tree range; for contributions it recomputes every tree's depth), so concurrent
        requests calling it from several threads read half-written trees: wrong values or a crash
        (tests/funnelcast/test_tree_contributions.py). Calls are short; the lock costs little."""
        lock = self.__dict__.get("_lock")
        if lock is None:  # created on first use per loaded model; not pickled
            lock = self.__dict__.setdefault("_lock", threading.Lock())
        return lock

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator(self.raw(x))

    def predict_and_contributions(
        self, x: np.ndarray, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and per-feature contributions from one pass over the trees: for
        LightGBM the contributions plus the bias are the raw log-odds, so no second predict call."""
        if self.algorithm != "lightgbm":
            return self.predict(x), self.contributions(x, threads)
        full = self._tree_contributions(x, threads)
        raw = 1.0 / (1.0 + np.exp(-full.sum(axis=1)))
        return self.calibrator(raw), full[:, :-1]

    def contributions(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Per-feature contributions to the raw log-odds, (n, n_features); the bias is dropped.
        `threads` overrides the training thread count (TreeSHAP is the costly part of a batch)."""
        if self.algorithm == "lightgbm":
            return self._tree_contributions(x, threads)[:, :-1]
        return self.estimator.contributions(x)

    def _tree_contributions(self, x: np.ndarray, threads: int | None) -> np.ndarray:
        """LightGBM's per-row TreeSHAP values, the bias in the last column: from per-tree tables of
        LightGBM's own values for batches (funnelcast/tree_contributions.py), else LightGBM directly."""
        if len(x) >= TABLE_ROWS:
            tables = self.__dict__.get("_tables")
            if tables is None:  # built on first use per loaded model; not pickled
                tables = self.__dict__["_tables"] = TreeContributions(self.estimator.booster_)
            if tables.supported:
                return tables(x)
        extra = {"num_threads": threads} if threads else {}
        with self._booster_lock():
            return self.estimator.booster_.predict(x, pred_contrib=True, **extra)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_tables", None)
        state.pop("_lock", None)
        return state


@dataclass
class ModelBundle:
    """A trained lead-grading or win-probability model and what it needs to score."""

    kind: Literal["lead", "opportunity"]
    feature_set: str
    columns: list[str]
    categories: dict[str, list[str]]  # categorical column -> known values (code = position)
    targets: dict[str, TargetModel]
    primary: str  # the target whose probability is "the" score
    thresholds: dict[str, float] = field(default_factory=dict)  # lead grades: hot, warm
    rates: dict | None = None  # frozen historical rates (opportunities), features.history.Rates.to_dict()
    metadata: dict = field(default_factory=dict)

    def _codes(self) -> dict[str, dict[str, float]]:
        codes = self.__dict__.get("_code_tables")
        if codes is None:  # built once per loaded bundle
            codes = {c: {v: float(i) for i, v in enumerate(known)} for c, known in self.categories.items()}
            self.__dict__["_code_tables"] = codes
        return codes

    def matrix(self, features: Mapping[str, np.ndarray] | pd.DataFrame) -> np.ndarray:
        """Features (arrays by name, or a frame) in training column order as float64; categories as their
        training codes, unseen or missing as NaN (LightGBM treats them as missing). A custom attribute
        the caller did not send is missing, like any missing value."""
        missing = [c for c in self.columns if c not in features and not c.startswith("custom:")]
        if missing:
            raise ValueError(f"features lack columns the model was trained on: {missing[:5]}")
        n = len(features[next(iter(features))]) if len(features) else 0
        out = np.empty((n, len(self.columns)), dtype=np.float64)
        codes = self._codes()
        for j, col in enumerate(self.columns):
            if col not in features:
                out[:, j] = np.nan
            elif col in codes:
                out[:, j] = lookup(text(features[col]), codes[col])
            else:
                out[:, j] = np.asarray(features[col], dtype=np.float64)
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_code_tables", None)  # a cache, rebuilt on use
        return state

    def unknown_categories(self, features: Mapping[str, np.ndarray] | pd.DataFrame) -> list[dict[str, str]]:
        """Per row, the category values never seen in training (scored as missing), by column."""
        n = len(features[next(iter(features))]) if len(features) else 0
        out: list[dict[str, str]] = [{} for _ in range(n)]
        for col, known in self._codes().items():
            if col not in features:
                continue
            values = text(features[col])
            unseen = (values != None) & (lookup(values, known, default=-1.0) < 0)  # noqa: E711 (elementwise)
            for i in np.flatnonzero(unseen):
                out[i][col] = values[i]
        return out

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Calibrated probabilities per target of a feature frame; win horizons are made monotone
        (P30 <= P60 <= P90 <= P)."""
        return pd.DataFrame(self.predict_matrix(self.matrix(features)), index=features.index)

    def predict_matrix(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """`predict` on a matrix in training column order."""
        return self._monotone({name: t.predict(x) for name, t in self.targets.items()})

    def predict_and_explain(
        self, x: np.ndarray, threads: int | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`predict_matrix`, and the primary target's per-feature contributions from the same pass over
        its trees."""
        p, contrib = self.targets[self.primary].predict_and_contributions(x, threads)
        probs = {name: p if name == self.primary else t.predict(x) for name, t in self.targets.items()}
        return self._monotone(probs), contrib

    def _monotone(self, probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.kind == "opportunity":
            horizons = sorted((int(n.split("_")[1][:-1]), n) for n in probs if n.startswith("won_"))
            ceiling = probs["won"]
            for _, name in reversed(horizons):  # longest horizon first
                probs[name] = np.minimum(probs[name], ceiling)
                ceiling = probs[name]
        return probs

    def grade(self, probability: np.ndarray) -> np.ndarray:
        """Hot / Warm / Cold from the calibrated probability and the recorded thresholds."""
        hot, warm = self.thresholds["hot"], self.thresholds["warm"]
        return np.where(probability >= hot, "Hot", np.where(probability >= warm, "Warm", "Cold"))
