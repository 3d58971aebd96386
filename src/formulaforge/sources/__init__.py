"""Read math-bearing text: LaTeX trees, single files, arXiv-style archives, docstrings.

May import: ``formulaforge.utils`` only.
"""
