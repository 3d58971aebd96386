"""What each operator computes, once per backend: NumPy, torch and sympy.

The protected operators are defined so that the numeric evaluator and the formula
string mean the same function:

* ``sqrt(x) = sqrt(|x|)``, ``log(x) = log(|x|)``, ``pow(x) = |x|^C``,
  ``cbrt(x) = sign(x) |x|^(1/3)`` (the real cube root), ``relu(x) = max(0, x)``.
* Division (``div``, ``inv``) is *safe*: it never raises or warns; a zero denominator
  gives an undefined point (non-finite numerically, ``zoo``/``nan`` in sympy) rather than
  a made-up large value such as ``a / 1e-8``, so the symbolic and numeric views agree
  everywhere. ``log(0)`` is likewise undefined.

Undefined (non-finite) values are allowed to occur; function images turn them into 0 and
the random generator rejects trees that are undefined almost everywhere.
Extending the vocabulary means registering an entry here with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

# children, constants -> value.  Constants are already broadcast to the children's shape.
Impl = Callable[[Sequence[Any], Sequence[Any]], Any]


@dataclass(frozen=True)
class Semantics:
    numpy: Impl
    sympy: Impl
    torch: Impl | None = None


def _np_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # IEEE division already is "safe" here: b = 0 gives +-inf or NaN (never an exception;
    # callers run under np.errstate(all="ignore")), i.e. an undefined point, like sympy's zoo.
    return a / b


def _np_log(x: np.ndarray) -> np.ndarray:
    return np.log(np.abs(x))  # -inf at 0: undefined, like sympy's log(0) = zoo


def _np_pow(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.power(np.abs(x), c)


_NUMPY: dict[str, Impl] = {
    "add": lambda ch, c: ch[0] + ch[1],
    "sub": lambda ch, c: ch[0] - ch[1],
    "mul": lambda ch, c: ch[0] * ch[1],
    "div": lambda ch, c: _np_div(ch[0], ch[1]),
    "sin": lambda ch, c: np.sin(ch[0]),
    "inv": lambda ch, c: _np_div(c[0], ch[0]),
    "tan": lambda ch, c: np.tan(ch[0]),
    "atan": lambda ch, c: np.arctan(ch[0]),
    "tanh": lambda ch, c: np.tanh(ch[0]),
    "const": lambda ch, c: c[0],
    "exp": lambda ch, c: np.exp(ch[0]),
    "log": lambda ch, c: _np_log(ch[0]),
    "linear": lambda ch, c: c[0] * ch[0] + c[1],
    "pow": lambda ch, c: _np_pow(ch[0], c[0]),
    "square": lambda ch, c: ch[0] * ch[0],
    "sqrt": lambda ch, c: np.sqrt(np.abs(ch[0])),
    "cbrt": lambda ch, c: np.cbrt(ch[0]),
    "abs": lambda ch, c: np.abs(ch[0]),
    "relu": lambda ch, c: np.maximum(ch[0], 0.0),
}


def _sp_cbrt(x: sp.Expr) -> sp.Expr:
    return sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)


_SYMPY: dict[str, Impl] = {
    "add": lambda ch, c: ch[0] + ch[1],
    "sub": lambda ch, c: ch[0] - ch[1],
    "mul": lambda ch, c: ch[0] * ch[1],
    "div": lambda ch, c: ch[0] / ch[1],
    "sin": lambda ch, c: sp.sin(ch[0]),
    "inv": lambda ch, c: c[0] / ch[0],
    "tan": lambda ch, c: sp.tan(ch[0]),
    "atan": lambda ch, c: sp.atan(ch[0]),
    "tanh": lambda ch, c: sp.tanh(ch[0]),
    "const": lambda ch, c: c[0],
    "exp": lambda ch, c: sp.exp(ch[0]),
    "log": lambda ch, c: sp.log(sp.Abs(ch[0])),
    "linear": lambda ch, c: c[0] * ch[0] + c[1],
    "pow": lambda ch, c: sp.Abs(ch[0]) ** c[0],
    "square": lambda ch, c: ch[0] ** 2,
    "sqrt": lambda ch, c: sp.sqrt(sp.Abs(ch[0])),
    "cbrt": lambda ch, c: _sp_cbrt(ch[0]),
    "abs": lambda ch, c: sp.Abs(ch[0]),
    "relu": lambda ch, c: sp.Max(0, ch[0]),
}


def _torch_impls() -> dict[str, Impl]:
    """Differentiable versions for constant fitting; undefined points are NaN without NaN gradients."""
    import torch

    def safe_div(a: Any, b: Any) -> Any:
        zero = b == 0
        return torch.where(zero, torch.full_like(b, float("nan")), a / torch.where(zero, torch.ones_like(b), b))

    def safe_log(x: Any) -> Any:
        ax = x.abs()
        zero = ax == 0
        return torch.where(zero, torch.full_like(ax, float("nan")), torch.log(torch.where(zero, torch.ones_like(ax), ax)))

    def safe_pow(x: Any, c: Any) -> Any:
        ax = x.abs()
        zero = ax == 0
        base = torch.where(zero, torch.ones_like(ax), ax)
        at_zero = torch.where(c > 0, torch.zeros_like(ax), torch.full_like(ax, float("nan")))
        return torch.where(zero, at_zero, base ** c)

    def safe_sqrt(x: Any) -> Any:
        ax = x.abs()
        zero = ax == 0
        return torch.where(zero, torch.zeros_like(ax), torch.sqrt(torch.where(zero, torch.ones_like(ax), ax)))

    def cbrt(x: Any) -> Any:
        ax = x.abs()
        zero = ax == 0
        return torch.where(zero, torch.zeros_like(x), torch.sign(x) * torch.where(zero, torch.ones_like(ax), ax) ** (1 / 3))

    return {
        "add": lambda ch, c: ch[0] + ch[1],
        "sub": lambda ch, c: ch[0] - ch[1],
        "mul": lambda ch, c: ch[0] * ch[1],
        "div": lambda ch, c: safe_div(ch[0], ch[1]),
        "sin": lambda ch, c: torch.sin(ch[0]),
        "inv": lambda ch, c: safe_div(c[0] * torch.ones_like(ch[0]), ch[0]),
        "tan": lambda ch, c: torch.tan(ch[0]),
        "atan": lambda ch, c: torch.atan(ch[0]),
        "tanh": lambda ch, c: torch.tanh(ch[0]),
        "const": lambda ch, c: c[0],
        "exp": lambda ch, c: torch.exp(ch[0]),
        "log": lambda ch, c: safe_log(ch[0]),
        "linear": lambda ch, c: c[0] * ch[0] + c[1],
        "pow": lambda ch, c: safe_pow(ch[0], c[0]),
        "square": lambda ch, c: ch[0] * ch[0],
        "sqrt": lambda ch, c: safe_sqrt(ch[0]),
        "cbrt": lambda ch, c: cbrt(ch[0]),
        "abs": lambda ch, c: ch[0].abs(),
        "relu": lambda ch, c: torch.clamp(ch[0], min=0.0),
    }


_REGISTRY: dict[str, Semantics] = {name: Semantics(_NUMPY[name], _SYMPY[name]) for name in _NUMPY}
_TORCH_CACHE: dict[str, Impl] = {}


def register(name: str, semantics: Semantics) -> None:
    """Give a new vocabulary entry its meaning (variables need no entry)."""
    _REGISTRY[name] = semantics
    if semantics.torch is not None:
        _TORCH_CACHE[name] = semantics.torch


def numpy_impl(name: str) -> Impl:
    try:
        return _REGISTRY[name].numpy
    except KeyError:
        raise KeyError(f"operator {name!r} has no numeric semantics registered") from None


def sympy_impl(name: str) -> Impl:
    try:
        return _REGISTRY[name].sympy
    except KeyError:
        raise KeyError(f"operator {name!r} has no symbolic semantics registered") from None


def torch_impl(name: str) -> Impl:
    if not _TORCH_CACHE:
        _TORCH_CACHE.update(_torch_impls())
        for key, sem in _REGISTRY.items():
            if sem.torch is not None:
                _TORCH_CACHE[key] = sem.torch
    try:
        return _TORCH_CACHE[name]
    except KeyError:
        raise KeyError(f"operator {name!r} has no torch semantics registered") from None


def variable_symbols(n: int) -> list[sp.Symbol]:
    """x0, x1, ... as real sympy symbols (real so Abs/Max/sign simplify sensibly)."""
    return [sp.Symbol(f"x{i}", real=True) for i in range(n)]


def constant_symbols(n: int) -> list[sp.Symbol]:
    """C0, C1, ... placeholders of the constant vector."""
    return [sp.Symbol(f"C{i}", real=True) for i in range(n)]
