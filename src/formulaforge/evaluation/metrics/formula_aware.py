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

Speed (values unchanged; see :func:`symbolically_equal` for its time limits): latex2sympy's ANTLR parser costs 10-100 ms per
formula in pure Python, so it runs as little as possible. Pairs equal after normalization
are equivalent without it. A pair counts only when both sides convert, so a pair where
either side surely fails is settled before any parse: not sympy-ready, a latex2sympy
lexer error, or a token pair its grammar cannot produce
(:mod:`formulaforge.formula.sympy_prefilter`, exact; on real research formulas the pair
check rejects 63 % of what the lexer accepts). Conversions are cached per
:func:`~formulaforge.formula.to_sympy.sympy_ready` text (all
:func:`~formulaforge.formula.to_sympy` reads), so a label is parsed once for all runs;
the reference is converted first and the prediction only when the reference converted;
distinct pairs are checked once; :func:`symbolically_equal` evaluates numerically before
it simplifies; and ``workers > 1`` spreads the remaining pairs over a process pool (each
worker has its own time limits). ``tests/test_eval_formula_aware.py`` checks
pooled == serial == the plain computation.
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
from formulaforge.formula.sympy_prefilter import lexes, may_convert  # noqa: F401 - lexes: re-exported (its old home)
from formulaforge.formula.to_sympy import sympy_ready
from formulaforge.utils.timeout import CASTimeout, time_limit

SYMPY_TIMEOUT = 2.0  # CPU seconds per conversion and per pair (a wall-clock 10x is the hard stop)
OPERATOR_TIMEOUT = 0.5  # CPU s for simplify on unevaluated integrals/sums/limits (see symbolically_equal)
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


def _unevaluated_operators() -> tuple[type, ...]:
    import sympy

    return (sympy.Integral, sympy.Sum, sympy.Product, sympy.Limit, sympy.Derivative)


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
    be, within ``budget`` seconds: unevaluated integrals/sums/limits, or non-numeric results."""
    if expr.has(*_unevaluated_operators()):
        return None  # evalf would integrate/sum numerically: slow and unbounded
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

    Numbers first, algebra second: both sides are evaluated at a few random points
    (undefined functions given concrete values, see :func:`_concrete_functions`); a clear
    numeric difference settles "not equal" and ``sympy.simplify`` runs only on pairs that
    agree numerically or cannot be evaluated. ``simplify`` on expressions holding
    unevaluated integrals, sums, products, limits or derivatives gets at most
    :data:`OPERATOR_TIMEOUT` seconds: on real formulas it either answers in
    milliseconds or runs to any limit (docs/evaluation.md).
    """
    import sympy

    try:  # lhs - rhs is undefined for sets, matrices and the like: compare those as objects
        a, b = _as_difference(pred), _as_difference(ref)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        a = b = None
    if a is None or b is None:
        return bool(pred == ref)
    both_equations = isinstance(pred, sympy.Equality) and isinstance(ref, sympy.Equality)
    rng = random.Random(0)
    try:
        with time_limit(10 * timeout), time_limit(timeout, cpu=True):
            diff = a - b
            limit = OPERATOR_TIMEOUT if diff.has(*_unevaluated_operators()) else timeout
            if _numerically_zero(diff, rng) is not False:
                with time_limit(limit, cpu=True):
                    if sympy.simplify(diff) == 0:
                        return True
            if both_equations and b != 0:
                # x = y, y = x and 2x = 2y are one equation: lhs - rhs agree up to a nonzero constant.
                quotient = a / b
                if _numerically_constant(quotient, rng) is False:
                    return False
                with time_limit(limit, cpu=True):
                    ratio = sympy.simplify(quotient)
                return bool(ratio.is_number and ratio != 0)
    except (CASTimeout, RecursionError, TypeError, ValueError, AttributeError, NotImplementedError):
        return False
    return False


_CONVERSIONS: dict[str, Any] = {}  # sympy-ready text -> to_sympy result (None included)
_MAX_CONVERSIONS = 50_000


@lru_cache(maxsize=200_000)
def may_convert_text(latex: str) -> bool:
    """``False`` when ``to_sympy(latex)`` is surely ``None``, decided without latex2sympy's parser
    (not sympy-ready, lexer error or an impossible token pair: :mod:`formulaforge.formula.sympy_prefilter`)."""
    ready = sympy_ready(latex)
    return ready is not None and may_convert(ready)


def converted(latex: str) -> Any | None:
    """Cached :func:`to_sympy`, keyed by the sympy-ready text (all ``to_sympy`` reads), so
    spelling variants share one conversion."""
    if not may_convert_text(latex):
        return None
    ready = sympy_ready(latex)
    if ready not in _CONVERSIONS:
        if len(_CONVERSIONS) >= _MAX_CONVERSIONS:
            _CONVERSIONS.clear()
        _CONVERSIONS[ready] = to_sympy(latex, SYMPY_TIMEOUT, cpu=True)
    return _CONVERSIONS[ready]


def _is_cached(latex: str) -> bool:
    return sympy_ready(latex) in _CONVERSIONS


def clear_caches() -> None:
    """Forget cached tokenizations and conversions (benchmarks; memory after a big eval)."""
    normalized_tokens.cache_clear()
    may_convert_text.cache_clear()
    _CONVERSIONS.clear()


def pair_equivalence(pair: tuple[str, str]) -> tuple[bool, bool]:
    """(both converted, equivalent) for one (prediction, reference) pair not equal after normalization."""
    pred, ref = pair
    if not (may_convert_text(ref) and may_convert_text(pred)):
        return False, False  # one side surely fails: no parser run for the other either
    # The side that fails settles the pair, so convert the cheap side first: a reference
    # already converted (labels repeat across runs) costs nothing; otherwise the prediction,
    # which fails more often than its reference (a model's edit breaks the syntax).
    if _is_cached(ref):
        rs = converted(ref)
        ps = converted(pred) if rs is not None else None
    else:
        ps = converted(pred)
        rs = converted(ref) if ps is not None else None
    if ps is None or rs is None:
        return False, False
    return True, symbolically_equal(ps, rs)


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
