"""Operation trees <-> sympy: formula strings (C_i placeholders), LaTeX, dedup keys, encoding.

Every sympy call that can blow up (``simplify``, parsing) runs under
:func:`formulaforge.utils.timeout.time_limit`; past the limit the unsimplified
expression is used and the result says so (``simplified=False``).
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from formulaforge.datasets.optrees.ots import encode
from formulaforge.datasets.optrees.semantics import constant_symbols, sympy_impl, variable_symbols
from formulaforge.datasets.optrees.tree import Node, OpTree
from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, Vocabulary
from formulaforge.utils.timeout import CASTimeout, alarm_available, time_limit

DEFAULT_TIMEOUT_S = 2.0


def to_sympy(tree: OpTree, constants: Sequence[Any] | None = None) -> sp.Expr:
    """The tree as a sympy expression; constants are C0, C1, ... unless values are given."""
    n_vars = max(tree.vocab.n_variables, 1)
    xs = variable_symbols(n_vars)
    cs: list[Any] = list(constant_symbols(tree.n_constants)) if constants is None else [
        sp.Float(float(c)) if not isinstance(c, sp.Basic) else c for c in constants]
    if len(cs) != tree.n_constants:
        raise ValueError(f"tree needs {tree.n_constants} constants, got {len(cs)}")
    vocab = tree.vocab
    values: dict[int, Any] = {}
    for step in tree.compile():
        spec = vocab[step.token]
        if spec.variable is not None:
            values[step.index] = xs[spec.variable]
            continue
        children = [values.pop(i) for i in step.children]
        values[step.index] = sympy_impl(spec.name)(children, cs[step.const_offset: step.const_offset + spec.n_consts])
    return values[0]


@dataclass(frozen=True)
class FormulaStrings:
    """The formula of a skeleton: sympy string, LaTeX, and whether simplification finished."""

    sympy: str
    latex: str
    simplified: bool


@contextlib.contextmanager
def cpu_time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CASTimeout` after ``seconds`` of *CPU time* of this process (main thread only).

    Why not only :func:`time_limit`: a wall-clock limit makes the dataset depend on how busy
    the machine is (the same skeleton simplifies on an idle machine and times out on a
    loaded one), which breaks seeded reproducibility. CPU time is nearly load-independent.
    Callers still wrap it in a wall-clock :func:`time_limit` as the hard guarantee.
    """
    if seconds is None or seconds <= 0 or not alarm_available() or not hasattr(signal, "ITIMER_VIRTUAL"):
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise CASTimeout(f"computation exceeded {seconds:g} s of CPU time")

    previous = signal.signal(signal.SIGVTALRM, _raise)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


SIMPLIFY_MODES = ("full", "light", "none")


def _light(expr: sp.Expr) -> sp.Expr:
    """Cheap canonicalization (milliseconds): common factors pulled out, powers merged."""
    return sp.powsimp(sp.factor_terms(expr))


def simplify(expr: sp.Expr, timeout: float = DEFAULT_TIMEOUT_S, mode: str = "full") -> tuple[sp.Expr, bool]:
    """Simplify under a CPU-time limit (and a wall-clock limit of 10x that as a hard stop).

    ``mode``: "full" = ``sympy.simplify``; "light" = :func:`_light`; "none". The flag says
    whether the requested simplification finished; when "full" runs out of time the light
    form comes back (flag ``False``), when "light" does, the input.
    """
    if mode not in SIMPLIFY_MODES:
        raise ValueError(f"simplify mode must be one of {SIMPLIFY_MODES}, got {mode!r}")
    if mode == "none":
        return expr, False
    fn = sp.simplify if mode == "full" else _light
    try:
        with time_limit(max(10 * timeout, 5.0)), cpu_time_limit(timeout):
            out = fn(expr)
    except (CASTimeout, RecursionError, MemoryError, ValueError, TypeError, ZeroDivisionError):
        if mode == "full":  # fall back to the cheap canonical form rather than the raw tree
            light, _ = simplify(expr, timeout, "light")
            return light, False
        return expr, False
    # sign()/Abs() rules sometimes yield Piecewise/zoo case splits that are less readable
    # and no more correct than the input: keep the input then.
    if out.has(sp.Piecewise, sp.zoo, sp.nan) and not expr.has(sp.Piecewise, sp.zoo, sp.nan):
        return (simplify(expr, timeout, "light")[0] if mode == "full" else expr), False
    return out, True


def formula_strings(tree: OpTree, *, simplify_expr: bool = True, timeout: float = DEFAULT_TIMEOUT_S,
                    mode: str = "full") -> FormulaStrings:
    """Skeleton formula with C_i placeholders, e.g. ``C0*(x0 + x1)**2 + C1``."""
    expr = to_sympy(tree)
    done = False
    if simplify_expr:
        expr, done = simplify(expr, timeout, mode)
    return FormulaStrings(sp.sstr(expr), _latex(expr, timeout), done)


