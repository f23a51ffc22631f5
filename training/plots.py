"""Plots logged as MLflow artefacts: calibration, cumulative gains, importance, rate by grade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.core.plotting import pyplot

plt = pyplot()


def calibration_plot(y: np.ndarray, methods: dict[str, np.ndarray], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect")
    for name, p in methods.items():
        bins = np.clip((p * 10).astype(int), 0, 9)
        frame = pd.DataFrame({"b": bins, "p": p, "y": y}).groupby("b").agg(p=("p", "mean"), y=("y", "mean"))
        ax.plot(frame["p"], frame["y"], marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gains_plot(y: np.ndarray, methods: dict[str, np.ndarray], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    share = np.arange(1, len(y) + 1) / len(y)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="random")
    for name, p in methods.items():
        order = np.argsort(-p, kind="stable")
        ax.plot(share, np.cumsum(y[order]) / max(y.sum(), 1), label=name)
    ax.set(xlabel="share of records contacted (by score)", ylabel="share of positives found", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importance_plot(names: list[str], importance: np.ndarray, path: Path, title: str, top: int = 20) -> Path:
    order = np.argsort(importance)[-top:]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(order) + 1.2))
    ax.barh(np.array(names)[order], importance[order], color="#4C72B0")
    ax.set(xlabel="mean |contribution| to log-odds", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rate_by_grade_plot(table: pd.DataFrame, path: Path, title: str) -> Path:
    """table: method, grade, n, rate."""
    fig, ax = plt.subplots(figsize=(6, 4))
    grades = ["Hot", "Warm", "Cold"]
    methods = list(pd.unique(table["method"]))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        sub = table[table["method"] == method].set_index("grade").reindex(grades)
        ax.bar(np.arange(3) + i * width, sub["rate"].fillna(0), width, label=method)
    ax.set_xticks(np.arange(3) + width * (len(methods) - 1) / 2, grades)
    ax.set(ylabel="conversion rate (test period)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
