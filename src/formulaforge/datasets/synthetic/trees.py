"""Uniform random expression trees, after Lample & Charton (2019), "Deep Learning for
Symbolic Mathematics", appendix C.

Sampling operators and leaves naively (grow a random node, recurse) favours shallow,
left-leaning trees. Lample & Charton count the unary-binary trees with ``n`` internal
nodes exactly and sample positions so that every tree *shape* with ``n`` operators is
equally likely. ``D(e, n)`` is the number of ways to complete a partial tree that has
``e`` empty nodes with ``n`` operators still to place::

    D(0, n) = 0,  D(e, 0) = 1,
    D(e, n) = D(e-1, n) + p1 * D(e, n-1) + p2 * D(e+1, n-1)

with ``p1``/``p2`` the number of unary/binary operators. No library offers this sampler
(sympy has none), hence our own, ~60 lines. Operators are then drawn within their arity
by configurable weights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

import sympy

X = sympy.Symbol("x")

UNARY = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "atan": sympy.atan,
    "pow2": lambda a: a**2,
    "pow3": lambda a: a**3,
    "neg": lambda a: -a,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@dataclass(frozen=True)
class TreeConfig:
    """What random expressions look like. Weights of 0 switch an operator off."""

    unary_weights: dict[str, float] = field(default_factory=lambda: {
        "exp": 1.0, "log": 1.0, "sqrt": 1.0, "sin": 1.0, "cos": 1.0, "tan": 0.5, "atan": 0.3,
        "pow2": 1.0, "pow3": 0.5, "neg": 0.5})
    binary_weights: dict[str, float] = field(default_factory=lambda: {
        "add": 2.0, "sub": 1.0, "mul": 2.0, "div": 1.0})
    min_ops: int = 1
    max_ops: int = 5
    leaf_variable_prob: float = 0.55
    int_range: int = 5
    """Integer leaves are drawn from [-int_range, int_range] without 0."""

    def ops(self) -> tuple[list[str], list[float], list[str], list[float]]:
        un = [(k, w) for k, w in self.unary_weights.items() if w > 0]
        bi = [(k, w) for k, w in self.binary_weights.items() if w > 0]
        for name, _ in un:
            if name not in UNARY:
                raise ValueError(f"unknown unary operator {name!r}; known: {sorted(UNARY)}")
        for name, _ in bi:
            if name not in BINARY:
                raise ValueError(f"unknown binary operator {name!r}; known: {sorted(BINARY)}")
        if not bi:
            raise ValueError("at least one binary operator needs a positive weight")
        return [k for k, _ in un], [w for _, w in un], [k for k, _ in bi], [w for _, w in bi]


@lru_cache(maxsize=None)
def count_trees(e: int, n: int, p1: int, p2: int) -> int:
    """``D(e, n)``: completions of a partial tree with ``e`` empty nodes and ``n`` operators left."""
    if e == 0:
        return 0
    if n == 0:
        return 1
    return (count_trees(e - 1, n, p1, p2) + p1 * count_trees(e, n - 1, p1, p2)
            + p2 * count_trees(e + 1, n - 1, p1, p2))


def sample_prefix(n_ops: int, rng: random.Random, config: TreeConfig) -> list[str]:
    """A uniformly random tree shape with ``n_ops`` operators, as prefix tokens.

    Leaves are the token ``"<leaf>"``; the caller fills them. Empty nodes are handled in
    prefix order, so emitting the ``k`` skipped leaves and then the operator keeps the
    token list a valid prefix expression.
    """
    un_names, un_w, bi_names, bi_w = config.ops()
    p1, p2 = len(un_names), len(bi_names)
    tokens: list[str] = []
    e, n = 1, n_ops
    while n > 0:
        total = count_trees(e, n, p1, p2)
        choices: list[tuple[int, int]] = []
        weights: list[int] = []
        for k in range(e):
            if p1:
                choices.append((k, 1))
                weights.append(p1 * count_trees(e - k, n - 1, p1, p2))
            choices.append((k, 2))
            weights.append(p2 * count_trees(e - k + 1, n - 1, p1, p2))
        assert sum(weights) == total, "tree counting recurrence is inconsistent"
        # Exact integer sampling (weights can exceed float range for big trees).
        r = rng.randrange(total)
        for (k, arity), w in zip(choices, weights):
            if r < w:
                break
            r -= w
        tokens.extend(["<leaf>"] * k)
        tokens.append(rng.choices(un_names, un_w)[0] if arity == 1 else rng.choices(bi_names, bi_w)[0])
        e = e - k - 1 + arity
        n -= 1
    tokens.extend(["<leaf>"] * e)
    return tokens


def _leaf(rng: random.Random, config: TreeConfig, variable: sympy.Symbol) -> sympy.Expr:
    if rng.random() < config.leaf_variable_prob:
        return variable
    value = rng.randint(1, config.int_range) * rng.choice((-1, 1))
    return sympy.Integer(value)


def prefix_to_sympy(tokens: list[str], rng: random.Random, config: TreeConfig,
                    variable: sympy.Symbol = X) -> sympy.Expr:
    """Build the sympy expression (sympy's automatic simplification applies)."""
    pos = 0

    def build() -> sympy.Expr:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "<leaf>":
            return _leaf(rng, config, variable)
        if tok in UNARY:
            return UNARY[tok](build())
        left = build()
        right = build()
        return BINARY[tok](left, right)

    expr = build()
    if pos != len(tokens):
        raise ValueError("prefix sequence has trailing tokens")
    return expr


def random_expression(rng: random.Random, config: TreeConfig, variable: sympy.Symbol = X,
                      n_ops: int | None = None) -> tuple[sympy.Expr, int]:
    """A random expression in ``variable`` and the operator count it was sampled with."""
    n = rng.randint(config.min_ops, config.max_ops) if n_ops is None else n_ops
    tokens = sample_prefix(n, rng, config)
    return prefix_to_sympy(tokens, rng, config, variable), n
