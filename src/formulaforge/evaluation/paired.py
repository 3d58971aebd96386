"""Paired comparisons of per-item NLL between two models on the same items.

The per-token NLL of a model on a set of items is pooled (total nats / total label tokens). A
paired difference X - Y is computed on the same items; its 95 % interval resamples the items
(percentile bootstrap, the same resampled items for both models). Across seeds: the mean
difference, how many seeds agree in sign, an interval that resamples items of the
seed-averaged difference, and the minimum detectable effect (80 % power, two-sided 5 %).
numpy and scipy do the arithmetic; nothing here is specific to MSFT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Z_MDE = 2.8016  # z_{0.975} + z_{0.80}: the normal-approximation minimum detectable effect factor


def per_token(nll: Sequence[tuple[float, int]]) -> float:
    total = sum(n for n, _ in nll)
    tokens = sum(k for _, k in nll)
    return total / tokens if tokens else float("nan")


def _arrays(nll: Sequence[tuple[float, int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([n for n, _ in nll], dtype=float), np.array([k for _, k in nll], dtype=float)


def paired_difference(
    x: Sequence[tuple[float, int]], y: Sequence[tuple[float, int]], *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Per-token NLL of x minus y on the same items, with a bootstrap 95 % interval and its SE."""
    if len(x) != len(y) or any(a[1] != b[1] for a, b in zip(x, y, strict=True)):
        raise ValueError("paired comparison needs the same items (and label tokens) for both models")
    xn, k = _arrays(x)
    yn, _ = _arrays(y)
    diff = xn.sum() / k.sum() - yn.sum() / k.sum()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(xn), size=(n_boot, len(xn)))
    boots = (xn[idx].sum(1) - yn[idx].sum(1)) / k[idx].sum(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    se = float(boots.std(ddof=1))
    return {"diff": float(diff), "lo": float(lo), "hi": float(hi), "se": se, "mde": Z_MDE * se}


def across_seeds(
    pairs: Sequence[tuple[Sequence[tuple[float, int]], Sequence[tuple[float, int]]]], *, n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """X - Y over seeds: per-seed results, mean, sign agreement, item-bootstrap interval, MDE."""
    from scipy import stats

    per_seed = [paired_difference(x, y, n_boot=n_boot, seed=seed + i) for i, (x, y) in enumerate(pairs)]
    diffs = np.array([p["diff"] for p in per_seed])
    k = _arrays(pairs[0][0])[1]
    stacked = np.array([_arrays(x)[0] - _arrays(y)[0] for x, y in pairs])  # seeds x items (nats)
    rng = np.random.default_rng(seed + 10_000)
    idx = rng.integers(0, stacked.shape[1], size=(n_boot, stacked.shape[1]))
    boots = stacked[:, idx].sum(2).mean(0) / k[idx].sum(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    n = len(diffs)
    negative, positive = int((diffs < 0).sum()), int((diffs > 0).sum())
    if n > 1:
        sd = float(diffs.std(ddof=1))
        t = float(stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.80, n - 1))
        mde_seeds = t * sd / np.sqrt(n)
    else:
        sd, mde_seeds = float("nan"), float("nan")
    return {
        "per_seed": per_seed,
        "mean": float(diffs.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "seeds": n,
        "negative": negative,
        "positive": positive,
        "seed_sd": sd,
        "mde_items": float(Z_MDE * boots.std(ddof=1)),
        "mde_seeds": float(mde_seeds),
    }


def verdict(result: dict[str, Any]) -> str:
    """``lower`` (X has the lower NLL), ``higher`` or ``none``: interval excludes 0 and every seed agrees."""
    n = result["seeds"]
    if result["hi"] < 0 and result["negative"] == n:
        return "lower"
    if result["lo"] > 0 and result["positive"] == n:
        return "higher"
    return "none"
