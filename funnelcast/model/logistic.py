"""Regularised logistic regression on a bundle's matrix: the candidate every LightGBM model is compared
with, and the model chosen when it wins on validation."""

from __future__ import annotations

import numpy as np


class LogisticModel:
    """Regularised logistic regression on the bundle's matrix: median imputation with missing flags,
    standardised numbers, one-hot categories. Keeps per-feature contributions for reasons."""

    def __init__(self, categorical: list[int], C: float = 0.5, seed: int = 0):
        self.categorical = categorical
        self.C = C
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LogisticModel:
        from sklearn.linear_model import LogisticRegression

        n_features = x.shape[1]
        self.numeric_ = [j for j in range(n_features) if j not in self.categorical]
        num = x[:, self.numeric_]
        finite = np.where(np.isfinite(num), num, np.nan)
        seen = ~np.isnan(finite).all(axis=0)  # a column empty in training gets median 0, without a warning
        self.medians_ = np.zeros(num.shape[1])
        if seen.any():
            self.medians_[seen] = np.nanmedian(finite[:, seen], axis=0)
        self.levels_ = {j: np.unique(x[~np.isnan(x[:, j]), j]) for j in self.categorical}
        design, self.owner_ = self._design(x, fit=True)
        self.model_ = LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed).fit(
            design, y, sample_weight=sample_weight
        )
        self.design_mean_ = design.mean(axis=0)
        return self

    def _design(self, x: np.ndarray, fit: bool = False) -> tuple[np.ndarray, np.ndarray]:
        num = x[:, self.numeric_]
        missing = np.isnan(num)
        filled = np.where(missing, self.medians_, num)
        if fit:
            self.mean_ = filled.mean(axis=0)
            self.scale_ = filled.std(axis=0)
            self.scale_[self.scale_ == 0] = 1.0
        parts = [(filled - self.mean_) / self.scale_, missing.astype(float)]
        owner = [*self.numeric_, *self.numeric_]
        for j in self.categorical:
            levels = self.levels_[j]
            parts.append((x[:, [j]] == levels[None, :]).astype(float))
            owner += [j] * len(levels)
        return np.hstack(parts), np.asarray(owner)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(self._design(x)[0])

    def contributions(self, x: np.ndarray) -> np.ndarray:
        design = self._design(x)[0]
        terms = (design - self.design_mean_) * self.model_.coef_[0]
        out = np.zeros((x.shape[0], x.shape[1]))
        np.add.at(out.T, self.owner_, terms.T)
        return out
