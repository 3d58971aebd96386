"""Formula-aware metrics (FormulaForge's own, labelled as such in every report).

The literature's metrics compare raw strings, so ``\\dfrac{a}{b}`` vs ``\\frac{a}{b}``
or ``x^{2}`` vs ``x^2`` count as errors and ``a+b`` vs ``b+a`` as wrong. These compare
formulas as formulas:

* ``norm_bleu`` / ``norm_edit_sim`` / ``norm_exact``: BLEU (x100, as ``bleu``), token
  edit similarity (1 - Levenshtein / longer length, rapidfuzz) and exact match over
  :func:`formulaforge.formula.tokenize` of :func:`formulaforge.formula.normalize`.
* ``sym_equiv``: among pairs where both sides convert to sympy
  (:func:`formulaforge.formula.to_sympy`, time-bounded), the share that are equal as
  mathematics (difference simplifies to 0, for equations up to sign/scale of
  lhs - rhs), checked numerically first; ``sym_converted`` is the share of pairs that
  converted, so a reader knows what ``sym_equiv`` covers.

Reading both sides costs ~0.2 ms each (:mod:`formulaforge.formula.sympy_reader`, our own
strict reader: it refuses what it cannot read soundly, see there why not latex2sympy), so
``sym_converted`` measures what the reader accepts, not a time budget. Pairs equal after
normalization are equivalent without reading; conversions are cached per token sequence,
so a label is read once for all runs; distinct pairs are checked once;
:func:`symbolically_equal` compares structure, then numbers, and simplifies only pairs
that agree numerically; ``workers > 1`` spreads the pairs over a process pool.
``tests/test_eval_formula_aware.py`` checks pooled == serial == the plain computation.
"""

from __future__ import annotations

import cmath
import multiprocessing as mp
import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import Levenshtein

from formulaforge.evaluation.metrics.standard import bleu
from formulaforge.formula import normalize, to_sympy, tokenize
from formulaforge.formula.to_sympy import reading_tokens, tokens_to_sympy
from formulaforge.utils.timeout import CASTimeout, time_limit

SYMPY_TIMEOUT = 2.0  # CPU seconds per conversion and per pair (a wall-clock 10x is the hard stop)
NUMERIC_BUDGET = 0.2  # CPU s for the numeric pre-check of one expression
NUMERIC_POINTS = 4
NUMERIC_TOLERANCE = 1e-8


@lru_cache(maxsize=200_000)
def normalized_tokens(latex: str) -> tuple[str, ...]:
    return tuple(tokenize(normalize(latex)))


def edit_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    if not a and not b:
        return 1.0
    return 1.0 - Levenshtein.distance(list(a), list(b)) / max(len(a), len(b))


def _as_difference(expr: Any) -> Any:
    """``lhs - rhs`` for an equation, the expression itself otherwise; None for other relations."""
    import sympy

    if isinstance(expr, sympy.Equality):
        return expr.lhs - expr.rhs
    if isinstance(expr, sympy.core.relational.Relational):
        return None
    return expr


def _is_statement(expr: Any) -> bool:
    """A relation (equation, inequality) or a truth value, as opposed to an expression with a value."""
    import sympy

    return isinstance(expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom))


def _unevaluated_operators() -> tuple[type, ...]:
    import sympy

    return (sympy.Integral, sympy.Sum, sympy.Product, sympy.Limit, sympy.Derivative)


def _opaque_operators(exprs: Sequence[Any]) -> list[Any]:
    """``exprs`` with each unevaluated integral/sum/product/limit replaced by an opaque
    function of its free symbols, the same one for structurally equal operators.

    Why: evaluating them (``doit``, numeric quadrature, ``simplify``) is unbounded and on
    research formulas mostly runs to the time limit. Compared as written, operators that
    are equal up to sympy's canonical form (``\\sum_i (a_i+b_i)`` vs ``\\sum_i (b_i+a_i)``)
    still match and everything around them is compared as usual; identities *between*
    operators (``\\sum_{i=1}^n i = n(n+1)/2``) are not proven (docs/evaluation.md).
    """
    import sympy

    kinds = _unevaluated_operators()
    found: dict[Any, Any] = {}
    for expr in exprs:
        for op in sorted(expr.atoms(*kinds), key=sympy.default_sort_key):
            if op not in found:
                args = sorted(op.free_symbols, key=sympy.default_sort_key)
                found[op] = sympy.Function(f"operator{len(found)}")(*args)
    if not found:
        return list(exprs)
    return [expr.xreplace(found) for expr in exprs]


