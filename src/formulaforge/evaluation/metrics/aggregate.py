"""Mean +- std over repeated runs, as the MSFT paper reports every number (5 runs)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and *sample* standard deviation (ddof=1; 0.0 for a single run).

    NaN values (a metric undefined for a run) are left out rather than poisoning the mean.
    """
    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not clean:
        return math.nan, math.nan
    mean = sum(clean) / len(clean)
    if len(clean) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in clean) / (len(clean) - 1)
    return mean, math.sqrt(var)


def summarize_runs(per_run: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """``[{metric: value}, ...]`` per run -> ``{metric: {"runs": [...], "mean": m, "std": s}}``."""
    names: list[str] = []
    for run in per_run:
        names.extend(k for k in run if k not in names)
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [float(run[name]) if name in run else math.nan for run in per_run]
        mean, std = mean_std(values)
        summary[name] = {"runs": values, "mean": mean, "std": std}
    return summary


def format_mean_std(mean: float, std: float, digits: int = 2) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
