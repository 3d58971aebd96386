"""What every render engine is given: the normalized formula as a small tree.

Both engines render :func:`formulaforge.formula.normalize` of a formula, not the text as
written: layout that draws nothing different (``\\left(`` vs ``(``, ``\\,``, ``\\frac12`` vs
``\\frac{1}{2}``, ``\\dfrac``, ``\\le`` vs ``\\leq``) is gone before rendering, so such
spellings render identically and score 1.0 by construction, as in CDM's own LaTeX
normalization step. The tree (:func:`parse_nodes`) groups braces and environments so an
engine can rewrite arguments and rows without re-tokenizing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from formulaforge.formula import normalize_tokens


@dataclass
class Group:
    """A ``{...}`` group."""

    children: list[Node] = field(default_factory=list)


@dataclass
class Env:
    """``\\begin{name}[{argument}] ... \\end{name}``: ``children`` hold the body as written."""

    name: str
    children: list[Node] = field(default_factory=list)


Node = str | Group | Env


class Unbalanced(ValueError):
    """An environment is opened and not closed (or closed and not opened)."""


def parse_nodes(tokens: list[str]) -> list[Node]:
    """Nest ``tokens`` into groups and environments; raises :class:`Unbalanced`.

    Braces are already balanced by normalization; environments may not be.
    """
    root: list[Node] = []
    stack: list[Group | Env] = []
    current = root
    for tok in tokens:
        if tok == "{":
            node: Group | Env = Group()
        elif tok.startswith("\\begin{"):
            node = Env(tok[len("\\begin{") : -1])
        elif tok == "}" or tok.startswith("\\end{"):
            if not stack:
                raise Unbalanced(f"{tok} without an opening")
            top = stack.pop()
            if isinstance(top, Env) != tok.startswith("\\end{") or (
                isinstance(top, Env) and tok != f"\\end{{{top.name}}}"
            ):
                raise Unbalanced(f"{tok} closes the wrong thing")
            current = stack[-1].children if stack else root
            continue
        else:
            current.append(tok)
            continue
        current.append(node)
        stack.append(node)
        current = node.children
    if stack:
        raise Unbalanced("unclosed group or environment")
    return root


def split_rows(nodes: list[Node]) -> list[list[Node]]:
    """Top-level rows separated by ``\\\\`` (an ``align`` body); one row for most formulas."""
    rows: list[list[Node]] = [[]]
    for node in nodes:
        if node == "\\\\":
            rows.append([])
        else:
            rows[-1].append(node)
    return [row for row in rows if row]


def formula_nodes(latex: str) -> list[Node]:
    """The normalized formula as a tree (empty for an empty formula); raises :class:`Unbalanced`."""
    return parse_nodes(normalize_tokens(latex))
