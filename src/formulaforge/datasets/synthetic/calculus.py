"""Derivatives and integrals of random expressions (Lample & Charton style).

* derivatives: sample ``f``, answer ``f'``; the answer is checked against a central
  finite difference of ``f`` at random points (not against sympy itself).
* integrals, three ways of making (problem, answer) pairs:
  - ``forward``: sample ``f``, integrate it with sympy; results containing an unevaluated
    ``Integral`` or a non-elementary function (erf, Ei, Si, li, gamma, hypergeometric,
    Piecewise...) are rejected;
  - ``backward``: sample ``F``, the problem is ``F'`` and the answer ``F`` (cheap, and
    covers integrals sympy itself would fail at);
  - ``ibp`` (integration by parts): sample ``F``, ``G``; if ``∫ F' G`` is integrable,
    then ``∫ F G' = F G - ∫ F' G``.
  Every antiderivative is validated by differentiating it and comparing with the
  integrand at random numeric points.

Every sympy call runs under :func:`formulaforge.utils.timeout.time_limit`; a sample that
times out is rejected and counted, never waited on.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import mpmath
import sympy

from formulaforge.datasets.synthetic.numeric import agree_numerically
from formulaforge.datasets.synthetic.records import SynthRecord, expr_forms, tree_size
from formulaforge.datasets.synthetic.trees import TreeConfig, X, random_expression
from formulaforge.utils.timeout import CASTimeout, time_limit

ELEMENTARY = (
    sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.cot, sympy.sec, sympy.csc,
    sympy.asin, sympy.acos, sympy.atan, sympy.acot, sympy.sinh, sympy.cosh, sympy.tanh,
    sympy.asinh, sympy.acosh, sympy.atanh, sympy.Abs,
)


@dataclass(frozen=True)
class CalculusConfig:
    tree: TreeConfig = field(default_factory=TreeConfig)
    timeout_s: float = 2.0
    """Hard limit for each sympy call on one sample."""
    max_answer_size: int = 120
    """Reject answers whose sympy tree is larger (unreadable, useless for small models)."""
    methods: tuple[str, ...] = ("forward", "backward", "ibp")
    method_weights: tuple[float, ...] = (1.0, 2.0, 0.5)
    max_tries: int = 200
    """Attempts per accepted problem before giving up (guards against impossible configs)."""
    simplify: str = "fast"
    """How answers are tidied: none | fast | full (see :func:`_tidy`)."""


class Rejected(Exception):
    """A sampled expression is unusable; the reason is counted in the generation stats."""


def is_elementary(expr: sympy.Basic) -> bool:
    """Only +, *, ^, numbers, x and the functions in :data:`ELEMENTARY`; no Integral/Piecewise."""
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Integral, sympy.Piecewise, sympy.Derivative)):
            return False
        if isinstance(node, sympy.Function) and not isinstance(node, ELEMENTARY):
            return False
    return True


def _usable(expr: sympy.Expr, max_size: int) -> None:
    if not expr.has(X):
        raise Rejected("constant")
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, sympy.I):
        raise Rejected("infinite_or_complex")
    if tree_size(expr) > max_size:
        raise Rejected("too_large")


def _tidy(expr: sympy.Expr, mode: str = "fast") -> sympy.Expr:
    """A readable normal form, by cost: ``none``; ``fast`` (default) keeps the shortest of
    the raw form, ``factor_terms`` and ``cancel``; ``full`` runs ``sympy.simplify`` (about
    4x slower generation, shorter answers)."""
    if mode == "none":
        return expr
    if mode == "full":
        try:
            options = [expr, sympy.simplify(expr, ratio=1.0)]
        except (CASTimeout, RecursionError):
            raise
        except Exception:  # noqa: BLE001 - simplify has many failure modes; keep the raw form
            options = [expr]
    elif mode == "fast":
        options = [expr]
        for fn in (sympy.factor_terms, sympy.cancel):
            try:
                options.append(fn(expr))
            except (CASTimeout, RecursionError):
                raise
            except Exception:  # noqa: BLE001
                continue
    else:
        raise ValueError(f"unknown simplify mode {mode!r}; use none, fast or full")
    return min(options, key=sympy.count_ops)


def _finite_difference(f: sympy.Expr):
    fn = sympy.lambdify(X, f, modules="mpmath")

    def deriv(subs: dict) -> complex | None:
        try:
            with mpmath.workdps(40):
                v = mpmath.diff(fn, mpmath.mpf(subs[X]))
            c = complex(v)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError, ArithmeticError):
            return None
        return None if c != c or abs(c) == float("inf") else c

    return deriv


def check_antiderivative(F: sympy.Expr, f: sympy.Expr, rng: random.Random) -> bool:
    """d/dx F equals f at random points (None -- too few evaluable points -- counts as False)."""
    return agree_numerically(sympy.diff(F, X), f, [X], rng, rel_tol=1e-7) is True


def derivative_problem(rng: random.Random, config: CalculusConfig) -> SynthRecord:
    f, n_ops = random_expression(rng, config.tree)
    _usable(f, config.max_answer_size)
    d = _tidy(sympy.diff(f, X), config.simplify)
    _usable(d, config.max_answer_size)
    if agree_numerically(d, _finite_difference(f), [X], rng, rel_tol=1e-6) is not True:
        raise Rejected("numeric_check_failed")
    p_plain, p_latex, p_srepr = expr_forms(f)
    a_plain, a_latex, a_srepr = expr_forms(d)
    return SynthRecord(
        task="derivatives",
        problem=f"Differentiate f(x) = {p_plain} with respect to x.",
        problem_latex=rf"\frac{{d}}{{dx}}\left({p_latex}\right)",
        problem_srepr=p_srepr,
        answer=a_plain,
        answer_latex=a_latex,
        answer_srepr=a_srepr,
        difficulty=tree_size(f),
        verifier="derivative",
        method="forward",
        extra={"operators": n_ops},
    )


def _integral_record(f: sympy.Expr, F: sympy.Expr, method: str, n_ops: int) -> SynthRecord:
    p_plain, p_latex, p_srepr = expr_forms(f)
    a_plain, a_latex, a_srepr = expr_forms(F)
    return SynthRecord(
        task="integrals",
        problem=f"Find an antiderivative of f(x) = {p_plain} with respect to x.",
        # A sum needs brackets: "\int x + 1 \, dx" reads as (\int x dx) + 1.
        problem_latex=(rf"\int \left({p_latex}\right) dx" if isinstance(f, sympy.Add)
                       else rf"\int {p_latex} \, dx"),
        problem_srepr=p_srepr,
        answer=a_plain,
        answer_latex=a_latex,
        answer_srepr=a_srepr,
        difficulty=tree_size(f),
        verifier="antiderivative",
        method=method,
        extra={"operators": n_ops},
    )


def integral_problem(rng: random.Random, config: CalculusConfig, method: str) -> SynthRecord:
    if method == "forward":
        f, n_ops = random_expression(rng, config.tree)
        _usable(f, config.max_answer_size)
        F = sympy.integrate(f, X, risch=False)
        if not is_elementary(F):
            raise Rejected("non_elementary")
    elif method == "backward":
        F, n_ops = random_expression(rng, config.tree)
        _usable(F, config.max_answer_size)
        f = _tidy(sympy.diff(F, X), config.simplify)
        _usable(f, config.max_answer_size)
    elif method == "ibp":
        small = TreeConfig(**{**config.tree.__dict__, "max_ops": max(1, config.tree.max_ops // 2),
                              "min_ops": 1})
        Fp, n1 = random_expression(rng, small)
        G, n2 = random_expression(rng, small)
        n_ops = n1 + n2
        _usable(Fp, config.max_answer_size)
        _usable(G, config.max_answer_size)
        dF, g = sympy.diff(Fp, X), sympy.diff(G, X)
        rest = sympy.integrate(dF * G, X, risch=False)
        if not is_elementary(rest):
            raise Rejected("non_elementary")
        f = Fp * g
        F = Fp * G - rest
    else:
        raise ValueError(f"unknown integration method {method!r}")
    F = _tidy(F, config.simplify)
    _usable(f, config.max_answer_size)
    _usable(F, config.max_answer_size)
    if not check_antiderivative(F, f, rng):
        raise Rejected("numeric_check_failed")
    return _integral_record(f, F, method, n_ops)


SYMPY_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, ZeroDivisionError, RecursionError,
                                             NotImplementedError, AttributeError)
"""What sympy raises on an unlucky random expression: the draw is rejected and counted, not fatal."""


def draw_until(make: Callable[[], list[SynthRecord]], n: int, *, max_tries: int, timeout_s: float,
               stats: Counter, errors: tuple[type[Exception], ...] = SYMPY_ERRORS) -> Iterator[SynthRecord]:
    """Call ``make`` (under ``time_limit``) until ``n`` records are out; rejections, timeouts and
    ``errors`` are counted in ``stats`` by reason. A draw may yield several records (a family),
    so the count may overshoot by a few."""
    made = tries = 0
    while made < n:
        tries += 1
        if tries > max_tries * max(n, 1):
            raise RuntimeError(f"gave up: {tries} attempts for {made} problems ({dict(stats)})")
        try:
            with time_limit(timeout_s):
                records = make()
        except Rejected as exc:
            stats[f"rejected_{exc}"] += 1
            continue
        except CASTimeout:
            stats["rejected_timeout"] += 1
            continue
        except errors as exc:
            stats[f"rejected_error_{type(exc).__name__}"] += 1
            continue
        stats["accepted"] += 1
        for rec in records:
            yield rec
            made += 1


def _attempts(make: Callable[[], SynthRecord], n: int, config: CalculusConfig, stats: Counter
              ) -> Iterator[SynthRecord]:
    errors = SYMPY_ERRORS + (sympy.PolynomialError, sympy.polys.polyerrors.PolificationFailed)
    yield from draw_until(lambda: [make()], n, max_tries=config.max_tries, timeout_s=config.timeout_s,
                          stats=stats, errors=errors)


def generate_derivatives(n: int, rng: random.Random, config: CalculusConfig = CalculusConfig(),
                         stats: Counter | None = None) -> Iterator[SynthRecord]:
    stats = Counter() if stats is None else stats
    yield from _attempts(lambda: derivative_problem(rng, config), n, config, stats)


def generate_integrals(n: int, rng: random.Random, config: CalculusConfig = CalculusConfig(),
                       stats: Counter | None = None) -> Iterator[SynthRecord]:
    stats = Counter() if stats is None else stats
    if len(config.methods) != len(config.method_weights):
        raise ValueError("methods and method_weights differ in length")

    def make() -> SynthRecord:
        method = rng.choices(config.methods, config.method_weights)[0]
        return integral_problem(rng, config, method)

    yield from _attempts(make, n, config, stats)
