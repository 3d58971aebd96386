"""Datasets: ContextFormulas triplets, splits, MSFT stage sets, synthetic math, operation trees.

May import: ``utils``, ``sources``, ``formula``.
"""
