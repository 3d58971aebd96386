"""Compare answers that are structures: tuples, lists, sets, intervals, inequalities,
matrices, equations (runs inside the checker worker).

math-verify's parser reads the notation (``(1,2)``, ``\\{1,2\\}``, ``[1,2)``,
``(-\\infty,2]\\cup(3,\\infty)``, ``x\\le 3``, ``\\begin{pmatrix}..\\end{pmatrix}``) and its
comparison functions decide most pairs. What is ours, and why: math-verify compares
whatever two objects it is given, leniently (a scalar is a one-element set, ``9 = 1``
unwraps to ``1``, a tuple can match a set in written order). Here the *kind* of the gold
answer decides which candidates can be right at all, so a structure is never accepted
for a scalar and a scalar never for a structure; within a kind, elements are compared
by :func:`element_equal` (exact, then numeric at random points, then math-verify).

Kinds and what each accepts:

* ``tuple`` (ordered): a tuple of the same length, equal element by element in order;
  ``(a,b)`` read as an open interval (the notation is ambiguous) counts as the tuple;
  ``x=2, y=3`` counts as ``(2, 3)``;
* ``set``: a set (or list) with the same elements, in any order;
* ``interval`` (intervals and unions): the same set of numbers (same endpoints and
  openness); a one-variable inequality describing it; for an open interval ``(a, b)``,
  which is also how a pair is written, the pair ``a, b`` in that order;
* ``inequality``: an inequality in the same one variable with the same solution set
  (``2x > 4`` for ``x > 2``), else math-verify's relational comparison (sides swapped);
  or the interval/union it describes;
* ``matrix``: same shape, equal entry by entry;
* ``equation``: an equivalent equation; a bare value only when the gold is an
  assignment ``x = value`` (``a + 3z = 0`` never accepts ``0``).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from sympy.core.relational import Relational

ElementEqual = Callable[[sympy.Basic, sympy.Basic], bool]


def kind(obj: object) -> str:
    if isinstance(obj, sympy.MatrixBase):
        return "matrix"
    if isinstance(obj, sympy.Equality):
        return "equation"
    if isinstance(obj, (Relational, sympy.And)):
        return "inequality"
    if isinstance(obj, (sympy.Interval, sympy.Union)):
        return "interval"
    if isinstance(obj, (sympy.FiniteSet, sympy.EmptySet.__class__)):
        return "set"
    if isinstance(obj, sympy.Tuple):
        return "tuple"
    return "scalar"


def is_structure(obj: object) -> bool:
    return kind(obj) != "scalar"


def _assignment_value(obj: sympy.Basic) -> sympy.Basic:
    """``x = 2`` -> ``2`` (an element written as an assignment)."""
    if isinstance(obj, sympy.Equality) and isinstance(obj.lhs, sympy.Symbol):
        return obj.rhs
    return obj


def _elements(obj: sympy.Basic) -> list[sympy.Basic]:
    """Elements in the order written (a FiniteSet keeps it in ``_unsorted_args``)."""
    args = obj._unsorted_args if isinstance(obj, sympy.FiniteSet) else obj.args
    return [_assignment_value(a) for a in args]


def _all_equal(gold: list[sympy.Basic], cand: list[sympy.Basic], eq: ElementEqual) -> bool:
    return len(gold) == len(cand) and all(eq(g, c) for g, c in zip(gold, cand))


def _same_multiset(gold: list[sympy.Basic], cand: list[sympy.Basic], eq: ElementEqual) -> bool:
    if len(gold) != len(cand):
        return False
    left = list(cand)
    for g in gold:
        hit = next((i for i, c in enumerate(left) if eq(g, c)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def _as_set(rel: sympy.Basic) -> sympy.Set | None:
    """The set a one-variable inequality (or chain) describes, over the reals."""
    symbols = rel.free_symbols
    if len(symbols) != 1:
        return None
    try:
        return rel.as_set()
    except Exception:  # noqa: BLE001 - not solvable as a set: not comparable this way
        return None


def _sets_equal(a: sympy.Set, b: sympy.Set, eq: ElementEqual) -> bool:
    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        return (a.left_open == b.left_open and a.right_open == b.right_open
                and eq(a.start, b.start) and eq(a.end, b.end))
    try:
        return bool(a.symmetric_difference(b).is_empty)
    except Exception:  # noqa: BLE001
        return False


def structures_equal(gold: sympy.Basic, cand: sympy.Basic, eq: ElementEqual,
                     relations_equal: Callable[[sympy.Basic, sympy.Basic], bool]) -> tuple[bool, str]:
    """(verdict, how) for a structured gold answer; see the module docstring."""
    gk, ck = kind(gold), kind(cand)
    if gk == "tuple":
        if ck == "interval" and isinstance(cand, sympy.Interval) and cand.left_open and cand.right_open:
            return _all_equal(list(gold.args), [cand.start, cand.end], eq), "tuple_from_open_interval"
        if ck in ("tuple", "set"):
            return _all_equal(list(gold.args), _elements(cand), eq), "tuple"
        return False, f"tuple_vs_{ck}"
    if gk == "set":
        if ck in ("set", "tuple"):
            return _same_multiset(list(gold.args), _elements(cand), eq), "set"
        if ck == "interval" and isinstance(cand, sympy.Interval) and cand.left_open and cand.right_open \
                and len(gold.args) == 2:
            return _same_multiset(list(gold.args), [cand.start, cand.end], eq), "set_from_open_pair"
        if ck == "scalar" and len(gold.args) == 1:
            return eq(gold.args[0], cand), "set_of_one"
        return False, f"set_vs_{ck}"
    if gk == "interval":
        if ck == "interval":
            return _sets_equal(gold, cand, eq), "interval"
        if ck in ("tuple", "set") and isinstance(gold, sympy.Interval) and gold.left_open and gold.right_open:
            # "(1, 2)" is also how a pair is written: read as the pair, in order
            return _all_equal([gold.start, gold.end], _elements(cand), eq), "open_interval_as_pair"
        if ck == "inequality":
            described = _as_set(cand)
            return (described is not None and _sets_equal(gold, described, eq)), "inequality_as_set"
        return False, f"interval_vs_{ck}"
    if gk == "inequality":
        if ck == "inequality":
            gold_set, cand_set = _as_set(gold), _as_set(cand)
            if gold_set is not None and cand_set is not None and gold.free_symbols == cand.free_symbols:
                return _sets_equal(gold_set, cand_set, eq), "inequality_solution_set"
            return relations_equal(gold, cand), "inequality"
        if ck == "interval":
            described = _as_set(gold)
            return (described is not None and _sets_equal(described, cand, eq)), "set_for_inequality"
        return False, f"inequality_vs_{ck}"
    if gk == "matrix":
        if ck == "matrix" and gold.shape == cand.shape:
            return all(eq(g, c) for g, c in zip(gold, cand)), "matrix"
        return False, f"matrix_vs_{ck}"
    if gk == "equation":
        if ck == "equation":
            return relations_equal(gold, cand), "equation"
        if ck == "scalar" and isinstance(gold.lhs, sympy.Symbol):
            return eq(gold.rhs, cand), "assignment_value"
        return False, f"equation_vs_{ck}"
    raise ValueError(f"not a structured answer: {gold!r}")