def _latex(expr: sp.Expr, timeout: float) -> str:
    try:
        with time_limit(timeout):
            return sp.latex(expr)
    except (CASTimeout, RecursionError):
        return ""


def formula_with_values(tree: OpTree, constants: Sequence[float], digits: int = 4) -> str:
    """Formula with the numeric constants substituted (rounded), without simplification."""
    expr = to_sympy(tree, [round(float(c), digits) for c in constants])
    return sp.sstr(expr)


_CONST_RE = re.compile(r"\bC(\d+)\b")


def canonical_key(formula: str) -> str:
    """A dedup key: constants renamed in order of first appearance (``C5*x0 + C3`` ~ ``C0*x0 + C1``).

    Two skeletons whose simplified formulas differ only in constant numbering describe the
    same family of functions.
    """
    key = formula
    for _ in range(2):  # renaming can change sympy's term order; one more pass settles most cases
        order: dict[str, str] = {}
        for m in _CONST_RE.finditer(key):
            order.setdefault(m.group(1), str(len(order)))
        key = _CONST_RE.sub(lambda m: f"K{order[m.group(1)]}", key)
        try:
            with time_limit(DEFAULT_TIMEOUT_S):
                symbols = {f"K{i}": sp.Symbol(f"C{i}", real=True) for i in range(len(order))}
                symbols.update({f"x{i}": s for i, s in enumerate(variable_symbols(8))})
                key = sp.sstr(sp.sympify(key, locals=symbols))
        except Exception:  # noqa: BLE001 - a key that cannot be re-parsed is still a valid key
            key = key.replace("K", "C")
            break
    return key


# ---------------------------------------------------------------------------------------
# sympy -> operation tree (``formulaforge trees encode``)


class NotRepresentable(ValueError):
    """The formula uses something the vocabulary cannot express."""


@dataclass
class EncodedFormula:
    """An OTS for a formula, with the value (a sympy expression) of each constant slot."""

    tree: OpTree
    ots: list[int]
    constants: list[sp.Expr]


_MAX_FORMULA_CHARS = 2000
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_+\-*/^().,\s]*$")


def parse_formula(text: str, n_variables: int = 2, timeout: float = DEFAULT_TIMEOUT_S) -> sp.Expr:
    """Parse a user formula over x0, x1, ... and C0, C1, ... (``^`` means power)."""
    if len(text) > _MAX_FORMULA_CHARS:
        raise ValueError(f"formula longer than {_MAX_FORMULA_CHARS} characters")
    if not _SAFE_TEXT.match(text) or "__" in text:
        raise ValueError(f"formula contains characters that are not allowed: {text!r}")
    from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

    names: dict[str, Any] = {f"x{i}": s for i, s in enumerate(variable_symbols(n_variables))}
    names.update({f"C{i}": s for i, s in enumerate(constant_symbols(64))})
    names.update({"relu": lambda a: sp.Max(0, a), "cbrt": sp.cbrt, "arctan": sp.atan, "ln": sp.log})
    try:
        with time_limit(timeout):
            expr = parse_expr(text, local_dict=names, transformations=standard_transformations + (convert_xor,))
    except CASTimeout:
        raise ValueError("parsing the formula took too long") from None
    except Exception as exc:  # noqa: BLE001 - parse errors come in many types
        raise ValueError(f"cannot parse formula {text!r}: {exc}") from None
    unknown = {s.name for s in expr.free_symbols} - set(names)
    if unknown:
        raise ValueError(f"unknown symbols {sorted(unknown)}; use x0, x1, ... and C0, C1, ...")
    return expr


def encode_formula(expr: sp.Expr, vocab: Vocabulary = DEFAULT_VOCAB) -> EncodedFormula:
    """An operation tree (and OTS) for ``expr``, whose constants reproduce ``expr``.

    The outer affine part becomes the root (C0 * f + C1); every sub-expression without a
    variable becomes one constant leaf. ``sqrt``/``log``/powers map to the protected
    operators, so the result equals ``expr`` wherever the two definitions agree (for
    instance for positive arguments of sqrt and log).
    """
    xs = set(variable_symbols(max(vocab.n_variables, 1)))
    expr = expr.subs({s: sp.Symbol(s.name, real=True) for s in expr.free_symbols if not s.is_real})
    if not (expr.free_symbols & xs):
        raise NotRepresentable("the formula has no variable x0, x1, ...; a skeleton needs at least one")
    offset, rest = expr.as_independent(*xs, as_Add=True)
    scale, body = rest.as_independent(*xs, as_Add=False)
    builder = _Builder(vocab, xs)
    body_node = builder.convert(body)
    tree = OpTree.from_body(body_node, vocab)
    builder.consts[id(tree.root)] = [scale, offset]
    constants: list[sp.Expr] = []
    for node in tree.bfs():
        constants.extend(builder.consts.get(id(node), []))
    if len(constants) != tree.n_constants:  # pragma: no cover - internal consistency
        raise RuntimeError("constant bookkeeping mismatch")
    return EncodedFormula(tree, encode(tree), constants)


