"""Numeric agreement of two expressions at random points: the validity check that does
not trust sympy's own simplification (used by the generators and the answer checker).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import sympy


def sample_points(rng: random.Random, n: int, lo: float = 0.15, hi: float = 2.9) -> list[sympy.Rational]:
    """Random rational points in a positive range (keeps log/sqrt real for most expressions)."""
    return [sympy.Rational(rng.randint(int(lo * 1000), int(hi * 1000)), 1000) for _ in range(n)]


def _value(expr: sympy.Expr, subs: dict, prec: int) -> complex | None:
    try:
        v = sympy.N(expr.subs(subs), prec)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, ArithmeticError):
        return None
    if not v.is_number or v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return None
    try:
        c = complex(v)
    except (TypeError, ValueError, OverflowError):
        return None
    if c != c or abs(c) == float("inf"):
        return None
    return c


def agree_numerically(
    a: sympy.Expr,
    b: sympy.Expr | Callable[[dict], complex | None],
    symbols: list[sympy.Symbol],
    rng: random.Random,
    *,
    points: int = 6,
    need: int = 3,
    rel_tol: float = 1e-8,
    prec: int = 30,
) -> bool | None:
    """True if ``a`` and ``b`` agree at every point where both are finite (``need`` of them);
    False on any disagreement; None when too few points were evaluable to judge.

    ``b`` may be a callable (e.g. a finite-difference derivative) taking the substitution.
    """
    good = 0
    for _ in range(points * 3):
        subs = {s: p for s, p in zip(symbols, sample_points(rng, len(symbols)))}
        va = _value(a, subs, prec)
        vb = b(subs) if callable(b) and not isinstance(b, sympy.Basic) else _value(b, subs, prec)
        if va is None or vb is None:
            continue
        scale = max(1.0, abs(va), abs(vb))
        if abs(va - vb) > rel_tol * scale:
            return False
        good += 1
        if good >= points:
            break
    return True if good >= need else None
