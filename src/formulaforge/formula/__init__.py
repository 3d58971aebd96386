"""Formula structure: tokenize, normalize, parse, computation-priority chains, to sympy.

May import: ``formulaforge.utils`` only.

>>> from formulaforge.formula import normalize, priority_chain
>>> normalize(r"\\left( x^{2} \\right) \\le \\dfrac{1}{2}")
'(x^2)\\\\leq\\\\frac{1}{2}'
>>> priority_chain(r"a+b\\cdot c")
['b\\\\cdot c', 'a+b\\\\cdot c']
"""

from formulaforge.formula.chain import DEFAULT_MAX_LEN, chain_from_tree, chain_stats, priority_chain
from formulaforge.formula.normalize import normalize, normalize_tokens
from formulaforge.formula.parse import Node, parse, parse_tokens
from formulaforge.formula.to_sympy import to_sympy
from formulaforge.formula.tokenize import join_tokens, tokenize

__all__ = [
    "DEFAULT_MAX_LEN",
    "Node",
    "chain_from_tree",
    "chain_stats",
    "join_tokens",
    "normalize",
    "normalize_tokens",
    "parse",
    "parse_tokens",
    "priority_chain",
    "to_sympy",
    "tokenize",
]
