"""Formula-generation metrics: the literature's (``standard``) and ours (formula-aware)."""

from formulaforge.evaluation.metrics.aggregate import mean_std, summarize_runs
from formulaforge.evaluation.metrics.standard import STANDARD_METRICS, standard_metrics

__all__ = ["STANDARD_METRICS", "mean_std", "standard_metrics", "summarize_runs"]
