"""Formula structure: tokenize, normalize, parse, computation-priority chains, to sympy.

May import: ``formulaforge.utils`` only.
"""
