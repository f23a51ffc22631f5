"""Monte Carlo of closed-won revenue: each open deal is won independently with its probability.

One draw is Σ amount_i · B_i with B_i ~ Bernoulli(p_i). A draw costs one 16-bit random number and
one compare per deal: probabilities are rounded to the nearest 1/65536 (at most 7.6e-6 off), which
lets four Bernoulli trials share one 64-bit random word. Draws are made in blocks, each block with
its own seed spawned from the caller's seed, so a seed gives the same draws whatever the number
of threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.stats import norm
from threadpoolctl import threadpool_limits

RESOLUTION = 65536  # probability steps
BLOCK = 256  # draws per seeded block
ROWS = 8  # draws per matrix product (keeps the working set in cache)
SHOCK_LEVELS = 50


def _shift(p: np.ndarray, shock: float) -> np.ndarray:
    """p moved by `shock` on the log-odds scale (0 and 1 stay put)."""
    with np.errstate(divide="ignore"):
        z = np.log(p) - np.log1p(-p)
    return 1.0 / (1.0 + np.exp(-(z + shock)))


def _block(
    seed: np.random.SeedSequence,
    draws: int,
    thresholds: np.ndarray,
    amounts: np.ndarray,
    starts: np.ndarray | None,
) -> np.ndarray:
    """Won revenue of `draws` draws; per group when `starts` gives where each group's deals begin."""
    bits = np.random.SFC64(seed)
    n = len(thresholds)
    words = (n + 3) // 4
    out = np.empty((draws, 1 if starts is None else len(starts)))
    wins = np.empty((ROWS, n))
    for start in range(0, draws, ROWS):
        m = min(ROWS, draws - start)
        uniform16 = bits.random_raw(m * words).view(np.uint16).reshape(m, 4 * words)[:, :n]
        np.less(uniform16, thresholds, out=wins[:m], casting="unsafe")
        if starts is None:
            out[start : start + m, 0] = wins[:m] @ amounts
        else:  # one pass whatever the number of groups (a dense n x groups product grows with them)
            np.multiply(wins[:m], amounts, out=wins[:m])
            out[start : start + m] = np.add.reduceat(wins[:m], starts, axis=1)
    return out


def simulate_won(
    amounts: np.ndarray,
    probabilities: np.ndarray,
    draws: int = 10_000,
    seed: int = 0,
    groups: np.ndarray | None = None,
    threads: int = 2,
    logit_sd: float = 0.0,
) -> np.ndarray:
    """Draws of won revenue, shape (draws,), or (draws, n_groups) when `groups` gives each deal's
    group code (0..n_groups-1); the columns of one draw come from the same simulated wins.

    `logit_sd` > 0 adds a shock shared by all deals of a draw: logit(p) + ε, ε ~ N(0, logit_sd²),
    sampled by stratification (SHOCK_LEVELS equally likely levels, the same number of draws each)."""
    amounts = np.asarray(amounts, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if amounts.shape != p.shape or amounts.ndim != 1:
        raise ValueError("amounts and probabilities must be 1-d arrays of the same length")
    if not (np.isfinite(p).all() and np.isfinite(amounts).all()):
        raise ValueError("amounts and probabilities must be finite")
    if draws < 1:
        raise ValueError("draws must be at least 1")
    if logit_sd > 0:
        levels = min(SHOCK_LEVELS, draws)
        shocks = norm.ppf((np.arange(levels) + 0.5) / levels) * logit_sd
        counts = np.diff(np.linspace(0, draws, levels + 1).round().astype(int))
        seeds = np.random.SeedSequence(seed).generate_state(levels)
        jobs = [(e, int(k), int(s)) for e, k, s in zip(shocks, counts, seeds, strict=True) if k]
        with threadpool_limits(1), ThreadPoolExecutor(max(1, threads)) as pool:  # levels run side by side
            parts = list(
                pool.map(
                    lambda job: simulate_won(amounts, _shift(p, job[0]), job[1], job[2], groups, 1), jobs
                )
            )
        return np.concatenate(parts)
    codes = np.zeros(len(p), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    n_groups = int(codes.max()) + 1 if len(codes) else 1
    steps = np.rint(np.clip(p, 0.0, 1.0) * RESOLUTION).astype(np.int64)
    certain = steps >= RESOLUTION  # won in every draw; cannot be compared against a 16-bit number
    base = np.bincount(codes[certain], weights=amounts[certain], minlength=n_groups)
    uncertain = np.flatnonzero(~certain & (steps > 0))
    uncertain = uncertain[np.argsort(codes[uncertain], kind="stable")]  # each group's deals side by side
    thresholds, live_amounts = steps[uncertain].astype(np.uint16), amounts[uncertain]
    present, starts = np.unique(codes[uncertain], return_index=True)

    sizes = [min(BLOCK, draws - s) for s in range(0, draws, BLOCK)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    out = np.zeros((draws, n_groups))
    if len(thresholds):
        by_group = None if n_groups == 1 else starts
        with threadpool_limits(1), ThreadPoolExecutor(max(1, threads)) as pool:
            # numpy releases the GIL in the generator, the compare and the product: threads scale
            parts = list(
                pool.map(
                    _block,
                    seeds,
                    sizes,
                    [thresholds] * len(sizes),
                    [live_amounts] * len(sizes),
                    [by_group] * len(sizes),
                )
            )
        out[:, present if n_groups > 1 else [0]] = np.concatenate(parts)
    out += base
    return out[:, 0] if groups is None else out
