"""Evaluation: the literature's metrics, formula-aware metrics, reports and plots.

May import: every layer below (``utils`` .. ``training``).
"""