def _concrete_functions(expr: Any) -> Any:
    """``expr`` with every undefined function ``f(x, y)`` replaced by one fixed smooth function per name.

    Why it is sound for a *difference* check: an identity that holds for every ``f`` (all
    ``simplify`` can prove about an undefined ``f``) holds for this one, so a pair that
    differs numerically under it is not equal.
    """
    import sympy
    from sympy.core.function import AppliedUndef

    calls = expr.atoms(AppliedUndef)
    if not calls:
        return expr
    mapping = {}
    for call in calls:
        seed = sum(ord(c) * (i + 1) for i, c in enumerate(call.func.__name__)) % 997
        rng = random.Random(seed)
        inner = sum(sympy.Float(rng.uniform(0.5, 1.5)) * arg for arg in call.args)
        mapping[call] = sympy.sin(inner + sympy.Float(rng.uniform(0.1, 1.0))) + sympy.Float(rng.uniform(1.0, 2.0))
    return expr.xreplace(mapping)


def _numeric_values(expr: Any, points: list[dict[Any, Any]], budget: float) -> list[complex] | None:
    """``expr`` evaluated at each point (exact substitution, adaptive precision), or None when it cannot
    be, within ``budget`` seconds (non-numeric results)."""
    expr = _concrete_functions(expr)
    values = []
    try:
        with time_limit(budget, cpu=True):
            for subs in points:
                values.append(complex(expr.evalf(subs=subs)))
    except (CASTimeout, TypeError, ValueError, ZeroDivisionError, AttributeError, OverflowError, RecursionError):
        return None
    if not all(cmath.isfinite(v) for v in values):
        return None
    return values


def _points(exprs: Sequence[Any], rng: random.Random, n: int = NUMERIC_POINTS) -> list[dict[Any, Any]]:
    import sympy

    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    return [{s: sympy.Float(rng.uniform(0.3, 1.7)) for s in symbols} for _ in range(n)]


def _clearly_different(x: complex, y: complex) -> bool:
    return abs(x - y) > NUMERIC_TOLERANCE * (1 + abs(x) + abs(y))


def _numerically_zero(expr: Any, rng: random.Random, budget: float = NUMERIC_BUDGET) -> bool | None:
    """True/False from evaluation at random points; None when it cannot be evaluated."""
    values = _numeric_values(expr, _points([expr], rng), budget)
    if values is None:
        return None
    return not any(_clearly_different(v, 0) for v in values)


def _numerically_constant(expr: Any, rng: random.Random, budget: float = NUMERIC_BUDGET) -> bool | None:
    """Is ``expr`` (a ratio lhs/rhs) the same number at random points? None when it cannot be evaluated."""
    values = _numeric_values(expr, _points([expr], rng), budget)
    if values is None:
        return None
    return not any(_clearly_different(v, values[0]) for v in values[1:])


def symbolically_equal(pred: Any, ref: Any, timeout: float = SYMPY_TIMEOUT) -> bool:
    """Are two sympy objects the same mathematics? Bounded by ``timeout`` CPU seconds
    (load-independent, so the metric does not depend on how busy the machine is; a
    wall-clock 10x is the hard stop).

    Cheapest evidence first: sympy's canonical form (``a+b`` and ``b+a`` are one object;
    ``x = y`` and ``y = x`` differ only in sign), then numbers: both sides are evaluated
    at a few random points (undefined functions given concrete values, see
    :func:`_concrete_functions`) and a clear difference settles "not equal"; ``simplify``
    runs only on pairs that agree numerically or cannot be evaluated. Integrals, sums,
    products and limits are compared as written (:func:`_opaque_operators`). Chains of
    relations (``Tuple``) are equal when their links are, in order. An equation or inequality
    is never equal to an expression (``lhs - rhs`` is compared only between two equations).
    """
    import sympy

    if isinstance(pred, sympy.Tuple) or isinstance(ref, sympy.Tuple):
        return (isinstance(pred, sympy.Tuple) and isinstance(ref, sympy.Tuple) and len(pred) == len(ref)
                and all(symbolically_equal(p, r, timeout) for p, r in zip(pred, ref)))
    if _is_statement(pred) != _is_statement(ref):
        return False  # x - 2 is not x = 2, f(x) is not f(x) = 0: an expression is never an equation
    if pred == ref:
        return True
    try:  # lhs - rhs is undefined for sets, matrices and the like: compare those as objects
        a, b = _as_difference(pred), _as_difference(ref)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        a = b = None
    if a is None or b is None:
        return False  # relations other than equations, unequal as objects
    both_equations = isinstance(pred, sympy.Equality) and isinstance(ref, sympy.Equality)
    rng = random.Random(0)
    try:
        with time_limit(10 * timeout), time_limit(timeout, cpu=True):
            a, b = _opaque_operators([a, b])
            diff = a - b
            if diff == 0 or (both_equations and a + b == 0):
                return True
            if _numerically_zero(diff, rng) is not False and sympy.simplify(diff) == 0:
                return True
            if both_equations and b != 0:
                # x = y, y = x and 2x = 2y are one equation: lhs - rhs agree up to a nonzero constant.
                quotient = a / b
                if _numerically_constant(quotient, rng) is False:
                    return False
                ratio = sympy.simplify(quotient)
                return bool(ratio.is_number and ratio != 0)
    except (CASTimeout, RecursionError, TypeError, ValueError, AttributeError, NotImplementedError):
        return False
    return False


