"""Computation-priority chains: the sub-expressions of a formula in the order they are computed.

MSFT stage III (paper sec. 4.2) trains on pairs (z_{i-1} -> z_i) of a chain z_1 ... z_M
where higher-priority parts come first ("x shall be computed before +"). We define it on
the expression tree of :func:`~formulaforge.formula.parse.parse`:

* the elements are the LaTeX strings of the tree's *compound* nodes - every node that
  combines operands (scripts, fractions, roots, function applications, big operators,
  products, sums, relations, lists, environments, absolute values and sets);
* leaves are not elements (``x``, ``12``, ``\\mathbb{R}``, ``\\hat{x}``), and brace groups
  and plain ``(..)``/``[..]`` are transparent (they order, they don't compute);
* order: by *height* (longest path down to a leaf, transparent nodes adding nothing), then
  left to right. Height 1 nodes combine only leaves, so scripts and groups come before the
  products containing them, products before sums, sums before relations - the bottom-up,
  level-by-level reduction of the formula;
* repeated strings keep their first place; the last element is always the whole normalized
  formula (z_M);
* a chain longer than ``max_len`` keeps z_M and an evenly spaced subset of the rest.

Every element is a contiguous span of the normalized formula whose brackets nest, so it
is balanced LaTeX.
"""

from __future__ import annotations

from formulaforge.formula.normalize import normalize_tokens
from formulaforge.formula.parse import Node, parse_tokens
from formulaforge.formula.tokenize import spaced_pieces

DEFAULT_MAX_LEN = 16
"""Chains of at most 16 elements: 15 stage-III pairs per formula at most (the paper's
Table 4 has about 12 pairs per formula)."""

_LEAF_KINDS = frozenset({"atom", "number", "symbol"})
_TRANSPARENT_DELIMS = frozenset({"()", "[]", "(]", "[)"})


def _is_transparent(node: Node) -> bool:
    return node.kind in ("group", "head") or (node.kind == "delim" and node.op in _TRANSPARENT_DELIMS)


def _collect(root: Node) -> list[tuple[int, int, Node]]:
    """(height, start, node) for every compound node; iterative post-order (no recursion limit)."""
    out: list[tuple[int, int, Node]] = []
    heights: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children)
            continue
        child_h = max((heights[id(c)] for c in node.children), default=0)
        if node.kind in _LEAF_KINDS or node.kind == "seq" or not node.children:
            h = 0 if node.kind != "seq" else child_h
        elif _is_transparent(node):
            h = child_h
        else:
            h = child_h + 1
            out.append((h, node.start, node))
        heights[id(node)] = h
    return out


def chain_from_tree(root: Node, max_len: int = DEFAULT_MAX_LEN) -> list[str]:
    """The chain of an already parsed formula (see the module docstring)."""
    if root.end == root.start:
        return []
    whole = root.latex
    seen = {whole}
    chain: list[str] = []
    if not root.fallback:
        pieces = spaced_pieces(root.tokens)
        for _, _, node in sorted(_collect(root), key=lambda item: (item[0], item[1])):
            text = node.tokens[node.start] + "".join(pieces[node.start + 1 : node.end])
            if text not in seen:
                seen.add(text)
                chain.append(text)
    if max_len is not None and len(chain) > max_len - 1:
        keep = max(max_len - 1, 0)
        if keep == 0:
            chain = []
        else:
            step = len(chain) / keep
            chain = [chain[int(i * step)] for i in range(keep)]
    chain.append(whole)
    return chain


def priority_chain(latex: str, max_len: int = DEFAULT_MAX_LEN) -> list[str]:
    """Sub-expressions z_1 .. z_M of ``latex``, highest computation priority first.

    z_M is ``normalize(latex)``; an empty formula gives ``[]``; a formula the parser could
    not structure gives ``[normalize(latex)]``. ``max_len >= 1`` bounds M.
    """
    if max_len is not None and max_len < 1:
        raise ValueError("max_len must be >= 1")
    return chain_from_tree(parse_tokens(normalize_tokens(latex)), max_len)
