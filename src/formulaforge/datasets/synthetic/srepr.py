"""Parse a sympy ``srepr`` string back into an expression without ``eval``.

``sympy.parse_expr`` and ``sympify`` call ``eval`` on their input, so a records file
handed to us by someone else could run code. ``srepr`` output is a tiny language: calls
of sympy class names with literal arguments and keyword flags, so we walk its Python AST
and allow exactly that.
"""

from __future__ import annotations

import ast
from typing import Any

import sympy

_MAX_LEN = 200_000
_MAX_DEPTH = 400

# Classes that srepr emits for the expressions our generators build; everything else is refused.
_ALLOWED = {
    name: getattr(sympy, name)
    for name in (
        "Symbol Dummy Integer Rational Float Add Mul Pow Eq Equality Derivative Integral Function Tuple "
        "exp log sin cos tan cot sec csc asin acos atan sinh cosh tanh asinh acosh atanh sqrt Abs "
        "Half One Zero NegativeOne Pi E I ImaginaryUnit Exp1 Infinity NegativeInfinity ComplexInfinity "
        "NaN Lambda Subs "
        # structured answers (tuples above; sets, intervals, inequalities, matrices)
        "FiniteSet Interval Union EmptySet ImmutableDenseMatrix LessThan StrictLessThan GreaterThan "
        "StrictGreaterThan Unequality And"
    ).split()
    if hasattr(sympy, name)
}
_ALLOWED.update({"pi": sympy.pi, "oo": sympy.oo, "zoo": sympy.zoo, "nan": sympy.nan, "true": sympy.true,
                 "false": sympy.false})
_SINGLETONS = {"Half", "One", "Zero", "NegativeOne", "Pi", "ImaginaryUnit", "Exp1", "Infinity",
               "NegativeInfinity", "ComplexInfinity", "NaN", "E", "I"}


def parse_srepr(text: str) -> Any:
    """Rebuild the sympy object ``text`` describes; ``ValueError`` for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty srepr")
    if len(text) > _MAX_LEN:
        raise ValueError("srepr too long")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an srepr string: {exc.msg}") from None
    return _build(tree.body, 0)


def _build(node: ast.AST, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError("srepr nested too deeply")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _build(node.operand, depth + 1)
        if not isinstance(value, (int, float)) and value not in (sympy.oo, sympy.zoo):
            raise ValueError("unary minus on a non-number")
        return -value
    if isinstance(node, ast.Tuple):
        return tuple(_build(e, depth + 1) for e in node.elts)
    if isinstance(node, ast.List):  # matrix rows
        return [_build(e, depth + 1) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id in _SINGLETONS:
            return getattr(sympy.S, node.id, None) or _ALLOWED[node.id]
        if node.id in _ALLOWED:
            return _ALLOWED[node.id]
        raise ValueError(f"name {node.id!r} not allowed in srepr")
    if isinstance(node, ast.Call):
        # Function('f') yields an undefined function class that is itself called: Function('f')(x).
        if isinstance(node.func, ast.Call):
            fn = _build(node.func, depth + 1)
            if not (isinstance(fn, type) and issubclass(fn, sympy.core.function.AppliedUndef)):
                raise ValueError("only undefined functions may be applied")
        elif isinstance(node.func, ast.Name) and node.func.id in _ALLOWED:
            fn = _ALLOWED[node.func.id]
        else:
            raise ValueError(f"call of {ast.dump(node.func)[:60]} not allowed in srepr")
        args = [_build(a, depth + 1) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ValueError("** not allowed in srepr")
            kwargs[kw.arg] = _build(kw.value, depth + 1)
        too_big = any(isinstance(a, int) and abs(a) > 10**4000 for a in args)
        if fn in (sympy.Integer, sympy.Rational) and too_big:
            raise ValueError("integer literal too large")
        return fn(*args, **kwargs)
    raise ValueError(f"{type(node).__name__} not allowed in srepr")