_CONVERSIONS: dict[tuple[str, ...], Any] = {}  # sympy tokens -> tokens_to_sympy result (None included)
_MAX_CONVERSIONS = 50_000


def converted(latex: str) -> Any | None:
    """Cached :func:`~formulaforge.formula.to_sympy`, keyed by the normalized tokens it reads,
    so spelling variants share one conversion."""
    key = reading_tokens(normalized_tokens(latex))
    if key not in _CONVERSIONS:
        if len(_CONVERSIONS) >= _MAX_CONVERSIONS:
            _CONVERSIONS.clear()
        _CONVERSIONS[key] = tokens_to_sympy(key, SYMPY_TIMEOUT, cpu=True)
    return _CONVERSIONS[key]


def clear_caches() -> None:
    """Forget cached tokenizations and conversions (benchmarks; memory after a big eval)."""
    normalized_tokens.cache_clear()
    _CONVERSIONS.clear()


def pair_equivalence(pair: tuple[str, str]) -> tuple[bool, bool]:
    """(both converted, equivalent) for one (prediction, reference) pair not equal after normalization."""
    pred, ref = pair
    ps = converted(pred)
    rs = converted(ref) if ps is not None else None
    if ps is None or rs is None:
        return False, False
    return True, symbolically_equal(ps, rs)


def equivalence_verdict(prediction: str, reference: str) -> str:
    """``"equivalent"``, ``"different"`` or ``"unread"`` (a side the reader refuses) for one pair,
    decided exactly as :func:`formula_metrics` counts it (the equivalence table's test and bench use it)."""
    if normalized_tokens(prediction) == normalized_tokens(reference):
        return "equivalent"
    read, equal = pair_equivalence((prediction, reference))
    if not read:
        return "unread"
    return "equivalent" if equal else "different"


def _equivalences(pairs: list[tuple[str, str]], workers: int) -> list[tuple[bool, bool]]:
    if workers <= 1 or len(pairs) < 2 * workers:
        return [pair_equivalence(p) for p in pairs]
    # Pairs sharing a reference go to the same worker (its cache converts it once); chunks
    # are small so one slow sympy call does not leave the other core idle.
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][1])
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        results = pool.map(pair_equivalence, [pairs[i] for i in order], chunksize=8)
    out: list[tuple[bool, bool]] = [(False, False)] * len(pairs)
    for i, r in zip(order, results):
        out[i] = r
    return out


def plain_sym_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``sym_equiv`` / ``sym_converted`` by their definition: every pair, both sides converted,
    no pre-filter, cache or pool. Slow; :func:`formula_metrics` must give the same values (the
    tests check it) and the benchmark times this as its baseline."""
    converted_n = equal = 0
    for p, r in zip(predictions, references, strict=True):
        if not p.strip():
            continue
        if normalized_tokens(p) == normalized_tokens(r):
            converted_n, equal = converted_n + 1, equal + 1
            continue
        ps, rs = to_sympy(p), to_sympy(r)
        if ps is None or rs is None:
            continue
        converted_n += 1
        equal += symbolically_equal(ps, rs)
    return {"sym_equiv": equal / converted_n if converted_n else float("nan"),
            "sym_converted": converted_n / len(references)}


def formula_metrics(predictions: Sequence[str], references: Sequence[str], *, workers: int = 1) -> dict[str, float]:
    """All formula-aware metrics for one run; ``workers`` processes for the sympy part."""
    if len(predictions) != len(references) or not references:
        raise ValueError("formula_metrics needs equally many predictions and references (at least one)")
    pred_tokens = [normalized_tokens(p) for p in predictions]
    ref_tokens = [normalized_tokens(r) for r in references]
    exact = [p == r for p, r in zip(pred_tokens, ref_tokens)]
    converted_n = equal = 0
    todo: dict[tuple[str, str], int] = {}  # distinct pair -> how many times it occurs
    for p, r, same in zip(predictions, references, exact):
        if not p.strip():
            continue
        if same:  # identical after normalization: equivalent without asking sympy
            converted_n, equal = converted_n + 1, equal + 1
            continue
        todo[(p, r)] = todo.get((p, r), 0) + 1
    pairs = list(todo)
    for pair, (ok, eq) in zip(pairs, _equivalences(pairs, workers)):
        converted_n += ok * todo[pair]
        equal += eq * todo[pair]
    n = len(references)
    return {
        "norm_bleu": bleu([" ".join(t) for t in pred_tokens], [" ".join(t) for t in ref_tokens]),
        "norm_edit_sim": sum(edit_similarity(p, r) for p, r in zip(pred_tokens, ref_tokens)) / n,
        "norm_exact": sum(exact) / n,
        "sym_equiv": equal / converted_n if converted_n else float("nan"),
        "sym_converted": converted_n / n,
    }