class _Builder:
    def __init__(self, vocab: Vocabulary, xs: set[sp.Symbol]) -> None:
        self.vocab = vocab
        self.xs = xs
        self.consts: dict[int, list[sp.Expr]] = {}

    def node(self, name: str, children: Sequence[Node] = (), consts: Sequence[Any] = ()) -> Node:
        if name not in self.vocab:
            raise NotRepresentable(f"operator {name!r} is not in vocabulary {self.vocab.version}")
        n = Node(self.vocab.token(name), list(children))
        if consts:
            self.consts[id(n)] = [sp.sympify(c) for c in consts]
        return n

    def const(self, value: Any) -> Node:
        return self.node("const", consts=[value])

    def is_const(self, e: sp.Expr) -> bool:
        return not (e.free_symbols & self.xs)

    def convert(self, e: sp.Expr) -> Node:
        if self.is_const(e):
            return self.const(e)
        if isinstance(e, sp.Symbol):
            return self.node(e.name)
        if isinstance(e, sp.Add):
            return self._add(e)
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e.base, e.exp)
        unary = {sp.sin: "sin", sp.tan: "tan", sp.atan: "atan", sp.tanh: "tanh", sp.exp: "exp", sp.Abs: "abs"}
        for cls, name in unary.items():
            if isinstance(e, cls):
                return self.node(name, [self.convert(e.args[0])])
        if isinstance(e, sp.log):
            if len(e.args) != 1:
                raise NotRepresentable("log with a base is not supported; write log(x)/log(b)")
            return self.node("log", [self.convert(e.args[0])])
        if isinstance(e, sp.cos):  # cos(a) = sin(a + pi/2)
            return self.node("sin", [self.node("add", [self.convert(e.args[0]), self.const(sp.pi / 2)])])
        if isinstance(e, sp.Max) and len(e.args) == 2 and 0 in e.args:
            other = e.args[0] if e.args[1] == 0 else e.args[1]
            return self.node("relu", [self.convert(other)])
        raise NotRepresentable(f"{type(e).__name__} ({e}) cannot be written with vocabulary {self.vocab.version}")

    def _add(self, e: sp.Add) -> Node:
        const_part, var_part = e.as_independent(*self.xs, as_Add=True)
        pos, neg = [], []
        for term in sp.Add.make_args(var_part):
            (neg if term.could_extract_minus_sign() else pos).append(term)
        if pos:
            acc = self.convert(pos[0])
            pos = pos[1:]
        else:  # all terms negative: -t as linear(t) with scale -1, offset 0
            acc = self.node("linear", [self.convert(-neg[0])], consts=[-1, 0])
            neg = neg[1:]
        for term in pos:
            acc = self.node("add", [acc, self.convert(term)])
        for term in neg:
            acc = self.node("sub", [acc, self.convert(-term)])
        if const_part != 0:
            acc = self.node("add", [acc, self.const(const_part)])
        return acc

    def _mul(self, e: sp.Mul) -> Node:
        coeff, var_part = e.as_independent(*self.xs, as_Add=False)
        num: list[sp.Expr] = []
        den: list[sp.Expr] = []
        for factor in sp.Mul.make_args(var_part):
            if isinstance(factor, sp.Pow) and factor.exp.is_number and factor.exp.is_negative:
                den.append(factor.base ** (-factor.exp))
            else:
                num.append(factor)
        if not num:
            acc = self.node("inv", [self._product(den)], consts=[coeff])
            return acc
        acc = self._product(num)
        if coeff != 1:
            acc = self.node("mul", [self.const(coeff), acc])
        if den:
            acc = self.node("div", [acc, self._product(den)])
        return acc

    def _product(self, factors: Sequence[sp.Expr]) -> Node:
        acc = self.convert(factors[0])
        for f in factors[1:]:
            acc = self.node("mul", [acc, self.convert(f)])
        return acc

    def _pow(self, base: sp.Expr, ex: sp.Expr) -> Node:
        if self.is_const(base):
            if base == sp.E:
                return self.node("exp", [self.convert(ex)])
            # b**g = exp(log(b) * g)
            return self.node("exp", [self.node("mul", [self.const(sp.log(base)), self.convert(ex)])])
        if not self.is_const(ex):
            raise NotRepresentable(f"power with a variable exponent ({base}**{ex}) is not in the vocabulary")
        if ex == 2:
            return self.node("square", [self.convert(base)])
        if ex == sp.Rational(1, 2):
            return self.node("sqrt", [self.convert(base)])
        if ex == sp.Rational(1, 3):
            return self.node("cbrt", [self.convert(base)])
        if ex == -1:
            return self.node("inv", [self.convert(base)], consts=[1])
        if ex.is_number and ex.is_negative:
            return self.node("inv", [self._pow(base, -ex)], consts=[1])
        if ex.is_integer and ex.is_odd and ex > 1:  # |b|^n loses the sign for odd n
            return self.node("mul", [self.node("pow", [self.convert(base)], consts=[ex - 1]), self.convert(base)])
        return self.node("pow", [self.convert(base)], consts=[ex])
