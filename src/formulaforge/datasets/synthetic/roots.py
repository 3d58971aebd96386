"""Square roots: of integers (answer as an exact surd ``a*sqrt(b)``) and of expressions
(answer simplified under a stated positivity assumption), each with a numeric form.

The exact answer is built from its parts (``a*sqrt(m)`` from a chosen square factor and
square-free part), then checked two independent ways: squaring it gives the radicand
back, and its float agrees with ``math.sqrt``-style evaluation of the radicand.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import sympy

from formulaforge.datasets.synthetic.records import SynthRecord, expr_forms, tree_size
from formulaforge.utils.timeout import CASTimeout, time_limit

X_POS = sympy.Symbol("x", positive=True)


@dataclass(frozen=True)
class RootsConfig:
    max_square_factor: int = 30
    max_squarefree: int = 30
    expression_share: float = 0.4
    """Share of problems that take the root of an expression in x instead of an integer."""
    numeric_digits: int = 10
    timeout_s: float = 2.0


def _squarefree(rng: random.Random, hi: int) -> int:
    while True:
        m = rng.randint(1, hi)
        if all(m % (p * p) for p in range(2, int(m**0.5) + 1)):
            return m


def integer_root(rng: random.Random, config: RootsConfig) -> SynthRecord:
    a = rng.randint(1, config.max_square_factor)
    m = _squarefree(rng, config.max_squarefree)
    n = a * a * m
    answer = sympy.Integer(a) * sympy.sqrt(m)
    if sympy.sqrt(sympy.Integer(n)) != answer or answer**2 != n:
        raise AssertionError(f"sqrt({n}) != {answer}")
    numeric = sympy.N(answer, config.numeric_digits)
    problem_expr = sympy.sqrt(sympy.Integer(n), evaluate=False)
    plain, latex, srepr = expr_forms(answer)
    return SynthRecord(
        task="roots",
        problem=f"Simplify sqrt({n}).",
        problem_latex=rf"\sqrt{{{n}}}",
        problem_srepr=sympy.srepr(problem_expr),
        answer=plain,
        answer_latex=latex,
        answer_srepr=srepr,
        difficulty=len(str(n)),
        verifier="sympy_equal",
        variable="",
        method="integer",
        extra={"radicand": n, "numeric": str(numeric), "perfect_square": m == 1},
    )


def expression_root(rng: random.Random, config: RootsConfig) -> SynthRecord:
    """sqrt(c^2 * m * x^(2k+r) * p(x)^2) with positive x: answer c*x^k*p(x)*sqrt(m*x^r)."""
    x = X_POS
    c = rng.randint(1, 6)
    m = _squarefree(rng, 7)
    k = rng.randint(0, 2)
    r = rng.randint(0, 1)
    degree = rng.randint(1, 2)
    p = sympy.Integer(rng.randint(0, 5)) + sum(rng.randint(1, 4) * x**i for i in range(1, degree + 1))
    # (runs under the caller's time_limit: see generate)
    radicand = sympy.expand(c * c * m * x ** (2 * k + r) * p**2)
    answer = sympy.factor(c * x**k * p) * sympy.sqrt(m * x**r)
    if sympy.expand(answer**2 - radicand) != 0:
        raise AssertionError("root of expression does not square back")
    for point in (sympy.Rational(1, 3), sympy.Integer(2), sympy.Rational(7, 2)):
        lhs = sympy.sqrt(radicand.subs(x, point)).evalf(30)
        if abs(lhs - answer.subs(x, point).evalf(30)) > 1e-20:
            raise AssertionError("root of expression fails numerically")
    plain_x = sympy.Symbol("x")
    shown_radicand = radicand.subs(x, plain_x)
    shown_answer = answer.subs(x, plain_x)
    plain, latex, srepr = expr_forms(shown_answer)
    return SynthRecord(
        task="roots",
        problem=f"Simplify sqrt({sympy.sstr(shown_radicand)}) for x > 0.",
        problem_latex=rf"\sqrt{{{sympy.latex(shown_radicand)}}} \quad (x > 0)",
        problem_srepr=sympy.srepr(shown_radicand),
        answer=plain,
        answer_latex=latex,
        answer_srepr=srepr,
        difficulty=tree_size(shown_radicand),
        verifier="sympy_equal",
        variable="x",
        method="expression",
        extra={"assumptions": "x > 0"},
    )


def generate(n: int, rng: random.Random, config: RootsConfig = RootsConfig()) -> Iterator[SynthRecord]:
    made = timeouts = 0
    while made < n:
        make = expression_root if rng.random() < config.expression_share else integer_root
        try:
            with time_limit(config.timeout_s):  # every sympy call bounded (never yield inside the timer)
                rec = make(rng, config)
        except CASTimeout:
            timeouts += 1
            if timeouts > 100 + n:
                raise RuntimeError(f"roots: {timeouts} samples timed out; raise timeout_s") from None
            continue
        made += 1
        yield rec
