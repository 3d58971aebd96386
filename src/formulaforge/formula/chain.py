r"""Computation-priority chains: nested sub-expressions from an innermost one out to the whole formula.

MSFT stage III (paper sec. 4.2) trains on pairs (z_{i-1} -> z_i): "the next part z_i of a
formula and its preceding part z_{i-1}", ordered by computation priority ("x shall be
computed before +"). We read that as a chain of *growing* sub-expressions, each one an
operand of the next, defined on the expression tree of :func:`~formulaforge.formula.parse.parse`:

* the elements are the LaTeX strings of *compound* nodes - nodes that combine operands
  (scripts, fractions, roots, function applications, big operators, products, sums,
  relations, lists, environments, absolute values and sets). Leaves (``x``, ``12``,
  ``\mathbb{R}``) are not elements; brace groups, a big operator's limits and plain
  ``(..)``/``[..]`` are transparent (they group, they don't compute);
* the chain follows **one path** from the root down: at each node, into the operand with
  the deepest computation below it (its *height*: the longest path to a leaf, transparent
  nodes adding nothing), the leftmost on a tie, except that a big operator's limits
  (``\sum_{i=1}^n``) are entered only when strictly deeper than its body;
* read bottom-up, the compound nodes on that path are z_1 (innermost, computed first) ...
  z_M (the whole normalized formula); a node whose text equals its operand's is skipped.
  Each z_{i-1} is a contiguous span of z_i, so every label contains its input;
* a chain longer than ``max_len`` keeps z_M and an evenly spaced subset of the rest: of the n
  elements below z_M, those at indices ``floor(i * n / (max_len - 1))`` for i < max_len - 1
  (still nested: containment is transitive).

``E=mc^2+p\cdot v`` gives ``c^2`` -> ``mc^2`` -> ``mc^2+p\cdot v`` -> ``E=mc^2+p\cdot v``.
Worked examples on the paper's own formulas, and the statistics on the shared corpus, are in
docs/datasets.md.
"""

from __future__ import annotations

from itertools import pairwise

from formulaforge.formula.normalize import normalize_tokens
from formulaforge.formula.parse import Node, parse_tokens
from formulaforge.formula.tokenize import spaced_pieces

DEFAULT_MAX_LEN = 16
"""Chains of at most 16 elements: 15 stage-III pairs per formula at most."""

_LEAF_KINDS = frozenset({"atom", "number", "symbol"})
_TRANSPARENT_DELIMS = frozenset({"()", "[]", "(]", "[)"})


def _is_transparent(node: Node) -> bool:
    return node.kind in ("group", "head") or (node.kind == "delim" and node.op in _TRANSPARENT_DELIMS)


def _is_compound(node: Node) -> bool:
    return bool(node.children) and node.kind not in _LEAF_KINDS and node.kind != "seq" and not _is_transparent(node)


def _heights(root: Node) -> dict[int, int]:
    """Height of every node (compound nodes add 1); iterative post-order (no recursion limit)."""
    heights: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children)
            continue
        child_h = max((heights[id(c)] for c in node.children), default=0)
        heights[id(node)] = child_h + 1 if _is_compound(node) else (0 if node.kind in _LEAF_KINDS else child_h)
    return heights


def _next_operand(node: Node, heights: dict[int, int]) -> Node | None:
    """The operand the path enters: deepest, leftmost on a tie, a big operator's limits last."""
    best: Node | None = None
    best_key: tuple[int, int] | None = None
    for child in node.children:
        h = heights[id(child)]
        if h == 0:
            continue
        key = (h, 0 if (node.kind == "bigop" and child.kind == "head") else 1)
        if best_key is None or key > best_key:
            best, best_key = child, key
    return best


def _path(root: Node) -> list[Node]:
    """Compound nodes from the root down the deepest path (root first)."""
    heights = _heights(root)
    out: list[Node] = []
    node: Node | None = root
    while node is not None:
        if _is_compound(node):
            out.append(node)
        node = _next_operand(node, heights)
    return out


def chain_from_tree(root: Node, max_len: int = DEFAULT_MAX_LEN) -> list[str]:
    """The chain of an already parsed formula (see the module docstring)."""
    if root.end == root.start:
        return []
    whole = root.latex
    chain: list[str] = []
    if not root.fallback:
        pieces = spaced_pieces(root.tokens)
        for node in reversed(_path(root)):
            text = node.tokens[node.start] + "".join(pieces[node.start + 1 : node.end])
            if text != whole and (not chain or text != chain[-1]):
                chain.append(text)
    if max_len is not None and len(chain) > max_len - 1:
        keep = max(max_len - 1, 0)
        step = len(chain) / keep if keep else 0
        chain = [chain[int(i * step)] for i in range(keep)]
    chain.append(whole)
    return chain


def priority_chain(latex: str, max_len: int = DEFAULT_MAX_LEN) -> list[str]:
    """Nested sub-expressions z_1 .. z_M of ``latex``, innermost first (see the module docstring).

    z_M is ``normalize(latex)``; an empty formula gives ``[]``; a formula the parser could
    not structure gives ``[normalize(latex)]``. ``max_len >= 1`` bounds M.
    """
    if max_len is not None and max_len < 1:
        raise ValueError("max_len must be >= 1")
    return chain_from_tree(parse_tokens(normalize_tokens(latex)), max_len)


def chain_stats(chains: list[list[str]]) -> dict[str, float]:
    """Pairs per formula and the share of stage-III labels that contain their input."""
    pairs = [pair for c in chains for pair in pairwise(c)]
    return {
        "formulas": len(chains),
        "pairs": len(pairs),
        "pairs_per_formula": round(len(pairs) / len(chains), 3) if chains else 0.0,
        "label_contains_input": round(sum(a in b for a, b in pairs) / len(pairs), 4) if pairs else 0.0,
        "formulas_without_pairs": sum(len(c) < 2 for c in chains),
    }
